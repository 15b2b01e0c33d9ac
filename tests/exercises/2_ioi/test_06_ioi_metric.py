"""Hidden test for exercise 6: the IOI metric, (LD - LD_corrupted) / (LD_clean - LD_corrupted).

Runs on seeded random logits for 8 IOI prompts of different lengths (padded on the right), on logits built
by hand so the logit difference is known, and on a tiny random TransformerLens model's clean and
corrupted runs (which must score exactly 1 and 0).
"""

import torch
import transformer_lens.model_bridge  # noqa: F401  (arena's worker pre-imports it: import time is not test time)

from arena_cli.testing import assert_close, call_student, check
from arena_course.ioi.dataset import IOIDataset
from arena_course.ioi.models import tiny_ioi_model
from arena_course.ioi.testing import random_logits_fixture

N = 8
CLEAN, CORRUPTED = 2.5, -1.5  # baselines for the random-logit tests

_CRASH = (
    "ioi_metric gets the logits (batch, seq, d_vocab), the clean IOIDataset and two numbers. Compute "
    "ioi_logit_diff(logits, data) (the average, a 0-dimensional tensor), then rescale it with the two numbers."
)


setting = random_logits_fixture(N, seed=5, logits_seed=1, scale=3)


def _ld(logits, data, pos=None):
    """The logit difference per prompt, at `pos` (each prompt's end by default)."""
    b = torch.arange(logits.shape[0])
    at = logits[b, data.word_idx["end"] if pos is None else pos]
    return at[b, data.io_tokens] - at[b, data.s_tokens]


def _run(student, logits, data, clean=CLEAN, corrupted=CORRUPTED):
    out = call_student(student.ioi_metric, logits, data, clean, corrupted, diagnosis=_CRASH)
    check(out is not None, "ioi_metric returned None", diagnosis="Did you forget a `return`?")
    check(
        isinstance(out, torch.Tensor),
        f"ioi_metric returned a {type(out).__name__}, expected a 0-dimensional tensor",
        diagnosis="Keep it a tensor: don't call .item() or float() on the result (the patching functions and, "
        "later, gradients need a tensor).",
    )
    return out


def _mistakes(logits, data, clean=CLEAN, corrupted=CORRUPTED):
    ld = _ld(logits, data).mean()
    right = (ld - corrupted) / (clean - corrupted)
    return {
        "Your metric is 0 at the clean run and 1 at the corrupted one: it must be 0 when the logit difference "
        "equals corrupted_logit_diff and 1 when it equals clean_logit_diff, i.e. (LD - corrupted) / (clean - corrupted).":
            1 - right,
        "Your metric has the wrong sign: divide by (clean_logit_diff - corrupted_logit_diff), not the other way round.":
            -right,
        "Your metric is shifted by 1: subtract corrupted_logit_diff (so the corrupted run scores 0), not "
        "clean_logit_diff.": right - 1,
        "You divided the logit difference by the clean one: that is 1 at the clean run but not 0 at the "
        "corrupted run. Subtract corrupted_logit_diff first, and divide by (clean - corrupted).": ld / clean,
        "You divided by clean_logit_diff alone: the scale is the distance between the two runs, "
        "(clean_logit_diff - corrupted_logit_diff).": (ld - corrupted) / clean,
        "You subtracted the corrupted logit difference but did not divide: rescale by "
        "(clean_logit_diff - corrupted_logit_diff) so the clean run scores 1.": ld - corrupted,
        "You summed the logit differences over the prompts: the metric uses their mean "
        "(ioi_logit_diff(logits, data) with per_prompt=False).": (_ld(logits, data).sum() - corrupted) / (clean - corrupted),
        "You read the logits at position -1: the prompts are padded on the right; use ioi_logit_diff, which "
        "reads each prompt at data.word_idx['end'].":
            (_ld(logits, data, -torch.ones(len(data), dtype=torch.long)).mean() - corrupted) / (clean - corrupted),
        "You returned one value per prompt: the metric is a single number, from the average logit difference "
        "(ioi_logit_diff(logits, data), per_prompt=False).": (_ld(logits, data) - corrupted) / (clean - corrupted),
    }


