"""Hidden test for exercise 8: patching the clean residual stream, attention output and MLP output of every
block, by layer and position, into the corrupted run.

Runs on the main setting of exercises 7-10 (a tiny random model, 2 layers, compatibility mode; 4 IOI prompts
of two lengths, S2 flipped); compares with `transformer_lens.patching.get_act_patch_block_every`, and with
the reference on a 1-layer model with another metric. The student's function is called twice in all.
"""

from functools import partial

import torch
import transformer_lens.model_bridge  # noqa: F401  (arena's worker pre-imports it: import time is not test time)
import transformer_lens.patching as tl_patching

from arena_cli.testing import check
from arena_course.ioi.testing import PatchingGrid, assert_grid, main_setting_fixture, quiet
from arena_course.ioi.testing import whole_layer_patched

_CRASH = (
    "blocks.L.hook_resid_pre, hook_attn_out and hook_mlp_out are all (batch, seq, d_model): position p of every "
    "prompt is activation[:, p]. Run each patch with model.run_with_hooks(corrupted_tokens, fwd_hooks=[(name, "
    "hook_fn)]); loop over range(model.cfg.n_layers) and the positions of corrupted_tokens."
)
ORDER = ("resid_pre", "attn_out", "mlp_out")

setting = main_setting_fixture()
_grid = PatchingGrid("patch_blocks", crash=_CRASH, dims="3, n_layers, seq")


def _per_component(s, name: str) -> torch.Tensor:
    """(n_layers, seq): exercise 7's sweep on `blocks.L.hook_{name}`, e.g. "attn_out", "resid_mid", written the
    way a student writes it (the hook reads clean_cache[hook.name]), so a mistake gives what the student's gives."""
    n_layers, seq = s.model.cfg.n_layers, s.corrupted.toks.shape[1]
    out = torch.zeros(n_layers, seq)

    def patch(activation, hook, pos):
        activation[:, pos] = s.clean_cache[hook.name][:, pos]
        return activation

    with torch.no_grad():
        for layer in range(n_layers):
            for pos in range(seq):
                logits = s.model.run_with_hooks(s.corrupted.toks,
                                                fwd_hooks=[(f"blocks.{layer}.hook_{name}", partial(patch, pos=pos))])
                out[layer, pos] = float(s.metric(logits))
    return out


def _mistakes(s):
    """What the common mistakes give (computed only when the grid is wrong)."""
    g = {name: _per_component(s, name) for name in (*ORDER, "resid_mid", "resid_post")}
    seq, n_layers = s.corrupted.toks.shape[1], s.model.cfg.n_layers
    whole = torch.stack([whole_layer_patched(s, f"hook_{name}")[:, None].expand(n_layers, seq) for name in ORDER])
    stack = lambda *names: torch.stack([g[n] for n in names])  # noqa: E731
    return {
        "Your grids are in the wrong order: [0] resid_pre, [1] attn_out, [2] mlp_out.": stack("resid_pre", "mlp_out", "attn_out"),
        "Your grids are in the wrong order: [0] resid_pre, [1] attn_out, [2] mlp_out (yours starts with "
        "attn_out).": stack("attn_out", "resid_pre", "mlp_out"),
        "Your second grid is blocks.L.hook_resid_mid (the residual stream after attention): the attention "
        "layer's own output is blocks.L.hook_attn_out.": stack("resid_pre", "resid_mid", "mlp_out"),
        "Your third grid is blocks.L.hook_resid_post (the residual stream after the block): the MLP's own output "
        "is blocks.L.hook_mlp_out.": stack("resid_pre", "attn_out", "resid_post"),
        "Your first grid is blocks.L.hook_resid_post: row L of grid [0] is the INPUT of block L, "
        "blocks.L.hook_resid_pre.": stack("resid_post", "attn_out", "mlp_out"),
        "You patched every position of a layer at once: copy the clean values at one position p only, "
        "activation[:, p] = clean_cache[hook.name][:, p].": whole,
        "Your patch changed nothing (every value is the corrupted run's): the hook must return the patched "
        "activation, and run_with_hooks must get it as fwd_hooks=[(name, hook_fn)].":
            torch.full((3, n_layers, seq), s.corrupted_metric),
    }


def test_shape(student, setting):
    """Returns a (3, n_layers, seq) tensor"""
    out, _ = _grid.main_run(student, setting)
    shape = (3, setting.model.cfg.n_layers, setting.corrupted.toks.shape[1])
    check(
        tuple(out.shape) == shape,
        f"expected shape {shape} (3 components, n_layers, seq), got {tuple(out.shape)}",
        diagnosis="Stack the three grids (resid_pre, attn_out, mlp_out) along a new first dimension, each "
        "(n_layers, seq): torch.stack([...]) or a torch.zeros(3, n_layers, seq) you fill in.",
    )


def test_matches_transformer_lens(student, setting):
    """Matches transformer_lens.patching.get_act_patch_block_every (3 x 2 layers x 16 positions)"""
    out, _ = _grid.main_run(student, setting)
    with torch.no_grad():
        expected = quiet(tl_patching.get_act_patch_block_every, setting.model, setting.corrupted.toks,
                         setting.clean_cache, setting.metric)
    assert_grid(out, expected, "block patching grid (component, layer, pos)", lambda: _mistakes(setting))


def test_clean_cache_unchanged(student, setting):
    """Leaves clean_cache unchanged (clean values go INTO the corrupted run, never the reverse)"""
    for hook in ("hook_resid_pre", "hook_attn_out", "hook_mlp_out"):
        _grid.check_clean_cache(student, setting, hook, where="positions",
                                fix="the activation the hook receives: activation[:, pos] = clean_cache[hook.name][:, pos].")


def test_another_model_and_metric(student, reference):
    """Matches the reference on a 1-layer model with another metric (the raw logit difference)"""
    out, expected, s = _grid.on_other_setting(student, reference)
    assert_grid(out, expected, "block patching grid on a 1-layer model", lambda: _mistakes(s))
