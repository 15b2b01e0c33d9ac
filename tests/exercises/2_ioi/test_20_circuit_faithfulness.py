"""Hidden test for exercise 20: the circuit's faithfulness, F(M), F(C), F(C) / F(M) and |F(M) - F(C)|.

Uses hand-made logits on 6 IOI prompts of two lengths (padded on the right), once with a circuit that
does better than the model (F(C) > F(M): the absolute value matters) and once worse, plus random logits
compared with the reference.
"""

import pytest
import torch

from arena_cli.testing import assert_close, call_student, check
from arena_course.ioi.dataset import BABA_TEMPLATES, IOIDataset, ioi_tokenizer

FIELDS = ("full", "circuit", "ratio", "gap")


@pytest.fixture(scope="module")
def data():
    return IOIDataset.generate(ioi_tokenizer(), 6, templates=BABA_TEMPLATES[:2], seed=1)


def _logits(data: IOIDataset, diffs: list[float], seed: int) -> torch.Tensor:
    """Random logits whose IO - S difference at each prompt's end is `diffs`; the last column (padding for
    the shorter prompts) gets a different difference, so reading position -1 shows."""
    gen = torch.Generator().manual_seed(seed)
    batch, seq = data.toks.shape
    logits = torch.randn(batch, seq, len(data.tokenizer), generator=gen)
    rows = torch.arange(batch)
    end = data.word_idx["end"]
    logits[rows, end, data.io_tokens] = logits[rows, end, data.s_tokens] + torch.tensor(diffs)
    pad = end < seq - 1
    logits[rows[pad], seq - 1, data.io_tokens[pad]] = logits[rows[pad], seq - 1, data.s_tokens[pad]] - 7.0
    return logits


def _run(student, full_logits, circuit_logits, data):
    out = call_student(student.circuit_faithfulness, full_logits, circuit_logits, data,
                       diagnosis="full_logits and circuit_logits are (batch, seq, d_vocab); ioi_logit_diff(logits, data) "
                                 "gives the average logit difference (a 0-d tensor: .item() makes it a float).")
    check(
        isinstance(out, tuple) and len(out) == 4,
        f"circuit_faithfulness returned {type(out).__name__}"
        + (f" of length {len(out)}" if isinstance(out, tuple) else "")
        + ", expected Faithfulness(full, circuit, ratio, gap)",
        diagnosis="Did you forget a `return`?" if out is None
        else "Return Faithfulness(full=..., circuit=..., ratio=..., gap=...).",
    )
    values = {}
    for name, value in zip(FIELDS, out):
        if isinstance(value, torch.Tensor):
            check(value.numel() == 1, f"{name} is a tensor of shape {tuple(value.shape)}, expected one number",
                  diagnosis="Average the logit difference over the prompts: ioi_logit_diff(logits, data) without "
                            "per_prompt=True.")
            value = value.item()
        check(isinstance(value, (int, float)), f"{name} is a {type(value).__name__}, expected a number")
        values[name] = float(value)
    return values


def _mistakes(d_full: list[float], d_circuit: list[float]) -> dict[str, dict[str, float]]:
    """What each field would be with a common mistake, per field."""
    fm, fc = sum(d_full) / len(d_full), sum(d_circuit) / len(d_circuit)
    per_prompt_ratio = sum(c / f for c, f in zip(d_circuit, d_full)) / len(d_full)
    return {
        "ratio": {
            "Your ratio is F(M) / F(C): the fraction of the model's logit difference the circuit keeps is F(C) / F(M).": fm / fc,
            "Your ratio is the average of per-prompt ratios: divide the two averages, F(C) / F(M).": per_prompt_ratio,
            "Your ratio is the gap |F(M) - F(C)|: the ratio is F(C) / F(M); the gap is the other field.": abs(fm - fc),
            "Your ratio is 1 - F(C)/F(M): the ratio is F(C) / F(M) itself.": 1 - fc / fm,
        },
        "gap": {
            "Your gap has a sign: the paper's criterion is the absolute value |F(M) - F(C)| (a circuit that does "
            "better than the model is not faithful either).": fm - fc,
            "Your gap has a sign: take the absolute value |F(M) - F(C)|.": fc - fm,
            "Your gap is divided by F(M): the paper's criterion is |F(M) - F(C)| in logit-difference units.": abs(fm - fc) / fm,
            "Your gap is the ratio F(C) / F(M): the gap is |F(M) - F(C)|.": fc / fm,
            "Your gap is the average of per-prompt absolute differences: take the difference of the averages, "
            "|F(M) - F(C)|.": sum(abs(f - c) for f, c in zip(d_full, d_circuit)) / len(d_full),
        },
    }


def _at_last_column(data: IOIDataset, diffs: list[float]) -> float:
    """The average logit difference `_logits` puts at position -1: -7 for padded prompts."""
    last = data.toks.shape[1] - 1
    return sum(d if int(e) == last else -7.0 for d, e in zip(diffs, data.word_idx["end"])) / len(diffs)


_POSITION = ("You read the logits at position -1: prompts are padded on the right, so use ioi_logit_diff (given), "
             "which reads each prompt at its own end, data.word_idx['end'].")


@pytest.mark.parametrize(
    "d_full, d_circuit",
    [
        ([1.0, 2.0, 3.0, 4.0, 5.0, 9.0], [2.0, 2.0, 6.0, 4.0, 6.0, 10.0]),  # F(M) = 4, F(C) = 5: better than the model
        ([3.0, 1.0, 2.0, 6.0, 4.0, 8.0], [1.0, 2.0, 2.0, 3.0, 1.0, 0.0]),  # F(M) = 4, F(C) = 1.5
    ],
    ids=["circuit above the model", "circuit below the model"],
)
def test_hand_computed(student, data, d_full, d_circuit):
    """F(M), F(C), F(C)/F(M) and |F(M) - F(C)| on hand-made logits"""
    out = _run(student, _logits(data, d_full, 0), _logits(data, d_circuit, 1), data)
    fm, fc = sum(d_full) / len(d_full), sum(d_circuit) / len(d_circuit)
    swapped = "You swapped the two: F(M) comes from full_logits, F(C) from circuit_logits."
    assert_close(out["full"], fm, name="full, F(M)",
                 mistakes={swapped: fc, _POSITION: _at_last_column(data, d_full)},
                 diagnosis="F(M) is the full model's logit difference averaged over the prompts: "
                           "ioi_logit_diff(full_logits, data).")
    assert_close(out["circuit"], fc, name="circuit, F(C)",
                 mistakes={swapped: fm, _POSITION: _at_last_column(data, d_circuit)},
                 diagnosis="F(C) is the circuit's logit difference averaged over the prompts: "
                           "ioi_logit_diff(circuit_logits, data).")
    mistakes = _mistakes(d_full, d_circuit)
    assert_close(out["ratio"], fc / fm, name="ratio, F(C) / F(M)", mistakes=mistakes["ratio"])
    assert_close(out["gap"], abs(fm - fc), name="gap, |F(M) - F(C)|", mistakes=mistakes["gap"])


def test_matches_reference(student, reference, data):
    """Matches the reference on random logits"""
    gen = torch.Generator().manual_seed(3)
    full = torch.randn(*data.toks.shape, len(data.tokenizer), generator=gen) * 2
    circuit = full * 0.7 + torch.randn(*full.shape, generator=gen)
    expected = reference.circuit_faithfulness(full, circuit, data)
    out = _run(student, full, circuit, data)
    for name, value in zip(FIELDS, expected):
        assert_close(out[name], float(value), name=name)
