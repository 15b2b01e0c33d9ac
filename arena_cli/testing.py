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

import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from arena_cli import protocol
from arena_cli.layout import MASTER_DIR, Place, chapter_file, import_once
from arena_cli.verdict import Mismatch


class CheckFailed(AssertionError):
    """A check failed; carries what differs and what the student probably did wrong."""

    def __init__(
        self, message: str, *, mismatch: Mismatch | dict[str, Any] | None = None, diagnosis: str = "", location: str = ""
    ):
        super().__init__(message)
        self.mismatch = Mismatch.from_dict(mismatch) if isinstance(mismatch, dict) else mismatch
        self.diagnosis = diagnosis
        self.location = location  # `path:line:col` in the student's file, when the check knows it


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


def student_traceback(tb, student_file: str) -> str:
    """Format a traceback keeping only frames in the student's file, plus the frame that raised
    (unless arena itself raised it: its audit hook refusing a write is not the student's to read)."""
    frames = traceback.extract_tb(tb)
    keep = [f for f in frames if os.path.realpath(f.filename) == os.path.realpath(student_file)]
    arena = os.path.dirname(os.path.realpath(__file__)) + os.sep
    if frames and (not keep or keep[-1] is not frames[-1]) and not os.path.realpath(frames[-1].filename).startswith(arena):
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


def _describe(value: Any) -> str:
    import torch

    if isinstance(value, torch.Tensor):
        return f"{tuple(value.shape)} {str(value.dtype).removeprefix('torch.')}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _as_tensor(value: Any):
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (int, float, bool)) or (
        isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value)
    ):
        return torch.tensor(value)
    return None


def _matches(actual, candidate, atol: float, rtol: float) -> bool:
    import torch

    candidate = _as_tensor(candidate)
    return (
        candidate is not None
        and actual.shape == candidate.shape
        and torch.allclose(actual.double(), candidate.double(), atol=atol, rtol=rtol, equal_nan=True)
    )


def _mistake(actual, mistakes: Mapping[str, Any] | None, atol: float, rtol: float) -> str:
    """The diagnosis of the first common mistake whose value (of any shape) `actual` matches, or ""."""
    for label, candidate in (mistakes or {}).items():
        if _matches(actual.detach().cpu(), candidate, atol, rtol):
            return label
    return ""


def _shape_diagnosis(actual_shape: tuple, expected_shape: tuple) -> str:
    """The likely cause of a shape mismatch, when the shapes say it; else a general pointer."""
    got, want = tuple(actual_shape), tuple(expected_shape)
    if sorted(got) == sorted(want):
        return "Same dimensions in a different order: check the order of your einsum / rearrange output."
    if want and len(got) == len(want) + 1 and got[:2] == (want[0], want[0]) and got[2:] == want[1:]:
        return (
            f"Your output is {got}: the batch dimension appears twice. Two index tensors of length "
            f"{want[0]} used in separate indexing steps (e.g. `x[:, pos][:, tok]`, or `x[:, pos, tok]` with a "
            "slice first) broadcast against each other into (batch, batch). Pick one element per prompt by "
            "indexing every per-prompt dimension at once, with the same `torch.arange(batch)` in the first."
        )
    if len(got) < len(want) and want[len(want) - len(got):] == got:
        lost = want[: len(want) - len(got)]
        return (
            f"Your output has fewer dimensions than expected: it is the expected shape without its leading "
            f"{lost}, which was summed, averaged or indexed away (`.sum(0)`, `[0]`). If the `[0]` was meant to "
            "take the first element of a tuple (a module's output), print the type of what you indexed: it "
            "may be a tensor already."
        )
    if len(got) < len(want):
        return "Your output has fewer dimensions than expected: did you sum or index away a dimension?"
    if len(got) > len(want):
        return "Your output has more dimensions than expected: did you forget to sum over one?"
    return ""


