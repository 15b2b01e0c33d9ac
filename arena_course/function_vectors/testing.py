"""What chapter 3's hidden tests share: tiny models whose predictions differ, a record of `remote=`, and
diagnoses for nnsight's usual errors.

- `sharpened(model)`: redraw a tiny model's weights at a larger scale, so that its predictions differ from
  prompt to prompt and position to position (GPT-J's default init, std 0.02, makes a random tiny model
  predict the same token almost everywhere, which would let a wrong position pass a test).
- `record_remote(model)`: make `model.trace` / `model.generate` record the `remote=` they were called
  with and then run locally, so a test can check that a function passes `remote=remote` on.
- `call_traced(fn, ...)`: `arena_cli.testing.call_student` plus diagnoses for nnsight's usual errors (a
  value not saved, modules read out of order).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

NOT_SAVED = (
    "A variable assigned inside `with model.trace(...)` only exists after the block if you called `.save()` "
    "on it inside the block (`x = model.transformer.h[L].output.save()`): nnsight runs the block's code in a "
    "scratch namespace alongside the model and copies back only the saved values."
)
OUT_OF_ORDER = (
    "Inside one trace, read modules in the order the model runs them (block 0 before block 1, a block's "
    "`.input` before its `.output`, the blocks before `lm_head`): nnsight gives you each value as the "
    "forward pass reaches it, and once it has gone past a module it can't go back."
)


def sharpened(model, *, std: float = 1.0, seed: int = 0):
    """Redraw every weight matrix of a tiny nnsight-wrapped model from N(0, std²), in place; returns it.

    With GPT-J's default init (std 0.02) a random tiny model predicts nearly the same token at every
    position of every prompt; with std 1 its predictions differ, so a test can tell positions apart.
    Biases and LayerNorm parameters are left as they are. Seeded, and the global RNG is untouched."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model._module.parameters():
            if parameter.dim() == 2:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)
    return model


def record_remote(model) -> list[bool | None]:
    """Wrap `model.trace` and `model.generate` so that each call records the `remote=` it was given (None
    when not given) and then runs locally. Returns the list the calls are appended to."""
    calls: list[bool | None] = []
    for name in ("trace", "generate"):
        original = getattr(model, name)

        def local(*args, _original=original, **kwargs):
            calls.append(kwargs.pop("remote", None))
            return _original(*args, **kwargs)

        setattr(model, name, local)
    return calls


def call_traced(fn: Callable, *args: Any, diagnosis: str = "", **kwargs: Any) -> Any:
    """Call the student's `fn` like `call_student`; if it failed with nnsight's usual errors (a variable
    assigned in the trace but not saved, a module read after the model ran past it), say what they mean."""
    from arena_cli.testing import CheckFailed, call_student

    try:
        return call_student(fn, *args, diagnosis=diagnosis, **kwargs)
    except CheckFailed as e:
        message = str(e)
        if "raised UnboundLocalError" in message or "raised NameError" in message:
            e.diagnosis = NOT_SAVED
        elif "raised OutOfOrderError" in message:
            e.diagnosis = OUT_OF_ORDER
        raise