def test_returns_a_scalar_tensor(student, setting):
    """Returns a 0-dimensional tensor (one number for the whole batch)"""
    data, logits = setting
    out = _run(student, logits, data)
    check(
        out.dim() == 0,
        f"ioi_metric returned shape {tuple(out.shape)}, expected a 0-dimensional tensor",
        diagnosis="You returned one value per prompt: the metric is a single number, from the average logit "
        "difference (ioi_logit_diff(logits, data), per_prompt=False).",
    )


def test_matches_reference(student, reference, setting):
    """Matches the reference on random logits of padded prompts (baselines 2.5 and -1.5)"""
    data, logits = setting
    expected = reference.ioi_metric(logits, data, CLEAN, CORRUPTED)
    out = _run(student, logits, data)
    assert_close(out, expected, name="ioi_metric(logits, data, 2.5, -1.5)", mistakes=_mistakes(logits, data),
                 check_dtype=False)


def _logits_with_logit_diff(data, values):
    """Logits whose logit difference at each prompt's end is values[i] (zero everywhere else)."""
    logits = torch.zeros(len(data), data.toks.shape[1], len(data.tokenizer))
    b = torch.arange(len(data))
    logits[b, data.word_idx["end"], data.io_tokens] = torch.as_tensor(values, dtype=torch.float32)
    return logits


def test_hand_computed(student, setting):
    """Hand-computed: with baselines 3 and -1, a mean logit difference of 3 / -1 / 1 / 5 / -3 scores 1 / 0 / 0.5 / 1.5 / -0.5"""
    data, _ = setting
    cases = {"clean": (3.0, 1.0), "corrupted": (-1.0, 0.0), "halfway": (1.0, 0.5), "beyond clean": (5.0, 1.5),
             "below corrupted": (-3.0, -0.5)}
    for label, (mean_ld, expected) in cases.items():
        values = mean_ld + torch.linspace(-1, 1, len(data))  # different per prompt, mean `mean_ld`
        logits = _logits_with_logit_diff(data, values)
        out = _run(student, logits, data, 3.0, -1.0)
        assert_close(out, torch.tensor(expected), name=f"ioi_metric with mean logit difference {mean_ld} ({label})",
                     mistakes=_mistakes(logits, data, 3.0, -1.0), check_dtype=False)


def test_tensor_baselines(student, setting):
    """Baselines given as 0-dimensional tensors give the same value as floats"""
    data, logits = setting
    as_floats = _run(student, logits, data)
    as_tensors = _run(student, logits, data, torch.tensor(CLEAN), torch.tensor(CORRUPTED))
    assert_close(as_tensors, as_floats, name="ioi_metric with tensor baselines", check_dtype=False,
                 diagnosis="Treat clean_logit_diff and corrupted_logit_diff as numbers: they may come as floats "
                 "or as 0-dimensional tensors.")


def test_clean_and_corrupted_runs(student, reference_of):
    """On a tiny model, the clean run scores 1 and the corrupted run (S2 flipped) 0

    Both baselines are measured with the clean prompts' answers, as the section's result does."""
    ioi_logit_diff = reference_of("ioi_logit_diff").ioi_logit_diff
    model = tiny_ioi_model(seed=2)
    clean = IOIDataset.generate(model.tokenizer, 6, seed=1)
    corrupted = clean.flipped()
    with torch.no_grad():
        clean_logits, corrupted_logits = model(clean.toks), model(corrupted.toks)
    clean_ld = float(ioi_logit_diff(clean_logits, clean))
    corrupted_ld = float(ioi_logit_diff(corrupted_logits, clean))
    check(abs(clean_ld - corrupted_ld) > 1e-3, "test setup: clean and corrupted logit differences are too close")
    on_clean = _run(student, clean_logits, clean, clean_ld, corrupted_ld)
    on_corrupted = _run(student, corrupted_logits, clean, clean_ld, corrupted_ld)
    assert_close(on_clean, torch.tensor(1.0), name="ioi_metric on the clean run", atol=1e-4, check_dtype=False,
                 mistakes={"Your metric gives 0 on the clean run and 1 on the corrupted one: (LD - corrupted) / "
                           "(clean - corrupted).": torch.tensor(0.0)})
    assert_close(on_corrupted, torch.tensor(0.0), name="ioi_metric on the corrupted run", atol=1e-4,
                 check_dtype=False)
