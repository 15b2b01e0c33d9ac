"""What hidden tests import: fixtures that load the student's module and the reference, and checks that
fail with a structured, student-readable mismatch.

A hidden test `tests/exercises/<chapter>/test_<stem>.py` gets two fixtures:

- `student`: the module under test. The runner names the student's file (`protocol.TARGET_ENV`);
  without it (plain `pytest`, as in CI) it is the reference solution, so the suite is green on a fresh
  clone.
- `reference`: `solutions/<chapter>/<stem>.py`, always.

Checks raise `CheckFailed`, an AssertionError that carries a `Mismatch` and a diagnosis; the pytest
plugin turns it into the verdict's structured failure.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import inspect
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from arena_cli import protocol
from arena_cli.answers import check_answer, check_number, check_set  # noqa: F401  (for hidden tests)
from arena_cli.compare import CheckFailed, assert_close  # noqa: F401  (for hidden tests)
from arena_cli.layout import MASTER_DIR, Place, chapter_file, import_once


class StudentCodeError(Exception):
    """The student's file could not be loaded (syntax error, exception or exit at import)."""

    def __init__(self, message: str, *, location: str = "", student_traceback: str = ""):
        super().__init__(message)
        self.location = location
        self.student_traceback = student_traceback


# --------------------------------------------------------------------------- loading modules


def reference_path(test_file: Path) -> Path:
    """solutions/<chapter>/<stem>.py for tests/exercises/<chapter>/test_<stem>.py."""
    return Place.of_test(test_file).master


def target_path(test_file: Path) -> Path:
    """The file under test: the one the runner names, else (plain pytest) the reference."""
    return Path(protocol.target_file() or reference_path(test_file))


@functools.lru_cache(maxsize=1024)
def real_path(path: str) -> str:
    """os.path.realpath, once per file (a failing check's traceback runs through dozens of torch frames)."""
    return os.path.realpath(path)


