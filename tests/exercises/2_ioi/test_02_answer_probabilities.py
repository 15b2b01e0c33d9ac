"""Hidden test for exercise 2: the probabilities of IO and S, softmax over the vocabulary at each prompt's
end position.

Runs on seeded random logits for 8 IOI prompts of different lengths (position -1 is padding for most),
on a hand-built case, and checks p_io / p_s = exp(logit difference) with the reference of exercise 1.
"""

import math

import torch

from arena_cli.testing import assert_close, call_student, check
from arena_course.ioi.dataset import IOIDataset, ioi_tokenizer
from arena_course.ioi.testing import random_logits_fixture

N = 8

_CRASH = (
    "logits is (batch, seq, d_vocab). logits[torch.arange(batch), data.word_idx['end']] is (batch, d_vocab): "
    "softmax it over the last dimension, then take row i's entries data.io_tokens[i] and data.s_tokens[i] "
    "with probs[torch.arange(batch), data.io_tokens]."
)


setting = random_logits_fixture(N, seed=4, logits_seed=1, scale=2, min_padded=4)  # most prompts are padded


def _run(student, logits, data):
    out = call_student(student.answer_probabilities, logits, data, diagnosis=_CRASH)
    check(
        isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out),
        f"answer_probabilities returned {type(out).__name__}"
        + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else "")
        + ", expected a tuple of two tensors (p_io, p_s)",
        diagnosis="Did you forget a `return`?" if out is None else "Return `p_io, p_s`, each of shape (batch,).",
    )
    return out


def _mistakes(logits, data, which):
    """What each common mistake gives for p_io (which=0) or p_s (which=1)."""
    batch = torch.arange(N)
    tokens = (data.io_tokens, data.s_tokens)[which]
    end = data.word_idx["end"]

    def pick(probs_at):  # (batch, d_vocab) -> (batch,)
        return probs_at[batch, tokens]

    two_way = torch.stack([logits[batch, end, data.io_tokens], logits[batch, end, data.s_tokens]], -1).softmax(-1)
    return {
        "You read position -1: the prompts are padded on the right, so position -1 is padding for the shorter "
        "ones. Use data.word_idx['end'].": pick(logits[:, -1].softmax(-1)),
        "You took the softmax over the sequence dimension: the next-token distribution is a softmax over the "
        "vocabulary, the last dimension (dim=-1).": pick(logits.softmax(dim=1)[batch, end]),
        "You took the softmax over the two names only, so p_io + p_s = 1: the model's probability is a softmax "
        "over the whole vocabulary.": two_way[:, which],
        "You returned log-probabilities: apply softmax, not log_softmax.": pick(logits[batch, end].log_softmax(-1)),
        "You returned the logits themselves: apply the softmax over the vocabulary.": pick(logits[batch, end]),
        "You returned them in the wrong order: return (p_io, p_s).": logits[batch, end].softmax(-1)[
            batch, (data.s_tokens, data.io_tokens)[which]],
    }


def test_matches_reference(student, reference, setting):
    """p_io and p_s match the reference: softmax over the vocabulary at each prompt's end"""
    data, logits = setting
    expected = reference.answer_probabilities(logits, data)
    actual = _run(student, logits, data)
    for which, name in enumerate(["p_io", "p_s"]):
        assert_close(actual[which], expected[which], name=name, mistakes=_mistakes(logits, data, which),
                     check_dtype=False)


def test_hand_computed(student):
    """All logits 0 except IO's (log 3) and S's (log 2) at the end: p_io = 3 / (V + 3), p_s = 2 / (V + 3)"""
    data = IOIDataset.generate(ioi_tokenizer(), 2, seed=1)
    assert data.word_idx["end"][0] != data.word_idx["end"][1]  # one of them is padded
    vocab = len(data.tokenizer)
    logits = torch.zeros(2, data.toks.shape[1], vocab)
    for i, (end, io, s) in enumerate(zip(data.word_idx["end"].tolist(), data.io_tokens.tolist(), data.s_tokens.tolist())):
        logits[i, end, io] = math.log(3)
        logits[i, end, s] = math.log(2)
    p_io, p_s = _run(student, logits, data)
    total = vocab - 2 + 3 + 2  # sum of exp(logits) at the end position
    assert_close(p_io, torch.full((2,), 3 / total), name="p_io", check_dtype=False,
                 mistakes={"Softmax over the two names only: over the whole vocabulary, p_io = 3 / (V + 3).":
                           torch.full((2,), 0.6),
                           "You read position -1, padding for a shorter prompt: use data.word_idx['end'].":
                           logits[:, -1].softmax(-1)[torch.arange(2), data.io_tokens]},
                 diagnosis=f"exp(log 3) / (exp(log 3) + exp(log 2) + {vocab - 2} * exp(0)) = 3 / {total}.")
    assert_close(p_s, torch.full((2,), 2 / total), name="p_s", check_dtype=False)


def test_ratio_is_exp_logit_diff(student, reference_of, setting):
    """p_io / p_s = exp(logit difference), and p_io + p_s <= 1"""
    data, logits = setting
    p_io, p_s = _run(student, logits, data)
    check(tuple(p_io.shape) == (N,) and tuple(p_s.shape) == (N,),
          f"expected p_io and p_s of shape ({N},), got {tuple(p_io.shape)} and {tuple(p_s.shape)}",
          diagnosis="One probability per prompt: index the (batch, d_vocab) probabilities with "
          "[torch.arange(batch), data.io_tokens].")
    logit_diff = reference_of("ioi_logit_diff").ioi_logit_diff(logits, data, per_prompt=True)
    assert_close((p_io / p_s).log(), logit_diff, name="log(p_io / p_s) vs the logit difference", check_dtype=False,
                 atol=1e-4, diagnosis="Read both probabilities at the same position as the logit difference, "
                 "each prompt's end, from one softmax over the vocabulary.")
    check(bool(((p_io + p_s) <= 1 + 1e-6).all()) and bool((p_s >= 0).all()),
          f"p_io + p_s should be at most 1, got up to {float((p_io + p_s).max()):.4f}")
