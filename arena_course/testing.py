"""What every chapter's hidden tests share beyond `arena_cli.testing`: checks that the student's function
returned what it should, and `assert_close` with the common mistakes computed only when needed. (Candidates
for `arena_cli.testing` itself; each chapter's own test helpers are in `arena_course.<chapter>.testing`.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from arena_cli.testing import assert_close, check


def check_tensor(out: Any, name: str, expected: str, hint: str = ""):
    """`out`, if it is a tensor; else a failed check "<name> returned <type>, <expected>" (e.g. "expected a
    (layer, head) tensor"), diagnosed as a forgotten `return` when it is None, else with `hint`."""
    import torch

    check(isinstance(out, torch.Tensor), f"{name} returned {type(out).__name__}, {expected}",
          diagnosis="Did you forget a `return`?" if out is None else hint)
    return out


def check_sequence(out: Any, name: str, n: int, expected: str, hint: str = "",
                   if_none: str = "Did you forget a `return`?") -> Any:
    """`out`, if it is a tuple or list of `n` things; else a failed check "<name> returned <type> [of length k],
    expected <expected>", diagnosed with `if_none` when it is None (a forgotten `return`), else with `hint`."""
    check(
        isinstance(out, (tuple, list)) and len(out) == n,
        f"{name} returned {type(out).__name__}"
        + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else "")
        + f", expected {expected}",
        diagnosis=if_none if out is None else hint,
    )
    return out


def assert_close_lazily(actual: Any, expected: Any, *, name: str, mistakes: Callable[[], dict],
                        atol: float = 1e-5, rtol: float = 1e-4, diagnosis: str = "") -> None:
    """`assert_close(..., check_dtype=False)`, computing the common mistakes' values (`mistakes()`, often
    several model runs) only when the answer is wrong."""
    import torch

    expected = torch.as_tensor(expected).float()
    if actual.shape == expected.shape and torch.allclose(actual.float(), expected, atol=atol, rtol=rtol):
        return
    assert_close(actual, expected, name=name, atol=atol, rtol=rtol, check_dtype=False, mistakes=mistakes(),
                 diagnosis=diagnosis)