def frames_of(tb) -> list[traceback.FrameSummary]:
    """A traceback's frames, as `traceback.extract_tb` gives them (line and columns) but without reading
    their source: a frame's line is read when it is shown (most are torch's, and never are)."""
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        positions = next(itertools.islice(code.co_positions(), tb.tb_lasti // 2, None), (None, None, None, None))
        line, end_line, column, end_column = positions
        frames.append(traceback.FrameSummary(code.co_filename, line or tb.tb_lineno, code.co_name, lookup_line=False,
                                             end_lineno=end_line, colno=column, end_colno=end_column))
        tb = tb.tb_next
    return frames


def student_traceback(tb, student_file: str) -> str:
    """Format a traceback keeping only frames in the student's file, plus the frame that raised
    (unless arena itself raised it: its audit hook refusing a write is not the student's to read)."""
    frames = frames_of(tb)
    keep = [f for f in frames if real_path(f.filename) == real_path(student_file)]
    arena = os.path.dirname(real_path(__file__)) + os.sep
    if frames and (not keep or keep[-1] is not frames[-1]) and not real_path(frames[-1].filename).startswith(arena):
        keep.append(frames[-1])
    for frame in keep:
        frame.filename = display_path(frame.filename)
    return "".join(traceback.format_list(keep))


def display_path(path: str | Path) -> str:
    """Relative to the working directory (the course root in a run) when inside it: short, and
    clickable in VSCode's terminal."""
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel


def file_location(path: str | Path, line: int | None, column: int | None = None) -> str:
    """`path:line:column`, as VSCode's terminal and problem matcher read it: 1-based numbers, never None
    (an unknown line or column is the first)."""
    return f"{display_path(path)}:{line or 1}:{column or 1}"


def _syntax_error_place(e: SyntaxError, source: str) -> tuple[int | None, int | None]:
    """(line, column) of a syntax error; for a NUL byte, which Python reports without either, the byte's."""
    if e.lineno is None and "\0" in source:
        at = source.index("\0")
        return source.count("\n", 0, at) + 1, at - source.rfind("\n", 0, at)
    return e.lineno, e.offset


def load_module(path: Path, name: str) -> ModuleType:
    """Import a file as a fresh module, turning every way it can fail into a StudentCodeError. Its bytes
    are decoded as an import decodes them (a UTF-8 BOM or an encoding declaration is honoured)."""
    if path.is_dir() or not path.exists():
        raise StudentCodeError(f"{display_path(path)} is not a file (was it deleted or renamed?)")
    try:
        source = importlib.util.decode_source(path.read_bytes())
    except UnicodeDecodeError as e:
        encoding = "UTF-8" if e.encoding.startswith("utf-8") else e.encoding
        raise StudentCodeError(
            f"{path.name} is not valid {encoding} (byte {e.start}); save it as UTF-8"
        ) from None
    except SyntaxError as e:  # an encoding declaration Python doesn't know
        raise StudentCodeError(f"SyntaxError: {e.msg}", location=file_location(path, e.lineno, e.offset)) from None
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as e:
        line_no, column = _syntax_error_place(e, source)
        where = file_location(path, line_no, column)
        line = (e.text or "").rstrip("\n")
        detail = f"\n    {line}\n    {' ' * max((e.offset or 1) - 1, 0)}^" if line else ""
        raise StudentCodeError(f"SyntaxError: {e.msg}{detail}", location=where) from None
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except SystemExit as e:
        raise StudentCodeError(f"{path.name} called sys.exit({e.code!r}) while being imported") from None
    except KeyboardInterrupt:
        raise StudentCodeError(f"{path.name} raised KeyboardInterrupt while being imported") from None
    except BaseException as e:  # noqa: BLE001 - any failure of student code is reported, not raised
        tb = student_traceback(e.__traceback__, str(path))
        raise StudentCodeError(
            f"importing {path.name} raised {type(e).__name__}: {e}", student_traceback=tb
        ) from None
    return module


# Reading the reference solution from student code: recorded by an audit hook (see watch_solution_reads)
# so that a pass obtained by importing or reading solutions/ is reported instead of recorded.
solution_reads: list[str] = []


def watch_solution_reads(solutions_dir: Path) -> None:
    """Record every file under `solutions_dir` opened while the student's file is on the call stack
    (importing it, `open(...)`, `exec(open(...).read())`). The reference's own reads (loading it, or a
    library such as nnsight reading its source while it runs) are not the student's. Installed once
    per test process by the pytest plugin (audit hooks can't be removed)."""
    prefix = os.path.realpath(solutions_dir) + os.sep
    target = os.path.realpath(protocol.target_file() or "")  # when checking a solution, it is the target

    def hook(event: str, args: tuple) -> None:
        if event != "open" or not args or args[0] is None:
            return
        try:
            raw = os.fsdecode(args[0])
        except (TypeError, ValueError):
            return  # an open() of a file descriptor
        if MASTER_DIR not in raw and not os.path.islink(raw):
            return  # cheap: most opens (imports) are nowhere near solutions/
        path = os.path.realpath(raw)
        if not path.startswith(prefix) or path == target:
            return
        frame = sys._getframe(1)
        while frame is not None:
            if os.path.realpath(frame.f_code.co_filename) == target:
                solution_reads.append(path)
                return
            frame = frame.f_back

    sys.addaudithook(hook)


@pytest.fixture(scope="module")
def reference(request) -> ModuleType:
    path = reference_path(Path(request.path))
    return load_module(path, f"arena_reference_{path.stem}")


def load_reference(test_file: str | Path, exercise_id: str) -> ModuleType:
    """Another exercise's reference solution, from the chapter of `test_file` (a hidden test's
    `__file__`): for tests that need an earlier step's answer (a model class, a metric) without copying
    its code. Loaded once per process."""
    chapter = reference_path(Path(test_file)).parent
    path = chapter_file(chapter, exercise_id)
    if path is None:
        raise LookupError(f"no reference solution for exercise {exercise_id!r} in {display_path(chapter)}")
    return import_once(path, f"arena_reference_{path.stem}", load=load_module)


@pytest.fixture(scope="module")
def reference_of(request):
    """`reference_of("exercise_id")`: `load_reference` for the requesting test's chapter."""
    return lambda exercise_id: load_reference(request.path, exercise_id)


@pytest.fixture(scope="module")
def student(request) -> ModuleType:
    target = target_path(Path(request.path))
    return load_module(target, f"arena_student_{target.stem}")


# --------------------------------------------------------------------------- checks


def check(condition: bool, message: str, *, diagnosis: str = "") -> None:
    """A property check (for random outputs): fails with `message` and an optional diagnosis."""
    if not condition:
        raise CheckFailed(message, mismatch=None, diagnosis=diagnosis)


def seed(value: int = 0) -> None:
    """Seed torch and Python's random module so tests are reproducible."""
    import random

    import torch

    random.seed(value)
    torch.manual_seed(value)


def call_student(fn: Any, *args: Any, diagnosis: str = "", **kwargs: Any) -> Any:
    """Call the student's `fn`; an exception other than NotImplementedError becomes a failed check
    that names the student's line and carries `diagnosis` (e.g. what a size error usually means).
    `fn` may be a function, a method, or an nn.Module (its `forward` is the student's code)."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 - student code may raise anything
        code = getattr(inspect.unwrap(getattr(fn, "forward", fn)), "__code__", None)  # through decorators
        student_file = code.co_filename if code is not None else ""
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == student_file]
        where = place = ""
        if frames:
            where = f" at {display_path(student_file)}:{frames[-1].lineno or 1} (`{(frames[-1].line or '').strip()}`)"
            place = file_location(student_file, frames[-1].lineno, (frames[-1].colno or 0) + 1)
        shapes = ", ".join(str(tuple(a.shape)) for a in args if hasattr(a, "shape"))
        on = f" on input of shape {shapes}" if shapes else ""
        detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
        name = "forward" if hasattr(fn, "forward") else getattr(fn, "__name__", type(fn).__name__)
        raise CheckFailed(
            f"{name} raised {type(e).__name__}{where}{on}: {detail}", diagnosis=diagnosis, location=place
        ) from None
