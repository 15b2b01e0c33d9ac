"""Hidden test for exercise 7: patching the clean residual stream (resid_pre) into the corrupted run, by
layer and position.

Runs on a tiny random TransformerLens model (2 layers, compatibility mode) and 4 IOI prompts of two
templates (15 and 16 tokens: padded on the right), corrupted by flipping S2 to the other name; compares with
`transformer_lens.patching.get_act_patch_resid_pre` (which works on a TransformerBridge) and with the
reference on a 1-layer model with another metric. The student's function is called twice in all.
"""

from functools import partial
from types import SimpleNamespace
from unittest import mock

import pytest
import torch
import transformer_lens.model_bridge  # noqa: F401  (arena's worker pre-imports it: import time is not test time)
import transformer_lens.patching as tl_patching
from transformer_lens.ActivationCache import ActivationCache

from arena_cli.testing import assert_close, call_student, check
from arena_course.ioi.dataset import BABA_TEMPLATES, IOIDataset
from arena_course.ioi.models import tiny_ioi_model

_CRASH = (
    "blocks.L.hook_resid_pre is (batch, seq, d_model): position p of every prompt is activation[:, p]. A hook "
    "is called as hook_fn(activation, hook) and returns the activation to use; run it with "
    "model.run_with_hooks(corrupted_tokens, fwd_hooks=[(hook_name, hook_fn)]). A KeyError naming a hook: "
    "that layer doesn't exist in this model; loop over range(model.cfg.n_layers)."
)
_DIRECTION = (
    "You patched in the wrong direction: the clean run with one corrupted position. Run the CORRUPTED tokens, "
    "and in the hook copy the clean values in: activation[:, pos] = clean_cache[hook.name][:, pos]; return "
    "activation."
)


def _quiet(fn, *args, **kwargs):
    """Call a transformer_lens.patching function without its progress bar."""
    with mock.patch.object(tl_patching, "tqdm", lambda rows: rows):
        return fn(*args, **kwargs)


def _copy(cache: ActivationCache, model) -> ActivationCache:
    """A copy of the cache whose aliases stay aliases: on a bridge, "blocks.0.hook_resid_pre" and the hook
    point's own name "blocks.0.hook_in" (what `hook.name` says) are the same tensor."""
    clones: dict[int, torch.Tensor] = {}
    return ActivationCache({k: clones.setdefault(id(v), v.clone()) for k, v in cache.items()}, model)


def _setting(model, clean, metric_of):
    corrupted = clean.flipped()
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(clean.toks)
        corrupted_logits, corrupted_cache = model.run_with_cache(corrupted.toks)
    metric = metric_of(clean, clean_logits, corrupted_logits)
    return SimpleNamespace(model=model, clean=clean, corrupted=corrupted, clean_cache=clean_cache,
                           corrupted_cache=corrupted_cache, metric=metric, corrupted_metric=float(metric(corrupted_logits)))


TEMPLATES = (BABA_TEMPLATES[5], BABA_TEMPLATES[14])  # 15 and 16 tokens with BOS


@pytest.fixture(scope="module")
def setting(reference_of):
    """2 layers, 4 prompts of two lengths (seq 16), the IOI metric (0 corrupted, 1 clean)."""
    metrics = reference_of("ioi_metric")
    model = tiny_ioi_model(seed=3)
    model.enable_compatibility_mode(disable_warnings=True)
    clean = IOIDataset.generate(model.tokenizer, 4, seed=1, templates=TEMPLATES)

    def metric_of(clean, clean_logits, corrupted_logits):
        clean_ld = float(metrics.ioi_logit_diff(clean_logits, clean))
        corrupted_ld = float(metrics.ioi_logit_diff(corrupted_logits, clean))
        return partial(metrics.ioi_metric, data=clean, clean_logit_diff=clean_ld, corrupted_logit_diff=corrupted_ld)

    return _setting(model, clean, metric_of)


_runs: dict = {}  # student module -> (grid, cache): one run shared by the tests of the main setting


