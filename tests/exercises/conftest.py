"""Hidden tests get `student` (the file under test; the reference when run plainly) and `reference`."""

from arena_cli.testing import reference, student  # noqa: F401  (pytest fixtures)
