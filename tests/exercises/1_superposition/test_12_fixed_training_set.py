"""Hidden test for exercise 12: fixed_training_set, sparse examples scaled to unit norm over their features.

The output is random, so these are property checks on a seeded sample (a correct answer need not reproduce
the reference's random numbers). Tolerances are about 5 standard deviations of the sampling noise.
"""

import torch

from arena_cli.testing import check
from arena_course.superposition.testing import check_float32, check_presence, sample_batch

# 3 instances x 5 features; instance 2 is so sparse that about half its examples have no feature at all.
P = torch.tensor(
    [
        [0.5, 0.5, 0.5, 0.5, 0.5],
        [0.1, 0.3, 0.6, 0.9, 1.0],
        [0.15, 0.15, 0.15, 0.15, 0.0],
    ]
)
N = 4000
_NAN = (
    "An example with no feature has norm 0, and 0 / 0 is NaN. Divide by the norm clamped below at 1e-8 "
    "(norms.clamp_min(1e-8)): an empty example then stays all zeros."
)


def _sample(student, n=N, p=P):
    return sample_batch(student.fixed_training_set, n, p, crash="fixed_training_set(n_examples, feature_probability) "
                        "raised: draw tensors of shape (n_examples, *feature_probability.shape).", p_dims=None,
                        shape_diagnosis=lambda out: "The set has one example per row, like a batch: shape "
                        "(n_examples, n_instances, n_features).")


def _norms(out):
    return out.norm(dim=-1)  # (examples, inst): one norm per example


def test_shape(student):
    """Returns shape (examples, instances, features), float32"""
    out = _sample(student, n=7)
    check_float32(out, "Build the set in float32, torch.rand's default dtype.",
                  "A boolean mask must be turned into floats: torch.where(mask, magnitude, 0.0).")


def test_no_nan(student):
    """No NaN, even for examples without any feature"""
    out = _sample(student)
    check(not bool(out.isnan().any()), f"{int(out.isnan().any(-1).sum())} examples contain NaN", diagnosis=_NAN)


def test_unit_norm(student):
    """Every example with a feature has norm 1 over its features; an empty example stays all zeros"""
    out = _sample(student)
    check(not bool(out.isnan().any()), "the set contains NaN", diagnosis=_NAN)
    norms = _norms(out)
    nonempty = (out != 0).any(-1)
    check(bool(nonempty.any()), "every example is all zeros", diagnosis="Make each feature present with its probability "
          "(as in exercise 2), then scale.")
    bad = (norms[nonempty] - 1).abs() > 1e-4
    if bool(bad.any()):
        got = norms[nonempty]
        column_norms = out.norm(dim=0)  # (inst, feats): the norm over the examples
        if bool(((column_norms - 1).abs() < 1e-4)[column_norms > 0].all()):
            diagnosis = ("Each column (a feature over all examples) has norm 1: you normalised over dim 0, the "
                         "examples. Take one norm per example, over its features: the last dimension.")
        elif bool(((out.flatten(1).norm(dim=-1) - 1).abs() < 1e-4).all()):
            diagnosis = ("Each example has norm 1 over all instances and features together: take the norm over "
                         "the features only (dim=-1), one per (example, instance).")
        elif float(got.max()) > 1 + 1e-4 and float(out.max()) <= 1:
            diagnosis = "The examples are not scaled: divide each by its norm over the features (dim=-1)."
        else:
            diagnosis = "Divide each example by its own norm: norms of shape (examples, inst, 1), keepdim=True."
        check(False, f"{int(bad.sum())} of {int(nonempty.sum())} nonempty examples have a norm other than 1 "
              f"over their features (from {float(got.min()):.3f} to {float(got.max()):.3f})", diagnosis=diagnosis)


def test_probability(student):
    """Each feature is present (nonzero) with its own probability p"""
    check_presence(_sample(student), P, lambda frac, tol: (
        "Features are present with probability 1 - p: present when rand < p, not rand > p."
        if bool(((frac - (1 - P)).abs() <= tol).all())
        else "Make entry [t, k, i] nonzero exactly when a fresh torch.rand draw is below p[k, i]."))


def test_magnitudes_are_uniform_before_scaling(student):
    """Within an example, the ratio of two present values is that of two independent U[0, 1] draws"""
    out = _sample(student, p=torch.full((2, 5), 0.5))
    a, b = out[..., 0].flatten(), out[..., 1].flatten()
    both = (a != 0) & (b != 0)
    check(int(both.sum()) > 500, f"only {int(both.sum())} examples with features 0 and 1 both present",
          diagnosis="Each feature is present with its probability p = 0.5 here.")
    smaller = torch.minimum(a[both], b[both]) / torch.maximum(a[both], b[both])
    # For U, V independent uniform on [0, 1], min(U, V) / max(U, V) is uniform on [0, 1]: mean 1/2.
    mean = float(smaller.mean())
    check(
        abs(mean - 0.5) < 0.05,
        f"the smaller of two present values over the larger has mean {mean:.3f}, expected 0.5 (independent U[0, 1])",
        diagnosis="Every present feature has the same value: draw a magnitude per entry with torch.rand, independent "
        "of the one that decided presence." if mean > 0.9 else "Present values are U[0, 1] draws before scaling; "
        "scaling the whole example by one number keeps their ratios.",
    )


def test_examples_differ(student):
    """Different examples are different draws"""
    out = _sample(student, n=50, p=torch.full((2, 3), 0.8))
    check(not bool((out == out[:1]).all()), "all examples are identical",
          diagnosis="Your random tensors need the examples dimension: shape (n_examples, n_instances, n_features).")
