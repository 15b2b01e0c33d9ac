"""Hidden test for exercise 4: a residual stack (at each prompt's end) -> its direct logit attribution,
through the final LayerNorm's scale at each prompt's end position, averaged over the prompts.

Runs on an untrained tiny TransformerBridge (2 layers, d_model 32) in compatibility mode, as the results
use it, on 8 prompts of different lengths (so position -1 is padding for most of them, and its LayerNorm
scale differs from the end position's). The directions come from the reference of exercise 3.
"""

import einops
import pytest
import torch

from arena_cli.testing import assert_close, check
from arena_course.ioi.attribution import at_end
from arena_course.ioi.testing import attribution_setting, returned_tensor

N = 8

_CRASH = (
    "residual_stack is (..., batch, d_model); cache['ln_final.hook_scale'] is (batch, seq, 1): index it "
    "with [torch.arange(batch), data.word_idx['end']] to get (batch, 1), which divides the stack by "
    "broadcasting. einops.einsum(scaled, directions, '... batch d_model, batch d_model -> ...') projects "
    "and sums over the batch for any number of leading dimensions."
)


@pytest.fixture(scope="module")
def setting(reference_of):
    return attribution_setting(reference_of, seed=2, data_seed=7, n=N)


def _run(student, stack, cache, data, directions):
    return returned_tensor(student.residual_stack_to_logit_diff, stack, cache, data, directions, crash=_CRASH,
                           expected="a tensor")


def _mistakes(stack, cache, data, directions):
    """What each common mistake returns for this stack."""
    batch = torch.arange(len(data))
    scales = cache["ln_final.hook_scale"]

    def attr(scale, reduce="mean"):
        centred = stack - stack.mean(-1, keepdim=True)
        proj = einops.einsum(centred / scale, directions, "... batch d, batch d -> ... batch")
        return {"sum": proj.sum(-1), "mean": proj.mean(-1), "none": proj}[reduce]

    end_scale = scales[batch, data.word_idx["end"]]
    return {
        "You read the LayerNorm scale at position -1 (as `cache.apply_ln_to_stack(stack, layer=-1, pos_slice=-1)` "
        "does): the prompts are padded on the right, so position -1 is padding for the shorter ones. Take "
        "cache['ln_final.hook_scale'][torch.arange(batch), data.word_idx['end']].": attr(scales[:, -1]),
        "You forgot the final LayerNorm's scale: divide the stack by cache['ln_final.hook_scale'] at each "
        "prompt's end position before projecting.": attr(torch.ones_like(end_scale)),
        "You multiplied by the LayerNorm scale: LayerNorm divides by it.": attr(1 / end_scale),
        "You read the LayerNorm scale at S2: the logits are read at the end position, data.word_idx['end'].":
            attr(scales[batch, data.word_idx["S2"]]),
        "You used one scale for every prompt (a mean over the cache): each prompt has its own scale at its own "
        "end position.": attr(end_scale.mean()),
        "You summed over the prompts: average them (the mean logit difference).": attr(end_scale, reduce="sum"),
        "You returned one value per prompt: average over the batch dimension (the last one after projecting).":
            attr(end_scale, reduce="none"),
        "You divided by the scale of the first LayerNorm of the last block (blocks.L.ln1 / ln2): the logits come "
        "after the final LayerNorm, 'ln_final.hook_scale'.": attr(
            cache[f"blocks.{cache.model.cfg.n_layers - 1}.ln2.hook_scale"][batch, data.word_idx["end"]]
        ),
    }


def test_final_residual_gives_logit_diff(student, setting):
    """The whole final residual stream (a stack of one component) gives the model's mean logit difference"""
    model, data, logits, cache, directions = setting
    batch = torch.arange(N)
    end_logits = logits[batch, data.word_idx["end"]]
    logit_diff = (end_logits[batch, data.io_tokens] - end_logits[batch, data.s_tokens]).mean()
    assert float(model.b_U.abs().max()) == 0.0  # untrained: no b_U term
    stack = at_end(cache["resid_post", model.cfg.n_layers - 1], data)[None]  # (1, batch, d_model)
    actual = _run(student, stack, cache, data, directions)
    assert_close(actual, logit_diff[None], name="attribution of the final residual stream vs the mean logit difference",
                 mistakes=_mistakes(stack, cache, data, directions), check_dtype=False,
                 diagnosis="The final residual stream, through the final LayerNorm (centre, divide by the scale at "
                 "each end) and projected on the directions, is exactly the logit difference: average it over the prompts.")


def test_accumulated_matches_reference(student, reference, setting):
    """The accumulated residual stream at every layer (component, batch, d_model) -> (component,)"""
    model, data, logits, cache, directions = setting
    stack = at_end(cache.accumulated_resid(layer=-1, incl_mid=True), data)
    expected = reference.residual_stack_to_logit_diff(stack, cache, data, directions)
    actual = _run(student, stack, cache, data, directions)
    assert_close(actual, expected, name="attribution of the accumulated residual stream",
                 mistakes=_mistakes(stack, cache, data, directions), check_dtype=False)


def test_leading_dimensions(student, reference, setting):
    """Any leading dimensions: (layer, head, batch, d_model) -> (layer, head), and (batch, d_model) -> a scalar"""
    model, data, logits, cache, directions = setting
    heads = at_end(cache.stack_head_results(layer=-1), data)  # (layer*head, batch, d_model)
    heads = einops.rearrange(heads, "(layer head) batch d -> layer head batch d", layer=model.cfg.n_layers)
    expected = reference.residual_stack_to_logit_diff(heads, cache, data, directions)
    actual = _run(student, heads, cache, data, directions)
    assert_close(actual, expected, name="attribution of a (layer, head, batch, d_model) stack",
                 mistakes=_mistakes(heads, cache, data, directions), check_dtype=False,
                 diagnosis="Project with einops.einsum(..., '... batch d_model, batch d_model -> ... batch') and "
                 "average the last dimension: the leading dimensions must come through unchanged.")
    single = heads[1, 2]  # (batch, d_model): no leading dimension
    actual = _run(student, single, cache, data, directions)
    assert_close(actual, expected[1, 2], name="attribution of a (batch, d_model) stack (expect a 0-d tensor)",
                 check_dtype=False)


def test_components_add_up(student, setting):
    """Linearity: the components of decompose_resid add up to the whole final residual stream's attribution"""
    model, data, logits, cache, directions = setting
    pieces = at_end(cache.decompose_resid(layer=-1), data)
    whole = at_end(cache["resid_post", model.cfg.n_layers - 1], data)[None]
    parts = _run(student, pieces, cache, data, directions)
    total = _run(student, whole, cache, data, directions)
    check(tuple(parts.shape) == (pieces.shape[0],),
          f"expected one value per component, shape ({pieces.shape[0]},), got {tuple(parts.shape)}")
    assert_close(parts.sum(), total[0], name="sum of the components' attributions vs the whole stream's",
                 check_dtype=False,
                 diagnosis="Every component must be divided by the same per-prompt scale (frozen from the forward "
                 "pass), not normalised by its own statistics: then the shares add up.")