def assert_close(
    actual: Any,
    expected: Any,
    *,
    name: str = "output",
    atol: float = 1e-5,
    rtol: float = 1e-4,
    check_dtype: bool = True,
    mistakes: Mapping[str, Any] | None = None,
    diagnosis: str = "",
    decode: Callable[[int], str] | None = None,
) -> None:
    """Check that `actual` equals `expected` (tensors or numbers) within tolerance.

    `mistakes` maps a diagnosis to the value a common mistake would produce; if the student's value
    matches one of them, that diagnosis is shown. `diagnosis` is shown for any other value mismatch.
    Integer tensors (token ids, positions, counts) are compared exactly and reported as the values that
    differ, decoded with `decode` (e.g. a tokenizer's decode) when given.
    """
    import torch

    exp = _as_tensor(expected)
    if exp is None:
        raise TypeError(f"assert_close compares tensors or numbers, not {type(expected).__name__}")
    act = actual if isinstance(actual, torch.Tensor) else None
    if act is None and not isinstance(expected, torch.Tensor):
        act = _as_tensor(actual)
    if act is None:
        hint = " (did you forget a `return`?)" if actual is None else ""
        raise CheckFailed(
            f"{name}: expected {_describe(expected)}, got {type(actual).__name__}{hint}",
            mismatch=Mismatch("type", name, expected=_describe(expected), actual=_describe(actual)),
            diagnosis="Your function returned None: did you forget a `return`?" if actual is None else "",
        )
    if tuple(act.shape) != tuple(exp.shape):
        raise CheckFailed(
            f"{name}: expected shape {tuple(exp.shape)}, got {tuple(act.shape)}",
            mismatch=Mismatch("shape", name, expected=_describe(exp), actual=_describe(act)),
            diagnosis=_mistake(act, mistakes, atol, rtol) or _shape_diagnosis(tuple(act.shape), tuple(exp.shape)),
        )
    if check_dtype and isinstance(expected, torch.Tensor) and act.dtype != exp.dtype:
        raise CheckFailed(
            f"{name}: expected dtype {exp.dtype}, got {act.dtype}",
            mismatch=Mismatch("dtype", name, expected=_describe(exp), actual=_describe(act)),
            diagnosis=_mistake(act, mistakes, atol, rtol)
            or "Convert with `.to(dtype)` or build the tensor with the dtype of the input.",
        )
    if not act.is_floating_point() and not exp.is_floating_point() and not act.is_complex():
        _assert_same_ids(act.detach().cpu(), exp.detach().cpu(), name, mistakes, diagnosis, decode)
        return
    a, e = act.detach().double().cpu(), exp.detach().double().cpu()
    if torch.allclose(a, e, atol=atol, rtol=rtol, equal_nan=True):
        return
    abs_err = (a - e).abs().nan_to_num(nan=float("inf"))
    nonzero = e != 0
    max_rel = float((abs_err[nonzero] / e.abs()[nonzero]).max()) if nonzero.any() else None
    bad = abs_err > atol + rtol * e.abs()
    worst = int(abs_err.argmax()) if abs_err.numel() else 0
    where = [int(i) for i in torch.unravel_index(torch.tensor(worst), tuple(a.shape))] if a.dim() else []
    sample = [
        dict(index=[int(i) for i in idx], expected=float(e[tuple(idx)]), actual=float(a[tuple(idx)]))
        for idx in bad.nonzero()[:5].tolist()
    ] if a.dim() else [dict(index=[], expected=float(e), actual=float(a))]
    n_nan = int((a.isnan() & ~e.isnan()).sum())
    if n_nan:
        summary = f"{name}: {n_nan} of {bad.numel()} values are NaN"
        diagnosis = diagnosis or (
            "NaN usually comes from 0/0, log(0), sqrt of a negative number, or an uninitialised tensor "
            "(torch.empty): check each step on a small input."
        )
    else:
        summary = f"{name}: {int(bad.sum())} of {bad.numel()} values differ (max abs error {float(abs_err.max()):.3g})"
    raise CheckFailed(
        summary,
        mismatch=Mismatch(
            "value",
            name,
            expected=_describe(exp),
            actual=_describe(act),
            max_abs_err=float(abs_err.max()),
            max_rel_err=max_rel,
            where=where,
            worst=[float(e.flatten()[worst]), float(a.flatten()[worst])] if a.numel() else None,
            n_mismatched=int(bad.sum()),
            n_total=int(bad.numel()),
            sample=sample,
        ),
        diagnosis=_mistake(act, mistakes, atol, rtol) or diagnosis,
    )


