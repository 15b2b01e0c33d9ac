"""Patching by block: residual stream, attention and MLP outputs
=============================================================

Difficulty: 2/5    Importance: 3/5    Time: ~10 minutes

(What the exercise teaches: the idea, the shapes, the library facts a student can't guess. The code goes
in the hints.)
"""


def patch_blocks(x):
    """(What it returns.)"""
    raise NotImplementedError("(what to do, in one line)")
