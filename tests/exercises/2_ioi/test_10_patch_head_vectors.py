"""Hidden test for exercise 10: patching each head's clean queries, keys, values or attention pattern into
the corrupted run, one head at a time.

Runs on a tiny random TransformerLens model (2 layers x 4 heads, compatibility mode) and 4 IOI prompts of
two lengths, corrupted by flipping S2 to the other name; compares with
`transformer_lens.patching.get_act_patch_attn_head_{q,k,v,pattern}_all_pos` (all four work on a
TransformerBridge) and with the reference on a 1-layer, 8-head model with another metric.
"""

import torch
import transformer_lens.model_bridge  # noqa: F401  (arena's worker pre-imports it: import time is not test time)
import transformer_lens.patching as tl_patching

from arena_cli.testing import check
from arena_course.ioi.testing import PatchingGrid, assert_grid, main_setting_fixture, quiet, sweep

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


setting = main_setting_fixture()
_grid = PatchingGrid("patch_head_vectors", crash=_CRASH, dims="n_layers, n_heads")


def _mistakes(s, activation):
    """What the common mistakes give for `activation` (computed only when the grid is wrong)."""
    n_layers, n_heads = s.model.cfg.n_layers, s.model.cfg.n_heads
    with torch.no_grad():
        out = {}
        if activation == "pattern":
            out["The pattern is (batch, n_heads, q_pos, k_pos): head h is pattern[:, h]. With pattern[:, :, h] you "
                "patched query position h of every head."] = sweep(s, tl_patching.layer_head_vector_patch_setter, "pattern")
        else:
            out[f"hook_{activation} is (batch, seq, n_heads, d_head): head h is act[:, :, h]. With act[:, h] you "
                f"patched position h of every head."] = sweep(s, tl_patching.layer_pos_patch_setter, activation)
        out["You patched the head's output (hook_z) whatever `activation` says: patch the hook "
            f"blocks.L.attn.hook_{{activation}} (here hook_{activation})."] = quiet(
            tl_patching.get_act_patch_attn_head_out_all_pos, s.model, s.corrupted.toks, s.clean_cache, s.metric)
        for other in ACTIVATIONS:
            if other != activation:
                out[f"You patched hook_{other} when asked for {activation!r}: use blocks.L.attn.hook_{{activation}}."] = quiet(
                    TL_SWEEPS[other], s.model, s.corrupted.toks, s.clean_cache, s.metric)
        out["You patched in the wrong direction: the clean prompts with one head's corrupted values. Run the "
            "CORRUPTED tokens with one clean head patched in."] = quiet(
            TL_SWEEPS[activation], s.model, s.clean.toks, s.corrupted_cache, s.metric)
        out["Your patch changed nothing (every value is the corrupted run's): the hook must return the patched "
            "activation (or change it in place), and run_with_hooks must get it as fwd_hooks=[(name, hook_fn)]."] = (
            torch.full((n_layers, n_heads), s.corrupted_metric))
    return out


def _check_against_transformer_lens(student, s, activation):
    out, expected = _grid.against_transformer_lens(student, s, TL_SWEEPS[activation], activation)
    shape = (s.model.cfg.n_layers, s.model.cfg.n_heads)
    check(tuple(out.shape) == shape, f"activation={activation!r}: expected shape {shape} (n_layers, n_heads), got "
          f"{tuple(out.shape)}", diagnosis="Rows are layers (model.cfg.n_layers), columns heads (model.cfg.n_heads).")
    assert_grid(out, expected, f"patching grid for activation={activation!r} {SHAPES[activation]}",
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
    for activation in ("k", "pattern"):
        _grid.check_clean_cache(
            student, setting, f"attn.hook_{activation}", activation, label=f"activation={activation!r}: ",
            fix="the activation the hook receives (act[:, :, head] = clean_cache[hook.name][:, :, head] for q/k/v, "
            "act[:, head] = ... for the pattern).",
        )


def test_another_model_and_metric(student, reference):
    """Matches the reference on a 1-layer, 8-head model with another metric (the raw logit difference)"""
    for activation in ("q", "pattern"):
        out, expected, s = _grid.on_other_setting(student, reference, activation, n_heads=8)
        assert_grid(out, expected, f"activation={activation!r} on a 1-layer, 8-head model",
                    lambda: _mistakes(s, activation))