def _main_run(student, s):
    """(grid, the clean cache it was given): the student's function on the main setting, run once."""
    if student not in _runs:
        cache = _copy(s.clean_cache, s.model)
        _runs[student] = (_run(student, s, cache), cache)
    return _runs[student]


def _run(student, s, cache):
    """The student's grid on the setting `s`, given (a copy of) its clean cache."""
    out = call_student(student.patch_residual_stream, s.model, s.corrupted.toks, cache, s.metric, diagnosis=_CRASH)
    check(out is not None, "patch_residual_stream returned None", diagnosis="Did you forget a `return`?")
    check(
        isinstance(out, torch.Tensor),
        f"patch_residual_stream returned a {type(out).__name__}, expected a (n_layers, seq) tensor",
        diagnosis="Store the metric values in a tensor, e.g. results = torch.zeros(n_layers, seq).",
    )
    return out.detach().float()


def _mistakes(s):
    """What the common mistakes give on the setting (computed only when the grid is wrong)."""
    model, seq, n_layers = s.model, s.corrupted.toks.shape[1], s.model.cfg.n_layers

    def mutate_clean(corrupted_act, index, clean_act):
        clean_act[:, index[1]] = corrupted_act[:, index[1]]  # writes into the cache, and runs the clean values
        return clean_act

    with torch.no_grad():
        whole_layer = []
        for layer in range(n_layers):
            name = f"blocks.{layer}.hook_resid_pre"
            logits = model.run_with_hooks(s.corrupted.toks, fwd_hooks=[(name, lambda a, hook: s.clean_cache[hook.name])])
            whole_layer.append(float(s.metric(logits)))
        return {
            _DIRECTION: _quiet(tl_patching.get_act_patch_resid_pre, model, s.clean.toks, s.corrupted_cache, s.metric),
            _DIRECTION + " (Your hook also wrote corrupted values into clean_cache: only read it.)": _quiet(
                tl_patching.generic_activation_patch, model, s.corrupted.toks, _copy(s.clean_cache, model), s.metric,
                patch_setter=mutate_clean, activation_name="resid_pre", index_axis_names=("layer", "pos")),
            "You patched every position of the layer at once: copy the clean values at one position p only, "
            "activation[:, p] = clean_cache[hook.name][:, p].": torch.tensor(whole_layer)[:, None].expand(n_layers, seq),
            "Your patch changed nothing (every value is the corrupted run's): the hook must return the patched "
            "activation (or change it in place), and run_with_hooks must get it as fwd_hooks=[(name, hook_fn)].":
                torch.full((n_layers, seq), s.corrupted_metric),
            "You patched blocks.L.hook_resid_post (the output of block L): row L is the input of block L, "
            "blocks.L.hook_resid_pre.": _quiet(
                tl_patching.generic_activation_patch, model, s.corrupted.toks, s.clean_cache, s.metric,
                patch_setter=tl_patching.layer_pos_patch_setter, activation_name="resid_post",
                index_axis_names=("layer", "pos")),
        }


def _assert_grid(actual, expected, name, mistakes_of):
    close = actual.shape == expected.shape and torch.allclose(actual, expected.float(), atol=1e-4, rtol=1e-3)
    assert_close(actual, expected.float(), name=name, atol=1e-4, rtol=1e-3, check_dtype=False,
                 mistakes=None if close else mistakes_of())


def test_shape(student, setting):
    """Returns an (n_layers, seq) tensor"""
    s = setting
    out, _ = _main_run(student, s)
    shape = (s.model.cfg.n_layers, s.corrupted.toks.shape[1])
    check(
        tuple(out.shape) == shape,
        f"expected shape {shape} (n_layers, seq), got {tuple(out.shape)}",
        diagnosis="Rows are layers (model.cfg.n_layers), columns positions (corrupted_tokens.shape[1])."
        + (" Yours is transposed." if tuple(out.shape) == shape[::-1] else ""),
    )


