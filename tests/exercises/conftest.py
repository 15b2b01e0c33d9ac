"""Hidden tests get `student` (the file under test; the reference when run plainly), `reference`, and
`reference_of("exercise_id")` (another exercise's reference solution, from the same chapter)."""

from arena_cli.testing import reference, reference_of, student  # noqa: F401  (pytest fixtures)
