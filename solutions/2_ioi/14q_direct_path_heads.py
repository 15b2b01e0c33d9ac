"""Predict: which heads carry the answer straight to the logits?
=============================================================

Difficulty: 3/5    Importance: 4/5    Time: ~8 minutes

A question: answer it before you run this section's result. Write your answer in `ANSWER` below and
run this exercise; the check tells you whether it holds, and why not if it doesn't.

The section's first plot (results/ioi/path_patch_logits.png) path-patches every head to the logits:
the head's output comes from the ABC run (three different names), every other head is frozen at its
value on the IOI prompts, and only the head's direct path to the final residual stream changes. Each
cell is the IOI metric minus 1: 0 = no effect, -1 = as broken as the ABC run.

Here are eight heads of GPT-2 small's IOI circuit (Wang et al. 2022), described by what the paper
found they do on IOI prompts, not by their class names:

    (9, 9), (9, 6), (10, 0)   at the end position: attend to the IO name; their OV circuit copies
    the
                              name they attend to into the output
    (10, 7), (11, 10)         at the end position: attend to the IO name too; their OV circuit
                              writes MINUS the name they attend to
    (7, 9), (8, 6)            at the end position: attend to S2; what they write changes where the
                              heads of layers 9-10 attend (it enters their queries)
    (5, 5)                    at S2: attends to the token after S1 (an induction head)

On GPT-2 small, which of these eight heads will the sender -> logits map show well below 0 (patching
their direct path from the ABC run breaks the model's preference for IO)? Answer with a set of
(layer, head) tuples, e.g. {(1, 2), (3, 4)}.
"""

# SOLUTION
ANSWER = {(9, 9), (9, 6), (10, 0)}
# END SOLUTION
# EXERCISE
# ANSWER = None  # a set of (layer, head) tuples
# END EXERCISE
