"""Hidden test for exercise 5: each attention head's direct contribution to the mean logit difference,
shape (layer, head).

Runs on an untrained tiny TransformerBridge (2 layers of 4 heads, d_model 32) in compatibility mode, on 8
prompts of different lengths (position -1 is padding for most of them), and on a 3 x 3 model where
(layer, head) and (head, layer) have the same shape. Directions come from the reference of exercise 3.
"""

import pytest
import torch

from arena_cli.testing import assert_close, check
from arena_course.ioi.attribution import at_end, residual_stack_to_logit_diff
from arena_course.ioi.testing import attribution_setting, returned_tensor

N = 8

_CRASH = (
    "cache.stack_head_results(layer=-1) is (n_layers * n_heads, batch, seq, d_model); index it with "
    "[:, torch.arange(batch), data.word_idx['end']] to get (n_layers * n_heads, batch, d_model), pass that to "
    "residual_stack_to_logit_diff, and rearrange the (n_layers * n_heads,) result to (layer, head)."
)


def _setting(reference_of, seed, **kwargs):
    model, data, _, cache, directions = attribution_setting(reference_of, seed=seed, data_seed=seed + 10, n=N, **kwargs)
    return model, data, cache, directions


@pytest.fixture(scope="module")
def setting(reference_of):
    return _setting(reference_of, seed=3)


def _run(student, model, cache, data, directions):
    return returned_tensor(student.head_logit_attribution, model, cache, data, directions, crash=_CRASH,
                           expected="a (layer, head) tensor")


def _mistakes(model, cache, data, directions):
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    heads = cache.stack_head_results(layer=-1)
    right = residual_stack_to_logit_diff(at_end(heads, data), cache, data, directions)
    last = residual_stack_to_logit_diff(heads[:, :, -1], cache, data, directions)
    twice = residual_stack_to_logit_diff(at_end(cache.stack_head_results(layer=-1, apply_ln=True), data), cache,
                                         data, directions)
    return {
        "You took the heads' outputs at position -1 (pos_slice=-1?): the prompts are padded on the right, so "
        "position -1 is padding for the shorter ones. Take each prompt's end: "
        "stack[:, torch.arange(batch), data.word_idx['end']].": last.reshape(n_layers, n_heads),
        "You applied the final LayerNorm's scale twice: stack_head_results(apply_ln=True) already divides by it, "
        "and residual_stack_to_logit_diff divides again. Leave apply_ln off.": twice.reshape(n_layers, n_heads),
        "Your (layer, head) grid is in the wrong order: stack_head_results lists L0H0, L0H1, ..., so the flat "
        "index is layer * n_heads + head: rearrange '(layer head) -> layer head'.":
            right.reshape(n_heads, n_layers).T,
        "You returned (head, layer): the answer is indexed [layer, head].": right.reshape(n_layers, n_heads).T,
        "You returned the flat (n_layers * n_heads,) vector: reshape it to (layer, head).": right,
    }


def test_matches_reference(student, reference, setting):
    """Matches the reference on a 2-layer, 4-head model: shape (layer, head), each prompt read at its end"""
    model, data, cache, directions = setting
    expected = reference.head_logit_attribution(model, cache, data, directions)
    actual = _run(student, model, cache, data, directions)
    assert_close(actual, expected, name="head_logit_attribution (2 layers x 4 heads)",
                 mistakes=_mistakes(model, cache, data, directions), check_dtype=False)


def test_square_grid_order(student, reference_of):
    """On a 3-layer, 3-head model, entry [L, h] is head h of layer L (not head L of layer h)"""
    model, data, cache, directions = _setting(reference_of, seed=4, n_layers=3, n_heads=3, d_model=24)
    heads = cache.stack_head_results(layer=-1)
    expected = residual_stack_to_logit_diff(at_end(heads, data), cache, data, directions).reshape(3, 3)
    actual = _run(student, model, cache, data, directions)
    assert_close(actual, expected, name="head_logit_attribution (3 layers x 3 heads)",
                 mistakes=_mistakes(model, cache, data, directions), check_dtype=False)


def test_heads_add_up_to_attention_layer(student, setting):
    """A layer's heads add up to its attention output's attribution (exercise 4 on attn_out), minus b_O's"""
    model, data, cache, directions = setting
    actual = _run(student, model, cache, data, directions)
    check(tuple(actual.shape) == (model.cfg.n_layers, model.cfg.n_heads),
          f"expected shape (layer, head) = ({model.cfg.n_layers}, {model.cfg.n_heads}), got {tuple(actual.shape)}")
    layers = torch.stack([at_end(cache["attn_out", layer], data) for layer in range(model.cfg.n_layers)])
    bias = model.b_O.detach()[:, None, :].expand(-1, N, -1)  # (layer, batch, d_model)
    expected = (residual_stack_to_logit_diff(layers, cache, data, directions)
                - residual_stack_to_logit_diff(bias, cache, data, directions))
    mistakes = {label: grid.sum(dim=1) for label, grid in _mistakes(model, cache, data, directions).items()
                if grid.shape == actual.shape}
    assert_close(actual.sum(dim=1), expected, name="sum over each layer's heads vs that layer's attention output",
                 check_dtype=False, mistakes=mistakes,
                 diagnosis="Each head's share is its output z @ W_O (what cache.stack_head_results gives), at each "
                 "prompt's end, through the same final LayerNorm scale as the whole layer.")
