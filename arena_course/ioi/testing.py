"""What chapter 2's hidden tests share, so that no test carries a copy of another's set-up.

- Tiny models and prompts: `compat_model` (a tiny IOI model in compatibility mode, as the results run it),
  `random_logits` (seeded logits for padded prompts) and its fixture, `attribution_setting` (exercises 4-5).
- The student's call: `returned_tensor` (call_student without gradients, checked to give a tensor).
- Activation patching (exercises 7-10): `TWO_LENGTHS`; `patching_setting`, `main_setting` and its fixture (a
  2-layer model, 4 clean prompts, their flipped versions, both caches and the IOI metric); `other_setting`
  (a 1-layer model and the raw logit difference); `PatchingGrid` (the student's grid, checked, run once on
  the main setting); `copy_cache`, `assert_grid`, `sweep` (transformer_lens.patching without its progress
  bar), `whole_layer_patched`, `changed_entries`.
- Path patching (exercises 11-13): `Z_HOOKS`, `logit_diff_metric`, `path_setting` and its fixture,
  `noising_caches`, `per_sender`, `cache_copies`, `path_grid`, `check_no_hooks_left`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
import torch
from torch import Tensor

from arena_cli.testing import call_student, check
from arena_course.ioi.dataset import BABA_TEMPLATES, IOIDataset, ioi_tokenizer
from arena_course.ioi.models import tiny_ioi_model
from arena_course.testing import assert_close_lazily, check_tensor

# --------------------------------------------------------------------------- models, prompts, calls


def compat_model(**kwargs):
    """`tiny_ioi_model(**kwargs)` in compatibility mode (HookedTransformer processing), as the results run."""
    model = tiny_ioi_model(**kwargs)
    model.enable_compatibility_mode(disable_warnings=True)
    return model


def random_logits(n: int, seed: int, logits_seed: int, scale: float) -> tuple[IOIDataset, Tensor]:
    """`n` prompts (`IOIDataset.generate(ioi_tokenizer(), n, seed=seed)`, of different lengths: padded on the
    right) and seeded random logits for them, (n, seq, d_vocab) with standard deviation `scale`."""
    data = IOIDataset.generate(ioi_tokenizer(), n, seed=seed)
    gen = torch.Generator().manual_seed(logits_seed)
    return data, torch.randn(n, data.toks.shape[1], len(data.tokenizer), generator=gen) * scale


def random_logits_fixture(n: int, *, seed: int, logits_seed: int, scale: float, min_padded: int = 1):
    """The module-scoped fixture `setting`, `random_logits(...)`, checked to hold prompts of different lengths,
    at least `min_padded` of them padded (so that position -1 is padding for some): in a test module,
    `setting = random_logits_fixture(8, seed=3, logits_seed=0, scale=3)`."""

    @pytest.fixture(scope="module", name="setting")
    def fixture():
        data, logits = random_logits(n, seed=seed, logits_seed=logits_seed, scale=scale)
        ends = data.word_idx["end"]
        assert len(set(ends.tolist())) > 1 and int((ends < data.toks.shape[1] - 1).sum()) >= min_padded
        return data, logits

    return fixture


def returned_tensor(fn: Callable, *args: Any, crash: str, expected: str, hint: str = "", **kwargs: Any) -> Tensor:
    """The student's `fn(*args, **kwargs)` without gradients (`call_student`, with `crash` as the diagnosis of
    an exception), checked to be a tensor: "<fn> returned <type>, expected <expected>", diagnosed as a
    forgotten `return` or with `hint`. Returns it detached."""
    with torch.no_grad():
        out = call_student(fn, *args, diagnosis=crash, **kwargs)
    return check_tensor(out, fn.__name__, f"expected {expected}", hint).detach()


def attribution_setting(reference_of, *, seed: int, data_seed: int, n: int = 8, **model_kwargs: Any):
    """(model, data, logits, cache, directions) for direct logit attribution (exercises 4-5): a model in
    compatibility mode, `n` prompts of different lengths (most of them padded), its run and cache, and the
    reference's logit difference directions (exercise 3)."""
    model = compat_model(seed=seed, **model_kwargs)
    data = IOIDataset.generate(model.tokenizer, n, seed=data_seed)
    assert (data.word_idx["end"] < data.toks.shape[1] - 1).sum() >= 4  # most prompts are padded
    with torch.no_grad():
        logits, cache = model.run_with_cache(data.toks)
    directions = reference_of("logit_diff_directions").logit_diff_directions(model, data).detach()
    return model, data, logits, cache, directions


