"""Say hello."""


def hello(name: str) -> str:
    """Return 'hello, NAME'."""
    # SOLUTION
    return f"hello, {name}"
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError("greet name")
    # END EXERCISE
