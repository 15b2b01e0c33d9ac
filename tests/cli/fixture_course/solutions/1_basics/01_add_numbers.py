"""Add two numbers."""


def add(a: int, b: int) -> int:
    """Return a + b."""
    # SOLUTION
    return a + b
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError("return the sum of a and b")
    # END EXERCISE
