"""Hidden test for exercise 12: for one head, its attention from the end to the IO and to S1, and the
projection of its output at the end on the IO's and S's unembedding directions.

Runs on a tiny random IOI model (2 layers x 4 heads, compatibility mode) and 6 prompts of different lengths
(padded on the right, so position -1 is not the end for some); compares with the reference for two heads,
and checks that a head whose W_O is zeroed projects to exactly 0.
"""

import pytest
import torch

from arena_cli.testing import call_student, check
from arena_course.ioi.dataset import IOIDataset
from arena_course.ioi.testing import compat_model
from arena_course.testing import assert_close_lazily, check_sequence

_CRASH = (
    "cache['pattern', layer] is (batch, head, query_pos, key_pos); cache['z', layer] is (batch, seq, head, "
    "d_head); model.W_O[layer, head] is (d_head, d_model) and model.W_U (d_model, d_vocab): a token's direction "
    "is the column W_U[:, token]. Index the batch and the position together: x[torch.arange(batch), end]."
)
HEADS = [(1, 2), (0, 1)]


@pytest.fixture(scope="module")
def setting():
    model = compat_model(seed=11, n_layers=2, n_heads=4)
    data = IOIDataset.generate(model.tokenizer, 6, seed=5)
    ends = data.word_idx["end"]
    assert (ends < data.toks.shape[1] - 1).any() and len(set(ends.tolist())) > 1  # some prompts are padded
    with torch.no_grad():
        _, cache = model.run_with_cache(data.toks)
    return model, data, cache


def _run(student, model, cache, data, head):
    with torch.no_grad():
        out = call_student(student.name_mover_projections, model, cache, data, head, diagnosis=_CRASH)
    out = check_sequence(out, "name_mover_projections", 2, "a tuple (attention, projection)",
                         "Return the two tensors: `return attention, projection`.")
    for name, t in zip(("attention", "projection"), out):
        check(isinstance(t, torch.Tensor), f"{name} is a {type(t).__name__}, expected a (2, batch) tensor")
        check(tuple(t.shape) == (2, len(data)),
              f"{name} has shape {tuple(t.shape)}, expected (2, batch) = (2, {len(data)})",
              diagnosis="Row 0 for the IO, row 1 for S, one column per prompt: torch.stack([io_values, s_values])."
              + (" Yours is transposed." if tuple(t.shape) == (len(data), 2) else ""))
    return [t.detach().float() for t in out]


def _values(model, cache, data, head, *, end=None, query_key=True, s_word="S1", swap_tokens=False):
    """(attention, projection) computed with a given mistake."""
    layer, h = head
    batch = torch.arange(len(data))
    end = data.word_idx["end"] if end is None else end
    pattern = cache["pattern", layer][:, h]
    if not query_key:
        pattern = pattern.transpose(-1, -2)
    attention = torch.stack([pattern[batch, end, data.word_idx[w]] for w in ("IO", s_word)])
    output = cache["z", layer][batch, end, h] @ model.W_O[layer, h]
    tokens = (data.s_tokens, data.io_tokens) if swap_tokens else (data.io_tokens, data.s_tokens)
    projection = torch.stack([(output * model.W_U[:, t].T).sum(-1) for t in tokens])
    return attention, projection


def _mistakes(model, cache, data, head, which):
    i = 0 if which == "attention" else 1
    last = torch.full_like(data.word_idx["end"], data.toks.shape[1] - 1)
    with torch.no_grad():
        mistakes = {
            "You read position -1 (the last column): prompts are padded on the right, so for the shorter ones "
            "that is padding. Use each prompt's own data.word_idx['end'].": _values(model, cache, data, head, end=last)[i],
            "You used S2's position for S: row 1 is the subject at its first mention, word_idx['S1'].":
                _values(model, cache, data, head, s_word="S2")[i],
        }
        if which == "attention":
            mistakes["You read pattern[..., name, end]: the pattern is (batch, head, query, key), the end is the "
                     "query and the name the key."] = _values(model, cache, data, head, query_key=False)[0]
        else:
            mistakes["You projected on the other name's direction: row 0 is W_U[:, io_tokens], row 1 "
                     "W_U[:, s_tokens]."] = _values(model, cache, data, head, swap_tokens=True)[1]
    return mistakes


@pytest.mark.parametrize("head", HEADS)
def test_matches_reference(student, reference, setting, head):
    """Attention and projection match the reference for one head (6 prompts of different lengths)"""
    model, data, cache = setting
    attention, projection = _run(student, model, cache, data, head)
    with torch.no_grad():
        expected = reference.name_mover_projections(model, cache, data, head)
    assert_close_lazily(attention, expected[0], name=f"attention of head {head[0]}.{head[1]} (rows IO, S)",
                        mistakes=lambda: _mistakes(model, cache, data, head, "attention"))
    assert_close_lazily(projection, expected[1], name=f"projection of head {head[0]}.{head[1]} (rows IO, S)",
                        mistakes=lambda: _mistakes(model, cache, data, head, "projection"), atol=1e-4, rtol=1e-3)


def test_zero_output_projects_to_zero(student, setting):
    """A head whose W_O is zero writes nothing: every projection is 0, whatever it attends to"""
    _, data, _ = setting
    model = compat_model(seed=11, n_layers=2, n_heads=4)
    with torch.no_grad():
        model.blocks[1].attn.o.weight.view(model.cfg.d_model, 4, -1)[:, 2].zero_()
        _, cache = model.run_with_cache(data.toks)
    check(bool(model.W_O[1, 2].abs().max() == 0), "test set-up: W_O[1, 2] should be zero")
    attention, projection = _run(student, model, cache, data, (1, 2))
    check(bool(projection.abs().max() < 1e-5),
          f"with W_O[1, 2] = 0 the projections should be 0, got {[round(v, 4) for v in projection.flatten().tolist()]}",
          diagnosis="The head's output is z @ W_O[layer, head]: project that (a d_model vector), not z or the "
          "residual stream.")
    check(bool(((attention >= 0) & (attention <= 1)).all()), "attention probabilities should be in [0, 1]",
          diagnosis="Read the pattern (after the softmax), cache['pattern', layer], not the scores.")
