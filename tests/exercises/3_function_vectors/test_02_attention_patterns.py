"""Hidden test for exercise 02: the attention pattern of a block's heads at one query position, read from
inside an nnsight trace.

Runs on a tiny random GPT-J (2 blocks, 4 heads, d_model 32, built in code, weights redrawn at std 0.3 so
the heads attend unevenly), switched to eager attention. The prompts have 0, 1 and 2 examples, so the
batch is left-padded.
"""

import pytest
import torch

from arena_cli.testing import assert_close, check
from arena_course.function_vectors.models import tiny_gptj, use_eager_attention
from arena_course.function_vectors.testing import check_remote_once, icl_prompts, once_per_input, remote_recorded
from arena_course.function_vectors.testing import shared, sharp, traced_tensor

N_LAYERS, N_HEADS = 2, 4

_CRASH = (
    "The attention module is `model.transformer.h[layer].attn` (not the block itself); with eager attention "
    "its output is a tuple (attn_output, attn_weights) and the weights are (batch, n_heads, query_pos, key_pos). "
    "A TypeError about 'NoneType' means the model computes attention with sdpa, which returns no weights."
)


def _model(seed=0):
    return use_eager_attention(sharp(tiny_gptj, seed, n_layers=N_LAYERS, n_heads=N_HEADS, std=0.3))


model = shared(_model, "model")


@pytest.fixture(scope="module")
def prompts():
    return icl_prompts("country_capital", (2, 2, 0), (2, 0, 1), (1, 1, 2))


@pytest.fixture(scope="module")
def truth(model, prompts):
    """Every block's full attention output (attn_output, weights), from one trace."""
    saved = []
    with model.trace(prompts):
        for block in model.transformer.h:
            out = block.attn.output
            saved.append((out[0].save(), out[1].save()))
    ids = model.tokenizer(prompts, padding=True, return_tensors="pt")
    return dict(
        attn_out=[o.detach() for o, _ in saved],
        patterns=[w.detach() for _, w in saved],
        attention_mask=ids.attention_mask,
    )


@pytest.fixture(scope="module")
def saved(student, model, prompts):
    """`saved(layer)`: the student's pattern at the last position of block `layer`, one call per block."""
    return once_per_input(_run, student, model, prompts)


def _run(student, model, prompts, layer, **kwargs):
    return traced_tensor(student.attention_patterns, model, prompts, layer, crash=_CRASH,
                         expected="a tensor (batch, n_heads, seq)", hint="Return the saved pattern tensor.", **kwargs)


def _mistakes(truth, layer, position):
    full, out = truth["patterns"][layer], truth["attn_out"][layer]
    mistakes = {
        "You took a column (key position `position`: how much every query attends to it) instead of a row: the "
        "weights are (batch, n_heads, query_pos, key_pos), so index the query axis, `[:, :, position]`.":
            full[:, :, :, position],
        "That is the pattern at query position 0 (the first token, which can only attend to itself): use the "
        "query position `position`.": full[:, :, 0],
        "That is the whole pattern: keep only the row of query position `position`, `[:, :, position]`.": full,
        "That is the average over heads: return every head's pattern, (batch, n_heads, seq).": full[:, :, position].mean(1),
        "That is the attention module's output (element 0 of the tuple); the pattern is element 1.": out[:, :, position],
        "That is the first prompt only: keep the batch dimension, `[:, :, position]` on the weights "
        "(batch, n_heads, query_pos, key_pos).": full[0, :, position],
    }
    for other in range(N_LAYERS):
        if other != layer:
            mistakes[f"That is block {other}'s attention, not block {layer}'s."] = truth["patterns"][other][:, :, position]
    return mistakes


def test_shape(saved, truth):
    """Returns one distribution over key positions per prompt and head: (batch, n_heads, seq)"""
    pattern = saved(1)
    batch, n_heads, seq, _ = truth["patterns"][1].shape
    if tuple(pattern.shape) != (batch, n_heads, seq):
        assert_close(pattern, truth["patterns"][1][:, :, -1], name="pattern", mistakes=_mistakes(truth, 1, -1))


