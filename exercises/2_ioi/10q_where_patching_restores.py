"""Predict: where residual-stream patching restores the answer
===========================================================

Difficulty: 2/5    Importance: 4/5    Time: ~6 minutes

A question: answer it before you run this section's result. Write your answer in `ANSWER` below and
run this exercise; the check tells you whether it holds, and why not if it doesn't.

The section's first plot (results/ioi/patch_resid.png) patches the residual stream from the clean
run into the corrupted run, one (layer, position) at a time, at resid_pre (the input of each layer),
and scores each patch with your IOI metric (0 = corrupted, 1 = clean). Its prompts all come from one
BABA template, so a column is one role in every prompt:

    clean:      When Mary and John went to the store, John gave a drink to      -> " Mary"
    corrupted:  When Mary and John went to the store, Mary gave a drink to      -> " John"
                     S1       IO                        S2                 end

The corruption replaces S2 by the other name and nothing else.

Before you run it: what will the map show?

    A. High values in the IO and S1 columns at every layer, since that is where the two names are;
    the
       S2 and end columns stay near 0.
    B. The end column near 1 at every layer, since the answer is predicted there; the other columns
    near 0. C. The S2 column near 1 in the first layers, the end column near 1 in the last ones
    (with a handover
       in between); every column before S2 exactly 0 at every layer.
    D. The S2 column near 1 at every layer, the last one included; the end column near 0 throughout,
       since patching the end position cannot change which name was repeated.
"""

ANSWER = None  # one of "A", "B", "C", "D"
