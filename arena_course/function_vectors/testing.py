"""What chapter 3's hidden tests share, so that no test carries a copy of another's set-up.

- Tiny models whose predictions differ: `sharpened(model)` redraws a tiny model's weights at a larger
  scale, so that its predictions differ from prompt to prompt and position to position (GPT-J's default
  init, std 0.02, makes a random tiny model predict the same token almost everywhere, which would let a
  wrong position pass a test); `sharp(tiny_gptj, ...)` builds one (`basics_model`, `hidden_state_model`: the
  ones several exercises use); `shared(make, name)` is a module-scoped fixture.
- Prompts: `icl_prompts(task, (size, n_prepended, seed), ...)`, ICL prompts with different numbers of
  examples (a left-padded batch); `icl_and_zero_shot()`, the ICL and zero-shot prompts of exercises 05-06.
- `remote=`: `record_remote(model)` makes `model.trace` / `model.generate` record the `remote=` they were
  called with and then run locally (`with remote_recorded(model) as calls:` for the block's duration only);
  `check_remote_once` / `check_remote_everywhere` check what was recorded.
- The student's (and the reference's) function called once per input, the checks sharing the result:
  `once_per_input(fn, *args)` (`reference_once` for a reference returning tensors: no gradients, detached).
- `matching_mistake`: the label of the common mistake that gives what the student's function gave.
- The student's call: `call_traced(fn, ...)` is `arena_cli.testing.call_student` plus diagnoses for
  nnsight's usual errors (a value not saved, modules read out of order); `traced_tensor` / `traced_tensors`
  also check that it returned a tensor / a tuple of them.
- Reference values: `block_states` (every block's input and output, the logits), `mean_last_state` (h: the mean last-position output of a block), `next_tokens` (greedy
  next tokens, optionally with a block's last position replaced).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

import pytest
import torch
from torch import Tensor

from arena_cli.testing import check
from arena_course.function_vectors.models import tiny_gptj
from arena_course.function_vectors.tasks import ICLDataset, load_word_pairs
from arena_course.testing import check_sequence, check_tensor

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


def sharp(tiny: Callable, seed: int = 0, *, std: float = 1.0, **kwargs: Any):
    """`sharpened(tiny(seed, **kwargs), std=std)`: a tiny model (`tiny_gptj`, `tiny_gpt2`) whose predictions differ."""
    return sharpened(tiny(seed, **kwargs), std=std)


def basics_model():
    """The tiny GPT-J of exercises 01, 03 and 09: 3 blocks, d_model 32, weights redrawn at std 1."""
    return sharp(tiny_gptj, n_layers=3)


def hidden_state_model():
    """The tiny GPT-J of exercises 04-07: 3 blocks, d_model 64, weights redrawn at std 1."""
    return sharp(tiny_gptj, n_layers=3, d_model=64)


def shared(make: Callable[[], Any], name: str):
    """The module-scoped fixture `name`, `make()`, shared by the module's tests: in a test module,
    `model = shared(basics_model, "model")`."""
    return pytest.fixture(scope="module", name=name)(lambda: make())


def icl_prompts(task: str, *batches: tuple[int, int, int]) -> list[str]:
    """ICL prompts of `task`: for each (size, n_prepended, seed), `ICLDataset(...).prompts`, one after the other
    (with different numbers of examples they make a left-padded batch)."""
    pairs = load_word_pairs(task)
    return [p for size, n_prepended, seed in batches for p in ICLDataset(pairs, size, n_prepended, seed=seed).prompts]


def icl_and_zero_shot() -> tuple[list[str], list[str]]:
    """The prompts of exercises 05-06: 10 antonyms ICL prompts with 1 to 3 examples (left-padded), and 8
    zero-shot prompts."""
    icl = icl_prompts("antonyms", (4, 2, 0), (3, 3, 1), (3, 1, 3))
    return icl, ICLDataset(load_word_pairs("antonyms"), 8, 2, seed=2).zero_shot().prompts


def mean_last_state(model, prompts: Sequence[str], layer: int, position: int = -1) -> Tensor:
    """h: block `layer`'s output at `position` (the last one), averaged over the prompts, from one trace."""
    with model.trace(prompts):
        h = model.transformer.h[layer].output[:, position].mean(dim=0).save()
    return h


def block_states(model, prompts: Sequence[str]) -> dict[str, Any]:
    """From one trace: every block's input and output ("inputs", "outputs"), the logits, and the prompts'
    attention "mask" (0 on the left padding)."""
    blocks = []
    with torch.no_grad(), model.trace(prompts):
        for block in model.transformer.h:
            blocks.append((block.input.save(), block.output.save()))
        logits = model.lm_head.output.save()
    mask = model.tokenizer(prompts, padding=True, return_tensors="pt").attention_mask
    return dict(inputs=[i.detach() for i, _ in blocks], outputs=[o.detach() for _, o in blocks], logits=logits.detach(),
                mask=mask)


def next_tokens(model, prompts: Sequence[str], layer: int | None = None, vector: Tensor | None = None) -> Tensor:
    """The next tokens of `prompts`, unpatched (vector None) or with block `layer`'s last position set to it."""
    with model.trace(prompts):
        if vector is not None:
            model.transformer.h[layer].output[:, -1] = vector
        tokens = model.lm_head.output[:, -1].argmax(dim=-1).save()
    return tokens


