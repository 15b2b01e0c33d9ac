"""Load a sibling exercise file, so a section's result runs the student's own code from earlier
exercises (or the reference's, when run from `solutions/`)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_sibling(here: str | Path, exercise_id: str) -> ModuleType:
    """The module `<NN>_<exercise_id>.py` in the same folder as `here` (pass `__file__`)."""
    folder = Path(here).resolve().parent
    matches = sorted(folder.glob(f"[0-9][0-9]_{exercise_id}.py"))
    if not matches:
        raise FileNotFoundError(f"no exercise file for {exercise_id!r} in {folder}")
    path = matches[0]
    name = f"arena_sibling_{folder.name}_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