# --------------------------------------------------------------------------- activation patching (7-9)

TWO_LENGTHS = (BABA_TEMPLATES[5], BABA_TEMPLATES[14])  # 15 and 16 tokens with BOS


def quiet(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call a transformer_lens.patching function without its progress bar."""
    import transformer_lens.patching as tl_patching

    with mock.patch.object(tl_patching, "tqdm", lambda rows: rows):
        return fn(*args, **kwargs)


def copy_cache(cache, model):
    """A copy of the cache whose aliases stay aliases: on a bridge, "blocks.0.hook_resid_pre" and the hook
    point's own name "blocks.0.hook_in" (what `hook.name` says) are the same tensor."""
    from transformer_lens.ActivationCache import ActivationCache

    clones: dict[int, Tensor] = {}
    return ActivationCache({k: clones.setdefault(id(v), v.clone()) for k, v in cache.items()}, model)


def patching_setting(model, clean: IOIDataset, metric_of: Callable) -> SimpleNamespace:
    """Clean prompts and their flipped (corrupted) version, both runs' caches, and the metric
    `metric_of(clean, clean_logits, corrupted_logits)`, with its value on the corrupted run."""
    corrupted = clean.flipped()
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(clean.toks)
        corrupted_logits, corrupted_cache = model.run_with_cache(corrupted.toks)
    metric = metric_of(clean, clean_logits, corrupted_logits)
    return SimpleNamespace(model=model, clean=clean, corrupted=corrupted, clean_cache=clean_cache,
                           corrupted_cache=corrupted_cache, metric=metric, corrupted_metric=float(metric(corrupted_logits)))


def main_setting(reference_of) -> SimpleNamespace:
    """The main setting of exercises 7-10: 2 layers x 4 heads (compatibility mode), 4 prompts of two lengths
    (seq 16), the IOI metric of the reference of exercise 6 (0 corrupted, 1 clean)."""
    metrics = reference_of("ioi_metric")
    model = compat_model(seed=3)
    clean = IOIDataset.generate(model.tokenizer, 4, seed=1, templates=TWO_LENGTHS)

    def metric_of(clean, clean_logits, corrupted_logits):
        clean_ld = float(metrics.ioi_logit_diff(clean_logits, clean))
        corrupted_ld = float(metrics.ioi_logit_diff(corrupted_logits, clean))
        return partial(metrics.ioi_metric, data=clean, clean_logit_diff=clean_ld, corrupted_logit_diff=corrupted_ld)

    return patching_setting(model, clean, metric_of)


def main_setting_fixture():
    """The module-scoped fixture `setting` (`main_setting`): in a test module, `setting = main_setting_fixture()`."""

    @pytest.fixture(scope="module", name="setting")
    def fixture(reference_of):
        return main_setting(reference_of)

    return fixture


def logit_diff_metric(data: IOIDataset, reduce: Callable = torch.sum) -> Callable[[Tensor], Tensor]:
    """The logit difference (IO - S) of `data`'s answers at each prompt's end, reduced over the prompts (a sum
    by default, so that the small effects of a random model's heads stand well above rounding)."""

    def metric(logits):
        batch = torch.arange(len(data))
        end = logits[batch, data.word_idx["end"]]
        return reduce(end[batch, data.io_tokens] - end[batch, data.s_tokens])

    return metric


def other_setting(**model_kwargs) -> SimpleNamespace:
    """A second setting: a 1-layer model (not in compatibility mode), 3 other prompts, and another metric, the
    raw mean logit difference."""
    model = tiny_ioi_model(seed=7, n_layers=1, **model_kwargs)
    clean = IOIDataset.generate(model.tokenizer, 3, seed=4, templates=TWO_LENGTHS)
    return patching_setting(model, clean, lambda clean, *logits: logit_diff_metric(clean, torch.mean))


class PatchingGrid:
    """The student's patching function `name` (exercises 7-10): called as fn(model, corrupted tokens, clean
    cache, metric, *extra) and checked to return a tensor of `dims` ("n_layers, seq")."""

    def __init__(self, name: str, *, crash: str, dims: str):
        self.name, self.crash, self.dims = name, crash, dims
        self.runs: dict = {}  # (student module, *extra) -> (grid, cache)

    def __call__(self, student, s: SimpleNamespace, cache, *extra: Any) -> Tensor:
        """The student's grid on the setting `s`, given `cache` (a copy of its clean cache)."""
        fn = getattr(student, self.name)
        out = call_student(fn, s.model, s.corrupted.toks, cache, s.metric, *extra, diagnosis=self.crash)
        check(out is not None, f"{self.name} returned None", diagnosis="Did you forget a `return`?")
        check(
            isinstance(out, torch.Tensor),
            f"{self.name} returned a {type(out).__name__}, expected a ({self.dims}) tensor",
            diagnosis=f"Store the metric values in a tensor, e.g. results = torch.zeros({self.dims}).",
        )
        return out.detach().float()

    def main_run(self, student, s: SimpleNamespace, *extra: Any) -> tuple[Tensor, Any]:
        """(grid, the clean cache it was given): the student's function on the main setting `s`, run once per
        student module and `extra` (e.g. the activation), shared by the tests."""
        if (student, *extra) not in self.runs:
            cache = copy_cache(s.clean_cache, s.model)
            self.runs[student, *extra] = (self(student, s, cache, *extra), cache)
        return self.runs[student, *extra]

    def check_shape(self, out: Tensor, shape: tuple[int, int], columns: str) -> None:
        """The grid is (n_layers, <columns>) = `shape`."""
        check(
            tuple(out.shape) == shape,
            f"expected shape {shape} ({self.dims}), got {tuple(out.shape)}",
            diagnosis=f"Rows are layers (model.cfg.n_layers), columns {columns}."
            + (" Yours is transposed." if tuple(out.shape) == shape[::-1] else ""),
        )

    def against_transformer_lens(self, student, s: SimpleNamespace, tl_sweep: Callable, *extra: Any):
        """(the student's grid on the main setting, what transformer_lens.patching's `tl_sweep` gives)."""
        out, _ = self.main_run(student, s, *extra)
        with torch.no_grad():
            expected = quiet(tl_sweep, s.model, s.corrupted.toks, s.clean_cache, s.metric)
        return out, expected

    def check_clean_cache(self, student, s: SimpleNamespace, hook: str, *extra: Any, fix: str, label: str = "",
                          where: str = "") -> None:
        """The clean cache the student's function was given is unchanged; else a failed check naming the first
        changed entry (the layers' `hook` first; `where`, "positions" or "heads", says which changed in it) and
        how to `fix` the hook."""
        _, cache = self.main_run(student, s, *extra)
        names = [f"blocks.{layer}.{hook}" for layer in range(s.model.cfg.n_layers)]
        for name, mine, clean in changed_entries(cache, s.clean_cache, names):
            check(
                False,
                f"{label}clean_cache['{name}'] was changed by your function{_where_changed(where, name, mine, clean)}",
                diagnosis="Your hook wrote into the clean cache: that patches corrupted values into the clean ones, "
                f"the wrong direction, and spoils every later patch. Write into {fix}",
            )

    def on_other_setting(self, student, reference, *extra: Any, **model_kwargs: Any) -> tuple[Tensor, Tensor, Any]:
        """(the student's grid, the reference's, the setting) on `other_setting(**model_kwargs)`."""
        s = other_setting(**model_kwargs)
        out = self(student, s, copy_cache(s.clean_cache, s.model), *extra)
        with torch.no_grad():
            expected = getattr(reference, self.name)(s.model, s.corrupted.toks, copy_cache(s.clean_cache, s.model),
                                                     s.metric, *extra)
        return out, expected, s


def assert_grid(actual: Tensor, expected: Tensor, name: str, mistakes_of: Callable[[], dict]) -> None:
    """A patching grid against the expected one (atol 1e-4, rtol 1e-3), with the mistakes' grids when wrong."""
    assert_close_lazily(actual, expected, name=name, atol=1e-4, rtol=1e-3, mistakes=mistakes_of)


def sweep(s: SimpleNamespace, setter: Callable, activation: str, axes: Sequence[str] = ("layer", "head"), *,
          cache=None, tokens: Tensor | None = None) -> Tensor:
    """`transformer_lens.patching.generic_activation_patch` over `axes`: the corrupted run (or `tokens`) with
    the clean cache's (or `cache`'s) `activation` patched in by `setter`: what a mistake computes."""
    import transformer_lens.patching as tl_patching

    return quiet(
        tl_patching.generic_activation_patch, s.model, s.corrupted.toks if tokens is None else tokens,
        s.clean_cache if cache is None else cache, s.metric, patch_setter=setter, activation_name=activation,
        index_axis_names=tuple(axes),
    )


def whole_layer_patched(s: SimpleNamespace, hook: str) -> Tensor:
    """(n_layers,): the metric with the whole of layer L's `hook` (e.g. "hook_resid_pre", "attn.hook_z")
    patched from the clean cache, every position and head at once."""
    values = []
    with torch.no_grad():
        for layer in range(s.model.cfg.n_layers):
            name = f"blocks.{layer}.{hook}"
            logits = s.model.run_with_hooks(s.corrupted.toks, fwd_hooks=[(name, lambda a, hook: s.clean_cache[hook.name])])
            values.append(float(s.metric(logits)))
    return torch.tensor(values)


def _where_changed(where: str, name: str, mine: Tensor, clean: Tensor) -> str:
    """", at positions [...]" / ", heads [...]": which positions (or heads, of a hook_z) of a cache entry changed."""
    if where == "positions" and mine.shape == clean.shape and mine.dim() >= 2:
        changed = (mine != clean).reshape(*mine.shape[:2], -1).any(dim=-1).any(dim=0)
        return f", at positions {changed.nonzero().flatten().tolist()}"
    if where == "heads" and mine.shape == clean.shape and mine.dim() == 4 and name.endswith("hook_z"):
        heads = (mine != clean).any(dim=-1).any(dim=0).any(dim=0)
        return f", heads {heads.nonzero().flatten().tolist()}"
    return ""


def changed_entries(cache, clean_cache, names: list[str]) -> Iterator[tuple[str, Tensor, Tensor]]:
    """(name, the cache's tensor, the clean cache's) for every entry of `cache` that differs from `clean_cache`,
    the hooks in `names` first."""
    for name in names + [k for k in cache.keys() if k not in names]:
        mine, clean = cache[name], clean_cache[name]
        if not (mine.shape == clean.shape and torch.equal(mine, clean)):
            yield name, mine, clean


# --------------------------------------------------------------------------- path patching (10-11)


def Z_HOOKS(name: str) -> bool:
    return name.endswith("attn.hook_z")


def path_setting(reference, *, seed: int, n_layers: int, n_heads: int, orig_seed: int, new_seed: int):
    """(model, orig, new, caches, baseline): a random-init model (compatibility mode), 6 IOI prompts of mixed
    templates (orig) and their ABC version (new), the reference's z caches of both, and orig's logits."""
    model = compat_model(seed=seed, n_layers=n_layers, n_heads=n_heads)
    orig = IOIDataset.generate(model.tokenizer, 6, seed=orig_seed)
    new = orig.abc(seed=new_seed)
    with torch.no_grad():
        caches = reference.z_caches(model, orig, new)
        baseline = model(orig.toks)
    return model, orig, new, caches, baseline


def path_setting_fixture(**kwargs: Any):
    """The module-scoped fixture `setting` (`path_setting(reference, **kwargs)`): in a test module,
    `setting = path_setting_fixture(seed=..., ...)`."""

    @pytest.fixture(scope="module", name="setting")
    def fixture(reference):
        return path_setting(reference, **kwargs)

    return fixture


def noising_caches(model, orig: IOIDataset, new: IOIDataset, direction: str, source_names: Callable = Z_HOOKS):
    """(the prompts to run, their z cache, the other prompts' cache of `source_names`): orig run with new as the
    source ("noising"), or the other way round (the wrong direction)."""
    run, source = (orig, new) if direction == "noising" else (new, orig)
    _, run_cache = model.run_with_cache(run.toks, names_filter=Z_HOOKS)
    _, source_cache = model.run_with_cache(source.toks, names_filter=source_names)
    return run, run_cache, source_cache


def per_sender(model, value: Callable[[int, int], Tensor]) -> Tensor:
    """(n_layers, n_heads): `value(layer, head)` of every sender head, e.g. the metric of its path-patched run."""
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            out[layer, head] = value(layer, head)
    return out


def cache_copies(model, caches) -> tuple:
    """Fresh copies of the two caches for the student's function (so a change it makes to them shows, and
    doesn't leak into the next test)."""
    from transformer_lens import ActivationCache

    return tuple(ActivationCache({name: t.clone() for name, t in cache.items()}, model) for cache in caches)


def check_caches_unchanged(copies, caches) -> None:
    for label, copy, cache in zip(["orig_cache", "new_cache"], copies, caches):
        changed = [name for name in cache.keys() if not torch.equal(copy[name], cache[name])]
        check(
            not changed,
            f"{label} was modified by your code ({', '.join(changed)}): the caches must stay as they are, or the "
            "next sender's run freezes heads to wrong values",
            diagnosis="`z = orig_cache[hook.name]` makes z the cache's own tensor, so `z[:, :, head] = ...` writes "
            "into the cache. Copy into the running activation instead (`z[...] = orig_cache[hook.name]`), or "
            "`.clone()` first.",
        )


def path_grid(fn: Callable, model, orig, new, metric, *extra: Any, caches=None, crash: str, per_sender: str) -> Tensor:
    """The student's path-patching grid `fn(model, orig, new, metric, *extra, orig_cache, new_cache)`, given
    copies of `caches` (which it must leave unchanged) or none; checked to be an (n_layers, n_heads) tensor
    (`per_sender`: the diagnosis of another shape)."""
    copies = cache_copies(model, caches) if caches is not None else (None, None)
    out = call_student(fn, model, orig, new, metric, *extra, *copies, diagnosis=crash)
    if caches is not None:
        check_caches_unchanged(copies, caches)
    check(
        isinstance(out, torch.Tensor),
        f"{fn.__name__} returned {type(out).__name__}, expected a (layer, head) tensor",
        diagnosis="Did you forget a `return`?" if out is None else "",
    )
    shape = (model.cfg.n_layers, model.cfg.n_heads)
    check(
        tuple(out.shape) == shape,
        f"{fn.__name__} returned shape {tuple(out.shape)}, expected (n_layers, n_heads) = {shape}",
        diagnosis=per_sender,
    )
    return out.detach().float()


def check_no_hooks_left(model, data: IOIDataset, baseline: Tensor, name: str) -> None:
    """After the student's `name` ran, the model's own output on `data` is still `baseline`."""
    with torch.no_grad():
        after = model(data.toks)
    check(
        torch.allclose(after, baseline, atol=1e-5),
        f"After {name}, the model's own output has changed: hooks were left on the model",
        diagnosis="Use model.run_with_hooks(...) (it removes its hooks) or the `with model.hooks(...)` context, "
        "or call model.reset_hooks() after model.add_hook.",
    )
