"""What the previous-token heads do for the induction heads
========================================================

Difficulty: 2/5    Importance: 3/5    Time: ~10 minutes

(What the exercise teaches: the idea, the shapes, the library facts a student can't guess. The code goes
in the hints.)
"""


def induction_without_previous_token(x):
    """(What it returns.)"""
    # SOLUTION
    raise NotImplementedError("write the reference solution of induction_without_previous_token")
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError("(what to do, in one line)")
    # END EXERCISE