def test_matches_transformer_lens(student, setting):
    """Matches transformer_lens.patching.get_act_patch_resid_pre (2 layers x 16 positions)"""
    s = setting
    out, _ = _main_run(student, s)
    with torch.no_grad():
        expected = _quiet(tl_patching.get_act_patch_resid_pre, s.model, s.corrupted.toks, s.clean_cache, s.metric)
    _assert_grid(out, expected, "patching grid (layer, pos)", lambda: _mistakes(s))


def test_clean_cache_unchanged(student, setting):
    """Leaves clean_cache unchanged (clean values go INTO the corrupted run, never the reverse)"""
    s = setting
    _, cache = _main_run(student, s)
    names = [f"blocks.{layer}.hook_resid_pre" for layer in range(s.model.cfg.n_layers)]
    for name in names + [k for k in cache.keys() if k not in names]:
        mine, clean = cache[name], s.clean_cache[name]
        if mine.shape == clean.shape and torch.equal(mine, clean):
            continue
        where = ""
        if mine.shape == clean.shape and mine.dim() >= 2:
            changed = (mine != clean).reshape(*mine.shape[:2], -1).any(dim=-1).any(dim=0)
            where = f", at positions {changed.nonzero().flatten().tolist()}"
        check(
            False,
            f"clean_cache['{name}'] was changed by your function{where}",
            diagnosis="Your hook wrote into the clean cache: that patches corrupted values into the clean ones, "
            "the wrong direction, and spoils every later patch. Write into the activation the hook receives: "
            "activation[:, pos] = clean_cache[hook.name][:, pos].",
        )


def test_unchanged_tokens_give_zero(student, setting):
    """Layer 0, a position with the same token in both runs: patching changes nothing (metric 0)

    At layer 0 the residual stream is the embeddings: where the clean and corrupted tokens agree, the clean
    and corrupted values are equal, and the metric stays at the corrupted run's 0."""
    s = setting
    out, _ = _main_run(student, s)
    shape = (s.model.cfg.n_layers, s.corrupted.toks.shape[1])
    check(tuple(out.shape) == shape, f"expected a grid of shape {shape} (n_layers, seq), got {tuple(out.shape)}")
    same = (s.clean.toks == s.corrupted.toks).all(dim=0)  # (seq,)
    positions = same.nonzero().flatten()
    got = out[0, positions]
    if torch.allclose(out[0], torch.ones_like(out[0]), atol=1e-3):
        diagnosis = ("Every position of row 0 gives 1, the clean run: you patched every position of the layer at "
                     "once. Copy the clean values at one position p only, activation[:, p] = clean_cache[hook.name][:, p].")
    elif torch.allclose(got, torch.ones_like(got), atol=1e-3):
        diagnosis = _DIRECTION
    else:
        diagnosis = ("Patching an activation with an equal value must leave the corrupted run as it is. Patch one "
                     "position at a time, of blocks.0.hook_resid_pre for row 0, and return metric(logits) of that run.")
    check(
        bool(torch.allclose(got, torch.zeros_like(got), atol=1e-4)),
        f"row 0 at positions {positions.tolist()} (same token in both runs): expected 0, got "
        f"{[round(v, 3) for v in got.tolist()]}",
        diagnosis=diagnosis,
    )


def test_another_model_and_metric(student, reference):
    """Matches the reference on a 1-layer model with another metric (the raw logit difference)"""
    model = tiny_ioi_model(seed=7, n_layers=1)
    clean = IOIDataset.generate(model.tokenizer, 3, seed=4, templates=TEMPLATES)

    def metric_of(clean, clean_logits, corrupted_logits):
        def logit_diff(logits):
            b = torch.arange(len(clean))
            end = logits[b, clean.word_idx["end"]]
            return (end[b, clean.io_tokens] - end[b, clean.s_tokens]).mean()
        return logit_diff

    s = _setting(model, clean, metric_of)
    out = _run(student, s, _copy(s.clean_cache, model))
    with torch.no_grad():
        expected = reference.patch_residual_stream(model, s.corrupted.toks, _copy(s.clean_cache, model), s.metric)
    _assert_grid(out, expected, "patching grid on a 1-layer model", lambda: _mistakes(s))