def _assert_same_ids(act, exp, name: str, mistakes, diagnosis: str, decode) -> None:
    """Integer values must be equal; say which differ (as ids, and as tokens with `decode`)."""
    import torch

    bad = act.long() != exp.long()
    if not bool(bad.any()):
        return
    first = [int(i) for i in bad.nonzero()[0].tolist()] if act.dim() else []

    def value(t, idx) -> int:
        return int(t[tuple(idx)]) if idx else int(t)

    def entry(idx: list[int]) -> dict[str, Any]:
        out: dict[str, Any] = dict(index=idx, expected=value(exp, idx), actual=value(act, idx))
        if decode is not None:
            for side in ("expected", "actual"):
                try:
                    out[f"{side}_token"] = decode(out[side])
                except Exception:  # noqa: BLE001 - an id the tokenizer can't decode is shown as an id
                    pass
        return out

    sample = [entry(idx) for idx in bad.nonzero()[:5].tolist()] if act.dim() else [entry([])]
    n_bad = int(bad.sum())
    raise CheckFailed(
        f"{name}: {n_bad} of {bad.numel()} values differ" + (f" (first at {first})" if first else ""),
        mismatch=Mismatch(
            "value",
            name,
            expected=_describe(exp),
            actual=_describe(act),
            where=first,
            worst=[sample[0]["expected"], sample[0]["actual"]],
            n_mismatched=n_bad,
            n_total=int(bad.numel()),
            sample=sample,
        ),
        diagnosis=_mistake(act, mistakes, 0, 0) or diagnosis,
    )


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


# --------------------------------------------------------------------------- questions


def _unanswered(name: str, how: str) -> CheckFailed:
    return CheckFailed(
        f"{name}: not answered yet",
        diagnosis=f"Set {name} in the file to your answer ({how}) and save.",
    )


def check_answer(answer: Any, correct: Any, *, wrong: Mapping[Any, str], name: str = "ANSWER") -> None:
    """A question's choice: `correct`, else the diagnosis of the wrong option chosen (why it is
    tempting, what it misses). Letters are compared without case or spaces."""

    def norm(value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    options = [correct, *wrong]
    how = "one of " + ", ".join(repr(o) for o in options)
    if answer is None:
        raise _unanswered(name, how)
    chosen = norm(answer)
    if chosen == norm(correct):
        return
    for option, why in wrong.items():
        if chosen == norm(option):
            raise CheckFailed(f"{name} = {answer!r} is not the answer", diagnosis=why)
    raise CheckFailed(f"{name} = {answer!r} is not one of the options", diagnosis=f"Answer with {how}.")


def check_number(
    answer: Any, correct: float, *, tolerance: float, too_low: str = "", too_high: str = "", name: str = "ANSWER"
) -> None:
    """A question's number: within `tolerance` of `correct`, else what an answer that low or that high
    probably missed."""
    if answer is None:
        raise _unanswered(name, "a number")
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise CheckFailed(f"{name} = {answer!r} is not a number", diagnosis="Answer with a number, e.g. 0.5.")
    if abs(answer - correct) <= tolerance:
        return
    low = answer < correct
    raise CheckFailed(
        f"{name} = {answer!r} is too {'low' if low else 'high'}",
        diagnosis=(too_low if low else too_high) or f"Think again about what sets the {'lower' if low else 'upper'} end.",
    )


def check_set(
    answer: Any, correct: set, *, missing: Mapping[Any, str] | None = None, extra: Mapping[Any, str] | None = None,
    name: str = "ANSWER",
) -> None:
    """A question's set (e.g. of heads): exactly `correct`; each missing or extra member can carry its
    own diagnosis."""
    if answer is None:
        raise _unanswered(name, "a set, e.g. {(9, 6), (9, 9)}")
    if not isinstance(answer, (set, frozenset, list, tuple)):
        raise CheckFailed(f"{name} = {answer!r} is not a set", diagnosis="Answer with a set of members: {a, b}.")
    chosen = set(answer)
    if chosen == set(correct):
        return
    lacking, surplus = set(correct) - chosen, chosen - set(correct)
    said = [(missing or {}).get(m) for m in sorted(lacking, key=repr)] + [(extra or {}).get(m) for m in sorted(surplus, key=repr)]
    parts = []
    if lacking:
        parts.append(f"{len(lacking)} missing")
    if surplus:
        parts.append(f"{', '.join(repr(m) for m in sorted(surplus, key=repr))} should not be in it")
    raise CheckFailed(f"{name}: {'; '.join(parts)}", diagnosis=" ".join(d for d in said if d))
