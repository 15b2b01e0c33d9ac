from arena_cli.testing import reference, student  # noqa: F401
