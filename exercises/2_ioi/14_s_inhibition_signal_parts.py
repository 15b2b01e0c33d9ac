"""The S-inhibition heads' signal: position and token
==================================================

Difficulty: 2/5    Importance: 3/5    Time: ~10 minutes

(What the exercise teaches: the idea, the shapes, the library facts a student can't guess. The code goes
in the hints.)
"""


def s_inhibition_signal_parts(x):
    """(What it returns.)"""
    raise NotImplementedError("(what to do, in one line)")
