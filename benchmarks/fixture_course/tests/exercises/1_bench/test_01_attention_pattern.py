"""Hidden test for exercise 01: a causal attention pattern from q and k, in plain torch."""

import torch

from arena_cli.testing import assert_close, check, seed


def _inputs(batch=2, pos=6, heads=3, d_head=8):
    seed(0)
    return torch.randn(batch, pos, heads, d_head), torch.randn(batch, pos, heads, d_head)


def test_matches_reference(student, reference):
    """Matches the reference pattern"""
    q, k = _inputs()
    expected = reference.attention_pattern(q, k)
    scores = torch.einsum("bqhd,bkhd->bhqk", q, k)
    future = torch.ones(6, 6, dtype=torch.bool).triu(diagonal=1)
    assert_close(
        student.attention_pattern(q, k),
        expected,
        name="attention_pattern(q, k)",
        mistakes={
            "You forgot to divide the scores by sqrt(d_head).": scores.masked_fill(future, float("-inf")).softmax(-1),
            "You forgot the causal mask: positions attend to later positions.": (scores / 8**0.5).softmax(-1),
            "You took the softmax over the query dimension; it is over the keys (the last one).":
                (scores / 8**0.5).masked_fill(future, float("-inf")).softmax(-2),
        },
    )


def test_rows_sum_to_one(student):
    """Every row is a probability distribution"""
    q, k = _inputs(batch=1, pos=4, heads=2, d_head=4)
    pattern = student.attention_pattern(q, k)
    check(
        torch.allclose(pattern.sum(-1), torch.ones(1, 2, 4), atol=1e-5),
        "the rows of the pattern do not sum to 1",
        diagnosis="Take the softmax over the key dimension (the last one).",
    )
