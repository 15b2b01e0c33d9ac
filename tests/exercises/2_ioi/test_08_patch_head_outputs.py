"""Hidden test for exercise 8: patching each head's clean output (hook_z, all positions) into the corrupted
run, one head at a time.

Runs on a tiny random TransformerLens model (2 layers x 4 heads, compatibility mode) and 4 IOI prompts of
two lengths, corrupted by flipping S2 to the other name; compares with
`transformer_lens.patching.get_act_patch_attn_head_out_all_pos` (which works on a TransformerBridge) and with
the reference on a 1-layer, 8-head model with another metric.
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

_CRASH = (
    "blocks.L.attn.hook_z is (batch, seq, n_heads, d_head): head h at every position of every prompt is "
    "z[:, :, h]. The hook is called as hook_fn(z, hook) and returns the activation to use. A KeyError naming "
    "a hook: loop over range(model.cfg.n_layers) and range(model.cfg.n_heads)."
)
_DIRECTION = (
    "You patched in the wrong direction: the clean z with one head's corrupted values. Run the CORRUPTED "
    "tokens and copy the clean head in: z[:, :, head] = clean_cache[hook.name][:, :, head]; return z."
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


_runs: dict = {}  # student module -> (grid, cache): one run shared by the tests of the main setting


def _main_run(student, s):
    """(grid, the clean cache it was given): the student's function on the main setting, run once."""
    if student not in _runs:
        cache = _copy(s.clean_cache, s.model)
        _runs[student] = (_run(student, s, cache), cache)
    return _runs[student]


def _run(student, s, cache):
    out = call_student(student.patch_head_outputs, s.model, s.corrupted.toks, cache, s.metric, diagnosis=_CRASH)
    check(out is not None, "patch_head_outputs returned None", diagnosis="Did you forget a `return`?")
    check(
        isinstance(out, torch.Tensor),
        f"patch_head_outputs returned a {type(out).__name__}, expected a (n_layers, n_heads) tensor",
        diagnosis="Store the metric values in a tensor, e.g. results = torch.zeros(n_layers, n_heads).",
    )
    return out.detach().float()


def _head_sweep(s, setter, activation="z", cache=None, tokens=None):
    """generic_activation_patch over (layer, head) with a given patch setter: what a mistake computes."""
    return _quiet(
        tl_patching.generic_activation_patch, s.model, s.corrupted.toks if tokens is None else tokens,
        s.clean_cache if cache is None else cache, s.metric, patch_setter=setter, activation_name=activation,
        index_axis_names=("layer", "head"),
    )


def _mistakes(s):
    """What the common mistakes give on the setting (computed only when the grid is wrong)."""
    model = s.model
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads

    def noise_clone(corrupted_z, index, clean_z):
        new = clean_z.clone()
        new[:, :, index[1]] = corrupted_z[:, :, index[1]]
        return new

    def noise_in_place(corrupted_z, index, clean_z):
        clean_z[:, :, index[1]] = corrupted_z[:, :, index[1]]
        return clean_z

    with torch.no_grad():
        whole_layer = []
        for layer in range(n_layers):
            name = f"blocks.{layer}.attn.hook_z"
            logits = model.run_with_hooks(s.corrupted.toks, fwd_hooks=[(name, lambda z, hook: s.clean_cache[hook.name])])
            whole_layer.append(float(s.metric(logits)))
        return {
            _DIRECTION: _head_sweep(s, noise_clone),
            _DIRECTION + " (Your hook also wrote corrupted values into clean_cache: only read it.)":
                _head_sweep(s, noise_in_place, cache=_copy(s.clean_cache, model)),
            "You ran the clean prompts with one head's corrupted output: the wrong direction. Run the CORRUPTED "
            "tokens with one clean head patched in.": _quiet(
                tl_patching.get_act_patch_attn_head_out_all_pos, model, s.clean.toks, s.corrupted_cache, s.metric),
            "You indexed the position dimension: z is (batch, seq, n_heads, d_head), so head h is z[:, :, h], not "
            "z[:, h] (that is position h of every head).": _head_sweep(s, tl_patching.layer_pos_patch_setter),
            "You patched every head of the layer at once: copy the clean values of one head only, "
            "z[:, :, head] = clean_cache[hook.name][:, :, head].":
                torch.tensor(whole_layer)[:, None].expand(n_layers, n_heads),
            "Your patch changed nothing (every value is the corrupted run's): the hook must return the patched "
            "z (or change it in place), and run_with_hooks must get it as fwd_hooks=[(name, hook_fn)].":
                torch.full((n_layers, n_heads), s.corrupted_metric),
            "You patched the values (hook_v): a head's output is its z (hook_z), the attention-weighted values.":
                _head_sweep(s, tl_patching.layer_head_vector_patch_setter, "v"),
            "You patched the queries (hook_q): a head's output is its z (hook_z).":
                _head_sweep(s, tl_patching.layer_head_vector_patch_setter, "q"),
        }