def record_remote(model, methods: Sequence[str] = ("trace", "generate")) -> list[bool | None]:
    """Wrap `model.trace` and `model.generate` (or `methods`) so that each call records the `remote=` it was
    given (None when not given) and then runs locally. Returns the list the calls are appended to.
    (For generation, wrap `trace` alone: `model.generate` opens its trace through `model.trace(...,
    remote=...)`, and wrapping `generate` itself would hide the caller's `with` block from nnsight, which
    reads it from the calling frame.)"""
    calls: list[bool | None] = []
    for name in methods:
        original = getattr(model, name)

        def local(*args, _original=original, **kwargs):
            calls.append(kwargs.pop("remote", None))
            return _original(*args, **kwargs)

        setattr(model, name, local)
    return calls


def once_per_input(fn: Callable, *args: Any) -> Callable:
    """`call(*more)`: `fn(*args, *more)`, computed once per `more` and shared by the module's checks, which read
    one call as the checks of one run should (a save costs a trace per input, not one per check). A call that
    raised is not kept: each check that needs it calls again and fails the same way. Don't modify a result."""
    return cache(lambda *more: fn(*args, *more))


def reference_once(fn: Callable, *args: Any) -> Callable:
    """`once_per_input` for a reference function that returns tensors: run without gradients, detached."""
    def run(*more: Any) -> list[Tensor]:
        with torch.no_grad():
            return [t.detach() for t in fn(*args, *more)]
    return once_per_input(run)


@contextmanager
def remote_recorded(model, methods: Sequence[str] = ("trace", "generate")):
    """`record_remote(model, methods)` for the block's duration, then the model's own methods again: the
    module's model serves the `remote=` check too, instead of a second one built for it (~15 ms)."""
    originals = {name: getattr(model, name) for name in methods}
    try:
        yield record_remote(model, methods)
    finally:
        for name, original in originals.items():
            setattr(model, name, original)


def matching_mistake(actual: Any, mistakes: dict | Callable[[], dict]) -> str:
    """The label of the first of `mistakes` (label -> what that mistake gives; or a callable computing them,
    called only now) whose value equals `actual`, or ""."""
    if callable(mistakes):
        mistakes = mistakes()
    return next((label for label, value in mistakes.items() if actual == value), "")


def check_remote_once(calls: list, name: str, diagnosis: str) -> None:
    """The student's `name`, given remote=True, ran one trace with remote=True."""
    check(
        calls == [True],
        f"model.trace was called with remote={calls[0] if calls else '(no call)'!r}"
        + (f" ({len(calls)} calls)" if len(calls) > 1 else "")
        + f" when {name} was given remote=True",
        diagnosis=diagnosis,
    )


def check_remote_everywhere(calls: list, diagnosis: str, what: str = "model.trace") -> None:
    """Every trace (at least one) the student's function ran was given remote=True. `what` names what it calls
    ("model.trace", "model.generate", or "model.generate / model.trace": the first is named if it never was)."""
    check(
        len(calls) > 0 and all(c is True for c in calls),
        f"{what} was called with remote={calls}" if calls else f"{what.split(' / ')[0]} was never called",
        diagnosis=diagnosis,
    )


# The errors nnsight raises for the usual mistakes, and what they mean (the first that matches is shown).
TRACE_ERRORS = (
    ("raised UnboundLocalError", NOT_SAVED),
    ("raised NameError", NOT_SAVED),
    ("raised OutOfOrderError", OUT_OF_ORDER),
)


@contextmanager
def explained(errors: Sequence[tuple[str, str]] = TRACE_ERRORS):
    """A failed check raised in the block gets the diagnosis of the first of `errors` ((text in its message,
    diagnosis)) that its message contains."""
    from arena_cli.testing import CheckFailed

    try:
        yield
    except CheckFailed as e:
        message = str(e)
        for text, diagnosis in errors:
            if text in message:
                e.diagnosis = diagnosis
                break
        raise


def call_traced(fn: Callable, *args: Any, diagnosis: str = "", errors: Sequence[tuple[str, str]] = TRACE_ERRORS,
                **kwargs: Any) -> Any:
    """Call the student's `fn` like `call_student`; if it failed with nnsight's usual errors (a variable
    assigned in the trace but not saved, a module read after the model ran past it), say what they mean."""
    from arena_cli.testing import call_student

    with explained(errors):
        return call_student(fn, *args, diagnosis=diagnosis, **kwargs)


def traced_tensor(fn: Callable, *args: Any, crash: str, expected: str, hint: str = "", **kwargs: Any) -> Tensor:
    """`call_traced(fn, ...)` without gradients (`crash`: the diagnosis of an exception), checked to return a
    tensor ("<fn> returned <type>, expected <expected>"; `hint` when it isn't None). Returns it detached."""
    with torch.no_grad():
        out = call_traced(fn, *args, diagnosis=crash, **kwargs)
    return check_tensor(out, fn.__name__, f"expected {expected}", hint).detach()


WORDS = {2: "two", 3: "three"}


def traced_tensors(fn: Callable, *args: Any, crash: str, n: int, names: str, hint: str,
                   if_none: str = "Did you forget a `return`?", tensors_hint: str = "", **kwargs: Any) -> list[Tensor]:
    """`call_traced(fn, ...)` without gradients, checked to return `n` tensors (`names`: e.g. "(clean,
    patched)"; `hint`: what to return; `if_none`: what a None means). Returns them detached."""
    with torch.no_grad():
        out = call_traced(fn, *args, diagnosis=crash, **kwargs)
    check_sequence(out, fn.__name__, n, f"{WORDS[n]} tensors {names}", hint, if_none)
    check(all(isinstance(t, torch.Tensor) for t in out), f"expected {WORDS[n]} tensors, got "
          f"{[type(t).__name__ for t in out]}", diagnosis=tensors_hint)
    return [t.detach() for t in out]
