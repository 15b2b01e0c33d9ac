"""Hidden test for exercise 9: patching each head's clean output (hook_z, all positions) into the corrupted
run, one head at a time.

Runs on a tiny random TransformerLens model (2 layers x 4 heads, compatibility mode) and 4 IOI prompts of
two lengths, corrupted by flipping S2 to the other name; compares with
`transformer_lens.patching.get_act_patch_attn_head_out_all_pos` (which works on a TransformerBridge) and with
the reference on a 1-layer, 8-head model with another metric.
"""

import torch
import transformer_lens.model_bridge  # noqa: F401  (arena's worker pre-imports it: import time is not test time)
import transformer_lens.patching as tl_patching

from arena_course.ioi.testing import PatchingGrid, assert_grid, copy_cache, main_setting_fixture, quiet, sweep
from arena_course.ioi.testing import whole_layer_patched

_CRASH = (
    "blocks.L.attn.hook_z is (batch, seq, n_heads, d_head): head h at every position of every prompt is "
    "z[:, :, h]. The hook is called as hook_fn(z, hook) and returns the activation to use. A KeyError naming "
    "a hook: loop over range(model.cfg.n_layers) and range(model.cfg.n_heads)."
)
_DIRECTION = (
    "You patched in the wrong direction: the clean z with one head's corrupted values. Run the CORRUPTED "
    "tokens and copy the clean head in: z[:, :, head] = clean_cache[hook.name][:, :, head]; return z."
)


setting = main_setting_fixture()
_grid = PatchingGrid("patch_head_outputs", crash=_CRASH, dims="n_layers, n_heads")


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
        return {
            _DIRECTION: sweep(s, noise_clone, "z"),
            _DIRECTION + " (Your hook also wrote corrupted values into clean_cache: only read it.)":
                sweep(s, noise_in_place, "z", cache=copy_cache(s.clean_cache, model)),
            "You ran the clean prompts with one head's corrupted output: the wrong direction. Run the CORRUPTED "
            "tokens with one clean head patched in.": quiet(
                tl_patching.get_act_patch_attn_head_out_all_pos, model, s.clean.toks, s.corrupted_cache, s.metric),
            "You indexed the position dimension: z is (batch, seq, n_heads, d_head), so head h is z[:, :, h], not "
            "z[:, h] (that is position h of every head).": sweep(s, tl_patching.layer_pos_patch_setter, "z"),
            "You patched every head of the layer at once: copy the clean values of one head only, "
            "z[:, :, head] = clean_cache[hook.name][:, :, head].":
                whole_layer_patched(s, "attn.hook_z")[:, None].expand(n_layers, n_heads),
            "Your patch changed nothing (every value is the corrupted run's): the hook must return the patched "
            "z (or change it in place), and run_with_hooks must get it as fwd_hooks=[(name, hook_fn)].":
                torch.full((n_layers, n_heads), s.corrupted_metric),
            "You patched the values (hook_v): a head's output is its z (hook_z), the attention-weighted values.":
                sweep(s, tl_patching.layer_head_vector_patch_setter, "v"),
            "You patched the queries (hook_q): a head's output is its z (hook_z).":
                sweep(s, tl_patching.layer_head_vector_patch_setter, "q"),
        }


def test_shape(student, setting):
    """Returns an (n_layers, n_heads) tensor"""
    out, _ = _grid.main_run(student, setting)
    _grid.check_shape(out, (setting.model.cfg.n_layers, setting.model.cfg.n_heads), "heads (model.cfg.n_heads)")


def test_matches_transformer_lens(student, setting):
    """Matches transformer_lens.patching.get_act_patch_attn_head_out_all_pos (2 layers x 4 heads)"""
    out, expected = _grid.against_transformer_lens(student, setting, tl_patching.get_act_patch_attn_head_out_all_pos)
    assert_grid(out, expected, "patching grid (layer, head)", lambda: _mistakes(setting))


def test_clean_cache_unchanged(student, setting):
    """Leaves clean_cache unchanged (clean values go INTO the corrupted run, never the reverse)"""
    _grid.check_clean_cache(student, setting, "attn.hook_z", where="heads",
                            fix="the z the hook receives: z[:, :, head] = clean_cache[hook.name][:, :, head].")


def test_another_model_and_metric(student, reference):
    """Matches the reference on a 1-layer, 8-head model with another metric (the raw logit difference)"""
    out, expected, s = _grid.on_other_setting(student, reference, n_heads=8)
    assert_grid(out, expected, "patching grid on a 1-layer, 8-head model", lambda: _mistakes(s))