def _assert_grid(actual, expected, name, mistakes_of):
    close = actual.shape == expected.shape and torch.allclose(actual, expected.float(), atol=1e-4, rtol=1e-3)
    assert_close(actual, expected.float(), name=name, atol=1e-4, rtol=1e-3, check_dtype=False,
                 mistakes=None if close else mistakes_of())


def test_shape(student, setting):
    """Returns an (n_layers, n_heads) tensor"""
    s = setting
    out, _ = _main_run(student, s)
    shape = (s.model.cfg.n_layers, s.model.cfg.n_heads)
    check(
        tuple(out.shape) == shape,
        f"expected shape {shape} (n_layers, n_heads), got {tuple(out.shape)}",
        diagnosis="Rows are layers (model.cfg.n_layers), columns heads (model.cfg.n_heads)."
        + (" Yours is transposed." if tuple(out.shape) == shape[::-1] else ""),
    )


def test_matches_transformer_lens(student, setting):
    """Matches transformer_lens.patching.get_act_patch_attn_head_out_all_pos (2 layers x 4 heads)"""
    s = setting
    out, _ = _main_run(student, s)
    with torch.no_grad():
        expected = _quiet(tl_patching.get_act_patch_attn_head_out_all_pos, s.model, s.corrupted.toks, s.clean_cache, s.metric)
    _assert_grid(out, expected, "patching grid (layer, head)", lambda: _mistakes(s))


def test_clean_cache_unchanged(student, setting):
    """Leaves clean_cache unchanged (clean values go INTO the corrupted run, never the reverse)"""
    s = setting
    _, cache = _main_run(student, s)
    names = [f"blocks.{layer}.attn.hook_z" for layer in range(s.model.cfg.n_layers)]
    for name in names + [k for k in cache.keys() if k not in names]:
        mine, clean = cache[name], s.clean_cache[name]
        if mine.shape == clean.shape and torch.equal(mine, clean):
            continue
        where = ""
        if mine.shape == clean.shape and mine.dim() == 4 and name.endswith("hook_z"):
            heads = (mine != clean).any(dim=-1).any(dim=0).any(dim=0)
            where = f", heads {heads.nonzero().flatten().tolist()}"
        check(
            False,
            f"clean_cache['{name}'] was changed by your function{where}",
            diagnosis="Your hook wrote into the clean cache: that patches corrupted values into the clean ones, "
            "the wrong direction, and spoils every later patch. Write into the z the hook receives: "
            "z[:, :, head] = clean_cache[hook.name][:, :, head].",
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
    out = _run(student, s, _copy(s.clean_cache, model))
    with torch.no_grad():
        expected = reference.patch_head_outputs(model, s.corrupted.toks, _copy(s.clean_cache, model), s.metric)
    _assert_grid(out, expected, "patching grid on a 1-layer, 8-head model", lambda: _mistakes(s))
