"""Hidden test for exercise 1: the logit difference, logit[IO] - logit[S] at each prompt's end position.

Runs on seeded random logits for 8 IOI prompts of different lengths (so position -1 is padding for most
of them), on a hand-built case, and checks that swapping IO and S negates the answer.
"""

import torch

from arena_cli.testing import assert_close
from arena_course.ioi.dataset import ABBA_TEMPLATES, BABA_TEMPLATES, IOIDataset, IOIPrompt, ioi_tokenizer
from arena_course.ioi.testing import random_logits_fixture, returned_tensor

N = 8

_CRASH = (
    "logits is (batch, seq, d_vocab). Index it with two (batch,) tensors, "
    "logits[torch.arange(batch), data.word_idx['end']], to get (batch, d_vocab); then take each row's IO and "
    "S entries the same way, with torch.arange(batch) and data.io_tokens / data.s_tokens."
)


setting = random_logits_fixture(N, seed=3, logits_seed=0, scale=3)


def _at(logits, pos, tokens):
    return logits[torch.arange(len(tokens)), pos][torch.arange(len(tokens)), tokens]


def _mistakes(logits, data, per_prompt):
    """The value each common mistake gives (per prompt, or averaged like the expected answer)."""
    w, io, s = data.word_idx, data.io_tokens, data.s_tokens
    reduce = (lambda x: x) if per_prompt else (lambda x: x.mean())
    probs = logits.softmax(-1)
    out = {
        "You read the logits at position -1: the prompts are padded on the right, so position -1 is padding "
        "for every prompt shorter than the longest. Use each prompt's own end, data.word_idx['end'].":
            reduce(_at(logits, -torch.ones_like(io), io) - _at(logits, -torch.ones_like(io), s)),
        "You read the logits at S2 (data.word_idx['S2']): the answer is predicted at the end position, "
        "data.word_idx['end'], the last prompt token.":
            reduce(_at(logits, w["S2"], io) - _at(logits, w["S2"], s)),
        "The sign is flipped: the logit difference is logit[IO] - logit[S] (positive when the model is right).":
            reduce(_at(logits, w["end"], s) - _at(logits, w["end"], io)),
        "You subtracted probabilities: the logit difference is a difference of logits (before the softmax).":
            reduce(_at(probs, w["end"], io) - _at(probs, w["end"], s)),
    }
    if not per_prompt:
        out["You summed over the prompts: return the mean when per_prompt is False."] = (
            _at(logits, w["end"], io) - _at(logits, w["end"], s)
        ).sum()
    return out


def _run(student, logits, data, **kwargs):
    return returned_tensor(student.ioi_logit_diff, logits, data, crash=_CRASH, expected="a tensor",
                           hint="Return a torch tensor (don't call .item()).", **kwargs)


def test_per_prompt(student, reference, setting):
    """per_prompt=True: one logit difference per prompt, read at each prompt's end position"""
    data, logits = setting
    expected = reference.ioi_logit_diff(logits, data, per_prompt=True)
    actual = _run(student, logits, data, per_prompt=True)
    mistakes = _mistakes(logits, data, per_prompt=True)
    mistakes["You returned the mean although per_prompt=True: return the (batch,) tensor."] = expected.mean()
    assert_close(actual, expected, name="ioi_logit_diff(logits, data, per_prompt=True)", mistakes=mistakes,
                 check_dtype=False)


def test_mean(student, reference, setting):
    """per_prompt=False (the default): the mean over the prompts, a 0-dimensional tensor"""
    data, logits = setting
    expected = reference.ioi_logit_diff(logits, data)
    actual = _run(student, logits, data)
    mistakes = _mistakes(logits, data, per_prompt=False)
    mistakes["You returned one value per prompt although per_prompt=False: return their mean."] = (
        reference.ioi_logit_diff(logits, data, per_prompt=True)
    )
    assert_close(actual, expected, name="ioi_logit_diff(logits, data)", mistakes=mistakes, check_dtype=False,
                 diagnosis="The mean of logits[i, end_i, IO_i] - logits[i, end_i, S_i] over the prompts i.")


def test_hand_computed(student):
    """Two hand-written prompts of different lengths: logit[IO] - logit[S] at each one's end"""
    data = IOIDataset(
        [
            IOIPrompt(BABA_TEMPLATES[5], io="Mary", s="John", place="store", object="drink"),  # 15 tokens
            IOIPrompt(ABBA_TEMPLATES[3], io="Amy", s="Tom", place="garden", object="ring"),  # 21 tokens
        ],
        ioi_tokenizer(),
    )
    assert data.word_idx["end"].tolist() == [14, 20]  # the first prompt is padded
    logits = torch.full((2, data.toks.shape[1], len(data.tokenizer)), 7.0)  # 7 everywhere else
    for i, (end, io, s) in enumerate(zip(data.word_idx["end"].tolist(), data.io_tokens.tolist(), data.s_tokens.tolist())):
        logits[i, end, io] = 2.0 + i
        logits[i, end, s] = -1.0
    actual = _run(student, logits, data, per_prompt=True)
    mistakes = {
        "Prompt 0 is right-padded: its last position is padding (logits 7 - 7 = 0). Read each prompt at "
        "data.word_idx['end'], not at position -1.": torch.tensor([0.0, 4.0]),
        "The sign is flipped: logit[IO] - logit[S].": torch.tensor([-3.0, -4.0]),
    }
    assert_close(actual, torch.tensor([3.0, 4.0]), name="per-prompt logit differences", check_dtype=False,
                 mistakes=mistakes,
                 diagnosis="Prompt 0 has logit 2 for IO and -1 for S at its end position: 2 - (-1) = 3; prompt 1: "
                 "3 - (-1) = 4. A 0 means you read a position other than the end (all other logits are 7).")


def test_flipped_negates(student, setting):
    """On data.flipped() (IO and S swap roles, same positions) the same logits give minus the logit difference"""
    data, logits = setting
    a = _run(student, logits, data, per_prompt=True)
    b = _run(student, logits, data.flipped(), per_prompt=True)
    assert_close(b, -a, name="ioi_logit_diff on data.flipped() vs -ioi_logit_diff on data", check_dtype=False,
                 diagnosis="Use data.io_tokens and data.s_tokens (they swap in data.flipped()), not fixed tokens.")
