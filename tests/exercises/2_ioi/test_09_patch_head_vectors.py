"""Hidden test for exercise 9: patching each head's clean queries, keys, values or attention pattern into
the corrupted run, one head at a time.

Runs on a tiny random TransformerLens model (2 layers x 4 heads, compatibility mode) and 4 IOI prompts of
two lengths, corrupted by flipping S2 to the other name; compares with
`transformer_lens.patching.get_act_patch_attn_head_{q,k,v,pattern}_all_pos` (all four work on a
TransformerBridge) and with the reference on a 1-layer, 8-head model with another metric.
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

TEMPLATES = (BABA_TEMPLATES[5], BABA_TEMPLATES[14])  # 15 and 16 tokens with BOS
ACTIVATIONS = ("q", "k", "v", "pattern")
TL_SWEEPS = {
    "q": tl_patching.get_act_patch_attn_head_q_all_pos,
    "k": tl_patching.get_act_patch_attn_head_k_all_pos,
    "v": tl_patching.get_act_patch_attn_head_v_all_pos,
    "pattern": tl_patching.get_act_patch_attn_head_pattern_all_pos,
}
SHAPES = {
    "q": "(batch, seq, n_heads, d_head)",
    "k": "(batch, seq, n_heads, d_head)",
    "v": "(batch, seq, n_heads, d_head)",
    "pattern": "(batch, n_heads, q_pos, k_pos)",
}
_CRASH = (
    "The hook is blocks.L.attn.hook_{activation}. q, k and v are (batch, seq, n_heads, d_head): head h is "
    "act[:, :, h]. The pattern is (batch, n_heads, q_pos, k_pos): head h is act[:, h]. A KeyError naming a "
    "hook: check its name, and loop over range(model.cfg.n_layers) and range(model.cfg.n_heads)."
)


def _quiet(fn, *args, **kwargs):
    """Call a transformer_lens.patching function without its progress bar."""
    with mock.patch.object(tl_patching, "tqdm", lambda rows: rows):
        return fn(*args, **kwargs)


def _copy(cache: ActivationCache, model) -> ActivationCache:
    """A copy of the cache whose aliases (a hook's bridge name and its legacy name) stay one tensor."""
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


@pytest.fixture(scope="module")
def setting(reference_of):
    """2 layers x 4 heads, 4 prompts of two lengths, the IOI metric (0 corrupted, 1 clean)."""
    metrics = reference_of("ioi_metric")
    model = tiny_ioi_model(seed=3)
    model.enable_compatibility_mode(disable_warnings=True)
    clean = IOIDataset.generate(model.tokenizer, 4, seed=1, templates=TEMPLATES)

    def metric_of(clean, clean_logits, corrupted_logits):
        clean_ld = float(metrics.ioi_logit_diff(clean_logits, clean))
        corrupted_ld = float(metrics.ioi_logit_diff(corrupted_logits, clean))
        return partial(metrics.ioi_metric, data=clean, clean_logit_diff=clean_ld, corrupted_logit_diff=corrupted_ld)

    return _setting(model, clean, metric_of)


_runs: dict = {}  # (student module, activation) -> (grid, cache): one run per activation, shared by the tests


def _main_run(student, s, activation):
    """(grid, the clean cache it was given): the student's function on the main setting, once per activation."""
    if (student, activation) not in _runs:
        cache = _copy(s.clean_cache, s.model)
        _runs[student, activation] = (_run(student, s, cache, activation), cache)
    return _runs[student, activation]


def _run(student, s, cache, activation):
    out = call_student(student.patch_head_vectors, s.model, s.corrupted.toks, cache, s.metric, activation,
                       diagnosis=_CRASH)
    check(out is not None, "patch_head_vectors returned None", diagnosis="Did you forget a `return`?")
    check(
        isinstance(out, torch.Tensor),
        f"patch_head_vectors returned a {type(out).__name__}, expected a (n_layers, n_heads) tensor",
        diagnosis="Store the metric values in a tensor, e.g. results = torch.zeros(n_layers, n_heads).",
    )
    return out.detach().float()


def _head_sweep(s, setter, activation):
    return _quiet(
        tl_patching.generic_activation_patch, s.model, s.corrupted.toks, s.clean_cache, s.metric,
        patch_setter=setter, activation_name=activation, index_axis_names=("layer", "head"),
    )


def _mistakes(s, activation):
    """What the common mistakes give for `activation` (computed only when the grid is wrong)."""
    n_layers, n_heads = s.model.cfg.n_layers, s.model.cfg.n_heads
    with torch.no_grad():
        out = {}
        if activation == "pattern":
            out["The pattern is (batch, n_heads, q_pos, k_pos): head h is pattern[:, h]. With pattern[:, :, h] you "
                "patched query position h of every head."] = _head_sweep(s, tl_patching.layer_head_vector_patch_setter, "pattern")
        else:
            out[f"hook_{activation} is (batch, seq, n_heads, d_head): head h is act[:, :, h]. With act[:, h] you "
                f"patched position h of every head."] = _head_sweep(s, tl_patching.layer_pos_patch_setter, activation)
        out["You patched the head's output (hook_z) whatever `activation` says: patch the hook "
            f"blocks.L.attn.hook_{{activation}} (here hook_{activation})."] = _quiet(
            tl_patching.get_act_patch_attn_head_out_all_pos, s.model, s.corrupted.toks, s.clean_cache, s.metric)
        for other in ACTIVATIONS:
            if other != activation:
                out[f"You patched hook_{other} when asked for {activation!r}: use blocks.L.attn.hook_{{activation}}."] = _quiet(
                    TL_SWEEPS[other], s.model, s.corrupted.toks, s.clean_cache, s.metric)
        out["You patched in the wrong direction: the clean prompts with one head's corrupted values. Run the "
            "CORRUPTED tokens with one clean head patched in."] = _quiet(
            TL_SWEEPS[activation], s.model, s.clean.toks, s.corrupted_cache, s.metric)
        out["Your patch changed nothing (every value is the corrupted run's): the hook must return the patched "
            "activation (or change it in place), and run_with_hooks must get it as fwd_hooks=[(name, hook_fn)]."] = (
            torch.full((n_layers, n_heads), s.corrupted_metric))
    return out


def _assert_grid(actual, expected, name, mistakes_of):
    close = actual.shape == expected.shape and torch.allclose(actual, expected.float(), atol=1e-4, rtol=1e-3)
    assert_close(actual, expected.float(), name=name, atol=1e-4, rtol=1e-3, check_dtype=False,
                 mistakes=None if close else mistakes_of())


def _check_against_transformer_lens(student, s, activation):
    out, _ = _main_run(student, s, activation)
    with torch.no_grad():
        expected = _quiet(TL_SWEEPS[activation], s.model, s.corrupted.toks, s.clean_cache, s.metric)
    shape = (s.model.cfg.n_layers, s.model.cfg.n_heads)
    check(tuple(out.shape) == shape, f"activation={activation!r}: expected shape {shape} (n_layers, n_heads), got "
          f"{tuple(out.shape)}", diagnosis="Rows are layers (model.cfg.n_layers), columns heads (model.cfg.n_heads).")
    _assert_grid(out, expected, f"patching grid for activation={activation!r} {SHAPES[activation]}",
                 lambda: _mistakes(s, activation))


def test_queries(student, setting):
    """Queries: matches transformer_lens.patching.get_act_patch_attn_head_q_all_pos"""
    _check_against_transformer_lens(student, setting, "q")


def test_keys(student, setting):
    """Keys: matches transformer_lens.patching.get_act_patch_attn_head_k_all_pos"""
    _check_against_transformer_lens(student, setting, "k")


def test_values(student, setting):
    """Values: matches transformer_lens.patching.get_act_patch_attn_head_v_all_pos"""
    _check_against_transformer_lens(student, setting, "v")


def test_patterns(student, setting):
    """Patterns: matches transformer_lens.patching.get_act_patch_attn_head_pattern_all_pos"""
    _check_against_transformer_lens(student, setting, "pattern")


def test_clean_cache_unchanged(student, setting):
    """Leaves clean_cache unchanged (clean values go INTO the corrupted run, never the reverse)"""
    s = setting
    for activation in ("k", "pattern"):
        _, cache = _main_run(student, s, activation)
        names = [f"blocks.{layer}.attn.hook_{activation}" for layer in range(s.model.cfg.n_layers)]
        for name in names + [k for k in cache.keys() if k not in names]:
            mine, clean = cache[name], s.clean_cache[name]
            if mine.shape == clean.shape and torch.equal(mine, clean):
                continue
            check(
                False,
                f"activation={activation!r}: clean_cache['{name}'] was changed by your function",
                diagnosis="Your hook wrote into the clean cache: that patches corrupted values into the clean ones, "
                "the wrong direction, and spoils every later patch. Write into the activation the hook receives "
                "(act[:, :, head] = clean_cache[hook.name][:, :, head] for q/k/v, act[:, head] = ... for the pattern).",
            )


def test_another_model_and_metric(student, reference):
    """Matches the reference on a 1-layer, 8-head model with another metric (the raw logit difference)"""
    model = tiny_ioi_model(seed=7, n_layers=1, n_heads=8)
    clean = IOIDataset.generate(model.tokenizer, 3, seed=4, templates=TEMPLATES)

    def metric_of(clean, clean_logits, corrupted_logits):
        def logit_diff(logits):
            b = torch.arange(len(clean))
            end = logits[b, clean.word_idx["end"]]
            return (end[b, clean.io_tokens] - end[b, clean.s_tokens]).mean()
        return logit_diff

    s = _setting(model, clean, metric_of)
    for activation in ("q", "pattern"):
        out = _run(student, s, _copy(s.clean_cache, model), activation)
        with torch.no_grad():
            expected = reference.patch_head_vectors(model, s.corrupted.toks, _copy(s.clean_cache, model), s.metric, activation)
        _assert_grid(out, expected, f"activation={activation!r} on a 1-layer, 8-head model",
                     lambda: _mistakes(s, activation))
