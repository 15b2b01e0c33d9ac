"""Hidden tests get `student` (the file under test; the reference when run plainly) and `reference`.

The course root goes on sys.path first, so that the solutions, the student files (wherever they are:
`arena dev check` runs fresh copies from a temp folder) and the tests can `import bench_models`. pytest
imports this conftest before any test module or fixture loads an exercise file.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from arena_cli.testing import reference, student  # noqa: E402,F401  (pytest fixtures)
