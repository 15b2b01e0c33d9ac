"""Predict: h patched in at the last block
=======================================

Difficulty: 2/5    Importance: 4/5    Time: ~5 minutes

A question: answer it before you run this section's result. Write your answer in `ANSWER` below and
run this exercise; the check tells you whether it holds, and why not if it doesn't.

The section's result takes h from each block in turn (the mean over ICL prompts of the task of that
block's output at the last position) and patches it into zero-shot prompts ("Q: boy\nA:", "Q:
tree\nA:", ...) at the same block and position, as in exercise 05, then reads the prediction at the
last position.

Predict what happens for the LAST block (block n_layers - 1): h taken from the ICL prompts' last
block, patched into the output of the zero-shot prompts' last block.

    A. The model answers every query right, better than at any earlier block: the last block's h is
    the
       most processed form of the task, and nothing after it can get in its way.
    B. The model predicts what it predicted with no patch: the last block is too late for h to act
    on,
       since no block is left to read it.
    C. The model predicts the same token for every query.
"""

ANSWER = None  # one of "A", "B", "C"
