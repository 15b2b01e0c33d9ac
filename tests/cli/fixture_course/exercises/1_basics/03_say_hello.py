"""Say hello."""


def hello(name: str) -> str:
    """Return 'hello, NAME'."""
    raise NotImplementedError("greet name")
