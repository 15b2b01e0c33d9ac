"""Load a sibling exercise file, so a section's result runs the student's own code from earlier
exercises (or the reference's, when run from `solutions/`). Where the file is, and how it is imported
once, is arena's layout (`arena_cli.layout`), as for the hidden tests' `load_reference`."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from arena_cli.layout import chapter_file, import_once


def load_sibling(here: str | Path, exercise_id: str) -> ModuleType:
    """The module `<NN>_<exercise_id>.py` in the same folder as `here` (pass `__file__`)."""
    folder = Path(here).resolve().parent
    path = chapter_file(folder, exercise_id)
    if path is None:
        raise FileNotFoundError(f"no exercise file for {exercise_id!r} in {folder}")
    return import_once(path, f"arena_sibling_{folder.name}_{path.stem}")
