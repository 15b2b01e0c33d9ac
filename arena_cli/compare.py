"""Comparing a student's value with the expected one: `assert_close` (tensors and numbers, with the
mismatch described: shape, dtype, the values that differ, and the diagnosis of a recognised mistake) and
`CheckFailed`, the failure every check raises. Hidden tests import these from `arena_cli.testing`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

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
