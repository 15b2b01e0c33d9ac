"""Where a course's files are: the one place that knows the layout. Torch-free; needs no catalogue.

    exercises/<chapter>/chapter.toml              the chapter's manifest (see course.py)
    exercises/<chapter>/go_further.md             open-ended replications for after the chapter (further.py)
    exercises/<chapter>/<NN>_<id>.py              the student's file (generated from the master); a
                                                  question's is <NN>q_<id>.py
    solutions/<chapter>/<NN>_<id>.py              the master: reference solution with markers
    hints/<chapter>/<NN>_<id>.md                  "## Hint 1", "## Hint 2", ...
    tests/exercises/<chapter>/test_<NN>_<id>.py   the hidden test (tests/exercises/conftest.py beside)
    results/                                      what sections' results write
    .arena/                                       what arena keeps on this machine only (backups, ...)

The catalogue (`course.py`) places each exercise with `Place`; code that is handed one file (a hidden
test, the test child's plugin, a result loading an earlier exercise) finds the others from it here.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

STUDENT_DIR = "exercises"
MASTER_DIR = "solutions"
HINT_DIR = "hints"
TEST_DIR = ("tests", "exercises")
RESULTS_DIR = "results"
MANIFEST = "chapter.toml"
GO_FURTHER = "go_further.md"
LOCAL_DIR = ".arena"
# Top-level folders whose paths arena prints (and links).
COURSE_FOLDERS = (STUDENT_DIR, MASTER_DIR, RESULTS_DIR, HINT_DIR, TEST_DIR[0])


def stem(label: str, exercise_id: str) -> str:
    """An exercise's file stem: its label (two digits: its place among the chapter's code exercises; a
    question after code exercise 05 is `05q`, so the file tree shows it right after), then its id."""
    return f"{label}_{exercise_id}"


@dataclass(frozen=True)
class Place:
    """One exercise's files: the course root, its chapter folder and its file stem (`NN_id`)."""

    root: Path
    chapter_dir: str
    stem: str

    @property
    def student_file(self) -> Path:
        return self.root / STUDENT_DIR / self.chapter_dir / f"{self.stem}.py"

    @property
    def master(self) -> Path:
        return self.root / MASTER_DIR / self.chapter_dir / f"{self.stem}.py"

    @property
    def hint_file(self) -> Path:
        return self.root / HINT_DIR / self.chapter_dir / f"{self.stem}.md"

    @property
    def test_file(self) -> Path:
        return tests_dir(self.root) / self.chapter_dir / f"test_{self.stem}.py"

    @classmethod
    def of_test(cls, test_file: Path) -> Place:
        """The exercise whose hidden test is `test_file` (tests/exercises/<chapter>/test_<stem>.py)."""
        return cls(test_file.parents[3], test_file.parent.name, test_file.stem.removeprefix("test_"))


def go_further_file(root: Path, chapter_dir: str) -> Path:
    """A chapter's open-ended replications (see further.py); a chapter may have none."""
    return root / STUDENT_DIR / chapter_dir / GO_FURTHER


def is_student_file(rel: str) -> bool:
    """Whether a path relative to the root (with `/`) is a student's exercise file,
    `exercises/<chapter>/<NN>_<id>.py` (not `<NN>_<id>.new.py` nor anything else in a chapter folder)."""
    return re.fullmatch(rf"{STUDENT_DIR}/[^/]+/\d\d_[a-z][a-z0-9_]*\.py", rel) is not None


def manifests(root: Path) -> list[Path]:
    """Every chapter's manifest, `exercises/<chapter>/chapter.toml` (in no particular order)."""
    return list((root / STUDENT_DIR).glob(f"*/{MANIFEST}"))


def manifest_of(root: Path, chapter_dir: str) -> Path:
    return root / STUDENT_DIR / chapter_dir / MANIFEST


def tests_dir(root: Path) -> Path:
    """The hidden tests' folder (its conftest.py is shared by every chapter's tests)."""
    return root.joinpath(*TEST_DIR)


def masters_dir(root: Path) -> Path:
    return root / MASTER_DIR


def results_dir(root: Path) -> Path:
    return root / RESULTS_DIR


def local_dir(root: Path) -> Path:
    """`.arena/`: what arena keeps on this machine only (never committed)."""
    return root / LOCAL_DIR


def chapter_folders(root: Path) -> tuple[tuple[Path, str], ...]:
    """(folder, pattern of an exercise's file in one of its chapter folders) for each kind of file."""
    return (
        (root / STUDENT_DIR, "*.py"),
        (root / MASTER_DIR, "*.py"),
        (root / HINT_DIR, "*.md"),
        (tests_dir(root), "test_*.py"),
    )


def is_course_root(folder: Path) -> bool:
    return (folder / STUDENT_DIR).is_dir() and (folder / MASTER_DIR).is_dir()


def chapter_file(folder: Path, exercise_id: str) -> Path | None:
    """The file `<NN>_<exercise_id>.py` (or `<NN>q_...`, a question) in a chapter folder (of students'
    files or of masters)."""
    matches = sorted(folder.glob(f"[0-9][0-9]_{exercise_id}.py")) + sorted(folder.glob(f"[0-9][0-9]q_{exercise_id}.py"))
    return matches[0] if matches else None


def import_once(path: Path, name: str, load: Callable[[Path, str], ModuleType] | None = None) -> ModuleType:
    """`path` imported as the module `name` once per process (later calls return that module), with
    `load(path, name)` when given, else plainly (its exceptions are the caller's)."""
    if name in sys.modules:
        return sys.modules[name]
    if load is not None:
        return load(path, name)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
