"""Predict: a trace that rebinds instead of editing
================================================

Difficulty: 2/5    Importance: 4/5    Time: ~6 minutes

A question: answer it after exercise 03, before you run this section's result. Write your answer in
`ANSWER` below and run this exercise; the check tells you whether it holds, and why not if it
doesn't.

Suppose your `intervene_on_output` had been written like this:

    with model.trace(prompts, remote=remote):
        out = model.transformer.h[layer].mlp.output
        before = out[:, -1].save()                 # no .clone()
        out = out * scale                          # not an indexed assignment
        after = out[:, -1].save()
        logits = model.lm_head.output[:, -1].save()
    return before, after, logits

and the section's result ran it with `scale = 0` on each block in turn. The result prints a table
(the model's prediction and P(answer) on each prompt; then the same two columns "without MLP L",
from the `logits` of the block that matters most), and a line "The zeroed outputs' norms: ...", the
norm of `before` for each block.

What would you see?

    A. The norms all 0.0; the "without MLP" columns different from the clean ones.
    B. The norms the MLP outputs really have (not 0); the "without MLP" columns different from the
       clean ones.
    C. The norms the MLP outputs really have (not 0); the "without MLP" columns identical to the
    clean
       ones.
    D. The norms all 0.0; the "without MLP" columns identical to the clean ones.
"""

ANSWER = None  # one of "A", "B", "C", "D"
