"""Hidden test for exercise 7: patching the clean residual stream (resid_pre) into the corrupted run, by
layer and position.

Runs on a tiny random TransformerLens model (2 layers, compatibility mode) and 4 IOI prompts of two
templates (15 and 16 tokens: padded on the right), corrupted by flipping S2 to the other name; compares with
`transformer_lens.patching.get_act_patch_resid_pre` (which works on a TransformerBridge) and with the
reference on a 1-layer model with another metric. The student's function is called twice in all.
"""

import torch
import transformer_lens.model_bridge  # noqa: F401  (arena's worker pre-imports it: import time is not test time)
import transformer_lens.patching as tl_patching

from arena_cli.testing import check
from arena_course.ioi.testing import PatchingGrid, assert_grid, copy_cache, main_setting_fixture, quiet, sweep
from arena_course.ioi.testing import whole_layer_patched

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


setting = main_setting_fixture()
_grid = PatchingGrid("patch_residual_stream", crash=_CRASH, dims="n_layers, seq")


def _mistakes(s):
    """What the common mistakes give on the setting (computed only when the grid is wrong)."""
    seq, n_layers = s.corrupted.toks.shape[1], s.model.cfg.n_layers

    def mutate_clean(corrupted_act, index, clean_act):
        clean_act[:, index[1]] = corrupted_act[:, index[1]]  # writes into the cache, and runs the clean values
        return clean_act

    with torch.no_grad():
        return {
            _DIRECTION: quiet(tl_patching.get_act_patch_resid_pre, s.model, s.clean.toks, s.corrupted_cache, s.metric),
            _DIRECTION + " (Your hook also wrote corrupted values into clean_cache: only read it.)": sweep(
                s, mutate_clean, "resid_pre", ("layer", "pos"), cache=copy_cache(s.clean_cache, s.model)),
            "You patched every position of the layer at once: copy the clean values at one position p only, "
            "activation[:, p] = clean_cache[hook.name][:, p].":
                whole_layer_patched(s, "hook_resid_pre")[:, None].expand(n_layers, seq),
            "Your patch changed nothing (every value is the corrupted run's): the hook must return the patched "
            "activation (or change it in place), and run_with_hooks must get it as fwd_hooks=[(name, hook_fn)].":
                torch.full((n_layers, seq), s.corrupted_metric),
            "You patched blocks.L.hook_resid_post (the output of block L): row L is the input of block L, "
            "blocks.L.hook_resid_pre.": sweep(s, tl_patching.layer_pos_patch_setter, "resid_post", ("layer", "pos")),
        }


def test_shape(student, setting):
    """Returns an (n_layers, seq) tensor"""
    out, _ = _grid.main_run(student, setting)
    _grid.check_shape(out, (setting.model.cfg.n_layers, setting.corrupted.toks.shape[1]),
                      "positions (corrupted_tokens.shape[1])")


def test_matches_transformer_lens(student, setting):
    """Matches transformer_lens.patching.get_act_patch_resid_pre (2 layers x 16 positions)"""
    out, expected = _grid.against_transformer_lens(student, setting, tl_patching.get_act_patch_resid_pre)
    assert_grid(out, expected, "patching grid (layer, pos)", lambda: _mistakes(setting))


def test_clean_cache_unchanged(student, setting):
    """Leaves clean_cache unchanged (clean values go INTO the corrupted run, never the reverse)"""
    _grid.check_clean_cache(student, setting, "hook_resid_pre", where="positions",
                            fix="the activation the hook receives: activation[:, pos] = clean_cache[hook.name][:, pos].")


def test_unchanged_tokens_give_zero(student, setting):
    """Layer 0, a position with the same token in both runs: patching changes nothing (metric 0)

    At layer 0 the residual stream is the embeddings: where the clean and corrupted tokens agree, the clean
    and corrupted values are equal, and the metric stays at the corrupted run's 0."""
    s = setting
    out, _ = _grid.main_run(student, s)
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
    out, expected, s = _grid.on_other_setting(student, reference)
    assert_grid(out, expected, "patching grid on a 1-layer model", lambda: _mistakes(s))
