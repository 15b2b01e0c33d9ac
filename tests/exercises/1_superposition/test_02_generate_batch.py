"""Hidden test for exercise 02: generate_batch, sparse features with magnitudes U[0, 1].

The output is random, so these are property checks on a large seeded sample (not a comparison with the
reference's random numbers, which a correct answer need not reproduce). Tolerances are about 5 standard
deviations of the sampling noise, so a correct answer fails with probability below 1e-5.
"""

import torch

from arena_cli.testing import check
from arena_course.superposition.testing import check_edge_features, check_float32, check_presence, check_uniform
from arena_course.superposition.testing import check_unit_range, magnitude_diagnosis, max_correlation, present_values
from arena_course.superposition.testing import sample_batch

BATCH = 4000
# 3 instances x 4 features, with probabilities chosen so that p and 1 - p are far apart.
P = torch.tensor(
    [
        [0.1, 0.25, 0.6, 0.9],
        [0.05, 0.05, 0.05, 0.05],
        [1.0, 0.3, 0.15, 0.0],
    ]
)


def _sample(student, batch_size=BATCH, p=P):
    """A seeded batch from the student's generate_batch, checked to be a tensor of the right shape (every
    property check needs that first)."""
    return sample_batch(student.generate_batch, batch_size, p, crash=None, p_dims=f"(inst={p.shape[0]}, feats={p.shape[1]})",
                        shape_diagnosis=lambda out: "Draw your random numbers with shape (batch_size, n_instances, "
                        "n_features); p broadcasts against the last two dimensions.")


def test_shape(student):
    """Returns shape (batch, instances, features), float32"""
    out = _sample(student, batch_size=7)  # checks the shape
    check_float32(out, "Build the batch in float32, torch.rand's default dtype (the model's weights are float32).",
                  "A boolean mask must be turned into floats: use torch.where(mask, magnitude, 0.0) or multiply it by "
                  "a float tensor.")


def test_range(student):
    """All values are in [0, 1]"""
    check_unit_range(_sample(student), lambda lo: "torch.randn draws from a normal distribution; use torch.rand for "
                     "U[0, 1]." if lo < 0 else "Magnitudes are uniform on [0, 1]: use torch.rand, without scaling.")


def test_probability(student):
    """Each feature is present (nonzero) with its own probability p"""
    check_presence(_sample(student), P, _presence_diagnosis)


def _presence_diagnosis(frac, tol):
    if bool(((frac - (1 - P)).abs() <= tol).all()):
        return "Features are present with probability 1 - p: a feature is present when rand < p, not rand > p."
    if bool((frac == 1).all()):
        return "Every feature is always present: did you forget to zero out the absent ones?"
    if bool(((frac == 0) | (frac == 1)).all()):
        return ("Each feature is either present in every example or in none: draw a random number per example "
                "(your random tensor needs the batch dimension).")
    return "Make entry [b, k, i] nonzero exactly when a fresh torch.rand draw is below p[k, i]."


def test_magnitude(student):
    """Present features have magnitudes uniform on [0, 1] (mean ≈ 0.5)"""
    out = _sample(student, p=torch.full((3, 4), 0.25))
    check_uniform(present_values(out).float(), [0.25, 0.5, 0.75], 0.03, 0.04,
                  "U[0, 1] expected mean 0.5 and quartiles 0.25, 0.5, 0.75", lambda values: magnitude_diagnosis(
                      values, "Every present feature has value 1: the values should be uniform on [0, 1], not the 0/1 "
                      "mask itself.", 0.25, "All present values are below p (here 0.25): you reused the random numbers "
                      "that decided presence as magnitudes. Draw a second, independent torch.rand for the magnitudes."))


def test_edge_probabilities(student):
    """p = 0: the feature is never present (exactly 0); p = 1: always present"""
    out = _sample(student)
    check_edge_features(out[:, 2, 3], out[:, 2, 0],  # p = 0 and p = 1
                        "Absent features must be exactly 0, and with p = 0 a feature is never present (use rand < p).")


def test_independent_features(student):
    """Features are sampled independently of each other"""
    p = torch.full((2, 4), 0.5)
    out = _sample(student, p=p)
    off_diagonal = max_correlation((out != 0).float().flatten(1))  # over (batch, inst * feats)
    check(
        off_diagonal < 0.12,
        f"presence of two different features is correlated (|correlation| up to {off_diagonal:.2f}, "
        "expected ≈ 0)",
        diagnosis="Draw one random number per (example, instance, feature): a draw of shape (batch, inst, 1) or "
        "(batch, 1, 1) makes features appear together.",
    )
    values = out.flatten(1)  # magnitudes must be independent too: compare feature 0 with the others
    both = (values[:, :1] != 0) & (values[:, 1:] != 0)
    equal = (values[:, :1] == values[:, 1:]) & both
    check(
        int(equal.sum()) <= int(both.sum()) // 2,
        f"in {int(equal.sum())} of {int(both.sum())} cases, two features present in the same example have the "
        "same magnitude",
        diagnosis="Every present feature has value 1: the values should be uniform on [0, 1], not the 0/1 mask "
        "itself." if bool((values[values != 0] == 1).all()) else "Draw magnitudes with the full shape (batch, inst, "
        "feats), not one per example.",
    )


def test_examples_differ(student):
    """Different examples in the batch are different draws"""
    out = _sample(student, batch_size=50, p=torch.full((2, 3), 0.8))
    check(
        not bool((out == out[:1]).all()),
        "all examples in the batch are identical",
        diagnosis="Your random tensors need the batch dimension: torch.rand(batch_size, n_instances, n_features).",
    )
