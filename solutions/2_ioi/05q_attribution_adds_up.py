"""Predict: do the components' attributions add up?
================================================

Difficulty: 2/5    Importance: 4/5    Time: ~5 minutes

A question: answer it before you run this section's result. Write your answer in `ANSWER` below and
run this exercise; the check tells you whether it holds, and why not if it doesn't.

The section's result draws two panels (results/ioi/attribution_layers.png). On the left, the
accumulated residual stream read as the output: its last point is the direct attribution of the
final residual stream (`cache.accumulated_resid`, the last entry). On the right, one bar per
component (`cache.decompose_resid`: the embeddings, and every layer's attention output and MLP
output), each component's direct contribution to the logit difference, computed as in exercise 4:
centred, divided by the final LayerNorm's scale of that prompt (taken from the cache), projected on
the logit difference direction, averaged over prompts.

Before you look: how will the SUM of all the bars on the right compare with the LAST point of the
line on the left?

    A. It will be smaller: the final LayerNorm is non-linear, so pieces of the residual stream
    pushed
       through it separately lose part of what they do together.
    B. It will be larger: an early layer's bar also counts what it does through later layers (the
    heads
       that read it), so the same effect is counted more than once.
    C. It will be equal, up to floating-point error. D. They are not comparable: the bars are per
    component and the line is per layer, so their sum can be
       anything.
"""

# SOLUTION
ANSWER = "C"
# END SOLUTION
# EXERCISE
# ANSWER = None  # one of "A", "B", "C", "D"
# END EXERCISE
