"""Hidden test for exercise 08: signed_batch, sparse features with values U[-1, 1].

Property checks on a large seeded sample; tolerances are about 5 standard deviations of the sampling noise.
"""

import torch

from arena_cli.testing import check
from arena_course.superposition.testing import check_edge_features, check_float32, check_presence, check_uniform
from arena_course.superposition.testing import max_correlation, present_values, sample_batch

BATCH = 4000
P = torch.tensor(
    [
        [0.1, 0.25, 0.6, 0.9],
        [1.0, 0.3, 0.15, 0.0],
    ]
)


def _sample(student, batch_size=BATCH, p=P):
    """A seeded batch from the student's signed_batch, checked to be a tensor of the right shape."""
    return sample_batch(
        student.signed_batch, batch_size, p,
        crash="Draw your random numbers with shape (batch_size, n_instances, n_features); p broadcasts against "
        "the last two dimensions.",
        shape_diagnosis=lambda out: "Draw your random numbers with shape (batch_size, n_instances, n_features).",
    )


def test_shape(student):
    """Returns shape (batch, instances, features), float32"""
    check_float32(_sample(student, batch_size=7), "Build the batch in float32, torch.rand's default dtype.")


def test_range(student):
    """All values are in [-1, 1], and some are negative"""
    out = _sample(student)
    lo, hi = float(out.min()), float(out.max())
    if lo >= 0:
        diagnosis = "No value is negative: present values are uniform on [-1, 1]. Stretch and shift U[0, 1]: 2 * rand - 1."
    elif lo < -1 or hi > 1:
        diagnosis = (
            "torch.randn draws from a normal distribution, which is unbounded: use 2 * torch.rand(...) - 1."
            if lo < -1.5 or hi > 1.5
            else "Values must stay within [-1, 1]: 2 * torch.rand(...) - 1 maps [0, 1) onto [-1, 1)."
        )
    else:
        diagnosis = ""
    check(
        lo < 0 and lo >= -1.0 and hi <= 1.0,
        f"values range from {lo:.3f} to {hi:.3f}, expected within [-1, 1] with negatives",
        diagnosis=diagnosis,
    )


def test_probability(student):
    """Each feature is present (nonzero) with its own probability p"""
    check_presence(_sample(student), P, _presence_diagnosis)


def _presence_diagnosis(frac, tol):
    if bool(((frac - (1 - P)).abs() <= tol).all()):
        return "Features are present with probability 1 - p: a feature is present when rand < p, not rand > p."
    if bool((frac > 0.99).all()):
        return "Every feature is always present: did you forget to zero out the absent ones?"
    return "Make entry [b, k, i] nonzero exactly when a fresh torch.rand draw is below p[k, i]."


def test_values_uniform(student):
    """Present values are uniform on [-1, 1]: mean ≈ 0, quartiles ≈ -0.5, 0, 0.5"""
    out = _sample(student, p=torch.full((2, 4), 0.5))
    check_uniform(present_values(out, "values"), [-0.5, 0.0, 0.5], 0.06, 0.08, "U[-1, 1] expected mean 0 and quartiles -0.5, 0, 0.5",
                  _value_diagnosis)


def _value_diagnosis(values):
    if bool((values.abs() == 1).all()):
        return "Every present value is ±1: the values are uniform on [-1, 1], not random signs."
    if float(values.min()) >= 0:
        return "Values are in [0, 1]: for U[-1, 1], use 2 * torch.rand(...) - 1."
    if float(values.min()) >= -0.5 - 1e-6 and float(values.max()) <= 0.5 + 1e-6:
        return "Values are in [-0.5, 0.5]: torch.rand(...) - 0.5 has width 1; U[-1, 1] has width 2: 2 * rand - 1."
    if float(values.max()) <= 0.0 + 1e-6:
        return ("All values are negative: you reused the random numbers that decided presence (all below p) for the "
                "values. Draw a second, independent torch.rand for the values.")
    return "Present features take a value 2 * torch.rand(...) - 1, uniform on [-1, 1]."


def test_edge_probabilities(student):
    """p = 0: the feature is never present (exactly 0); p = 1: always present"""
    out = _sample(student)
    check_edge_features(out[:, 1, 3], out[:, 1, 0],  # p = 0 and p = 1
                        "Absent features must be exactly 0: use torch.where(present, value, 0.0) with present = rand < p.")


def test_independent(student):
    """Features and examples are sampled independently"""
    out = _sample(student, p=torch.full((2, 4), 0.5))
    off_diagonal = max_correlation((out != 0).float().flatten(1))
    check(
        off_diagonal < 0.12,
        f"presence of two different features is correlated (|correlation| up to {off_diagonal:.2f})",
        diagnosis="Draw one random number per (example, instance, feature).",
    )
    signs = torch.sign(out).flatten(1)
    both = (signs[:, :1] != 0) & (signs[:, 1:] != 0)
    same_sign = ((signs[:, :1] == signs[:, 1:]) & both).sum()
    check(
        abs(int(same_sign) / max(int(both.sum()), 1) - 0.5) < 0.1,
        "the signs of different features present in the same example agree "
        f"{int(same_sign) / max(int(both.sum()), 1):.0%} of the time, expected about 50%",
        diagnosis="Draw the values with the full shape (batch, inst, feats), not one per example.",
    )
    check(not bool((out == out[:1]).all()), "all examples in the batch are identical",
          diagnosis="Your random tensors need the batch dimension.")
