"""Say hello."""


def hello(name: str) -> str:
    """Return 'hello, NAME'."""
    raise NotImplementedError("greet name")


if __name__ == "__main__":
    from arena_course.loading import load_sibling

    add = load_sibling(__file__, "add_numbers").add
    print(hello("arena"), "and", add(2, 3))