@pytest.mark.parametrize("layer", [0, 1])
def test_last_position_matches_reference(saved, reference, model, prompts, truth, layer):
    """The pattern at the last position matches the reference (blocks 0 and 1)"""
    with torch.no_grad():
        expected = reference.attention_patterns(model, prompts, layer).detach()
    pattern = saved(layer)
    assert_close(pattern, expected, name=f"pattern (block {layer}, last position)", mistakes=_mistakes(truth, layer, -1))


def test_rows_sum_to_one(student, model, prompts):
    """Each head's pattern sums to 1 over the key positions"""
    for position in (-1, -3):
        pattern = _run(student, model, prompts, 1, position=position)
        check(pattern.dim() == 3, f"pattern has shape {tuple(pattern.shape)}, expected (batch, n_heads, seq)")
        sums = pattern.sum(-1)
        check(
            bool(torch.allclose(sums, torch.ones_like(sums), atol=1e-4)),
            f"at position {position}, the patterns sum to values from {sums.min():.3f} to {sums.max():.3f} over "
            "the last dimension, expected 1",
            diagnosis="The last dimension must be the key positions of one query row: `[:, :, position]` on the "
            "weights (batch, n_heads, query_pos, key_pos). A column (`[:, :, :, position]`) doesn't sum to 1.",
        )


def test_causal_and_matches_reference_mid_prompt(student, reference, model, prompts, truth):
    """At an earlier query position: nothing after it is attended to, and it matches the reference"""
    position = -4  # a real token in every prompt (the shortest has 6 tokens)
    seq = truth["patterns"][0].shape[-1]
    pattern = _run(student, model, prompts, 0, position=position)
    check(pattern.dim() == 3, f"pattern has shape {tuple(pattern.shape)}, expected (batch, n_heads, seq)")
    after = pattern[..., seq + position + 1:]
    check(
        bool((after.abs() < 1e-6).all()),
        f"at query position {position}, the pattern gives up to {after.abs().max():.3f} to the "
        f"{-position - 1} later positions: a causal model never attends to the future",
        diagnosis="Use the query position `position` (the third axis of the weights, `[:, :, position]`), "
        "not -1 or a key column.",
    )
    with torch.no_grad():
        expected = reference.attention_patterns(model, prompts, 0, position=position).detach()
    assert_close(pattern, expected, name=f"pattern (block 0, position {position})", mistakes=_mistakes(truth, 0, position))


def test_padding_gets_no_attention(saved, truth):
    """Padding tokens (left of the shorter prompts) get no attention at the last position"""
    pattern = saved(1)
    pad = truth["attention_mask"] == 0  # (batch, seq)
    check(pattern.dim() == 3 and pattern.shape[0] == pad.shape[0], f"pattern has shape {tuple(pattern.shape)}")
    on_pad = pattern.permute(0, 2, 1)[pad]
    check(
        bool((on_pad.abs() < 1e-6).all()),
        f"the last position gives up to {on_pad.abs().max():.3f} attention to padding tokens",
        diagnosis="Read the pattern the model itself computed (element 1 of `attn.output`, row `position`): it "
        "already masks the padding.",
    )


def test_uniform_when_queries_are_zero(student):
    """Hand-computed: with W_Q = 0 every score is equal, so each head attends evenly to the real tokens"""
    model = _model(seed=3)
    with torch.no_grad():
        model._module.transformer.h[0].attn.q_proj.weight.zero_()
    prompts = icl_prompts("antonyms", (1, 1, 0), (1, 0, 0))
    mask = model.tokenizer(prompts, padding=True, return_tensors="pt").attention_mask.float()
    expected = (mask / mask.sum(-1, keepdim=True))[:, None, :].expand(-1, N_HEADS, -1)
    pattern = _run(student, model, prompts, 0)
    assert_close(
        pattern,
        expected,
        name="pattern with W_Q = 0 (1 / number of real tokens on each real token)",
        diagnosis="The pattern is the softmax over key positions of one query row, for every head: "
        "element 1 of `model.transformer.h[layer].attn.output`, `[:, :, position]`.",
    )


def test_passes_remote_on(student, model):
    """Passes `remote` on to model.trace"""
    with remote_recorded(model) as calls:
        _run(student, model, icl_prompts("antonyms", (2, 1, 0)), 0, remote=True)
    check_remote_once(calls, "attention_patterns", "Write `with model.trace(prompts, remote=remote):`.")
