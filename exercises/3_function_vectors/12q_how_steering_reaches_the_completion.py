"""Interpret: how a vector at the front of the prompt changes the ending
=====================================================================

Difficulty: 2/5    Importance: 4/5    Time: ~5 minutes

A question: answer it after exercise 12, before you run this section's result. Write your answer in
`ANSWER` below and run this exercise; the check tells you whether it holds, and why not if it
doesn't.

Activation addition edits the residual stream entering block `layer` at the FIRST positions of the
prompt only (as many as the steering prompt pair has tokens), and only in the prompt's forward pass:
the tokens generated afterwards are never edited. Yet the completion, predicted at later positions,
changes (in Turner et al.'s example, "I hate you because" goes on kindly).

How does the edit at the first positions reach the predictions made at later positions?

    A. Through the residual connections: each block adds its output to the residual stream, which
       carries the edited vector along, from the first positions to the last.
    B. Through attention in block `layer` and the blocks after it: heads at later positions read the
       edited first positions, and tokens generated later read them from the key/value cache.
    C. Through the MLPs of the blocks after `layer`, which run on the edited first positions and
    write
       the result into the logits that the completion is sampled from.
"""

ANSWER = None  # one of "A", "B", "C"
