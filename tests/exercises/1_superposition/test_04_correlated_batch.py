"""Hidden test for exercise 04: correlated_batch, features in pairs (2k, 2k + 1) present together.

The output is random, so these are property checks on a large seeded sample. Tolerances are about 5
standard deviations of the sampling noise.
"""

import torch

from arena_cli.testing import check
from arena_course.superposition.testing import check_float32, check_presence, check_uniform, check_unit_range
from arena_course.superposition.testing import magnitude_diagnosis, max_correlation, present_values, sample_batch

BATCH = 4000
# 2 instances x 3 pairs (6 features); the two features of a pair share a probability.
P = torch.tensor(
    [
        [0.1, 0.1, 0.5, 0.5, 0.9, 0.9],
        [0.3, 0.3, 0.3, 0.3, 0.05, 0.05],
    ]
)


def _sample(student, batch_size=BATCH, p=P):
    """A seeded batch from the student's correlated_batch, checked to be a tensor of the right shape."""
    return sample_batch(
        student.correlated_batch, batch_size, p,
        crash="Draw one flip per pair, shape (batch_size, n_instances, n_features // 2), and compare it with "
        "pair_probability (n_instances, n_pairs); then repeat it to (batch_size, n_instances, n_features).",
        shape_diagnosis=lambda out: "One value per feature: the pair mask has n_features // 2 entries per instance, "
        "and must be repeated to n_features (each pair's flip used for both of its features)."
        if len(out.shape) == 3 and out.shape[-1] == p.shape[-1] // 2
        else "The result has the shape of generate_batch's: (batch_size, n_instances, n_features).",
    )


def test_shape(student):
    """Returns shape (batch, instances, features), float32"""
    check_float32(_sample(student, batch_size=7), "Build the batch in float32, torch.rand's default dtype.",
                  "Turn the boolean mask into values with torch.where(present, magnitude, 0.0).")


def test_range(student):
    """All values are in [0, 1]"""
    check_unit_range(_sample(student), lambda lo: "Magnitudes are uniform on [0, 1]: use torch.rand (not torch.randn), "
                     "without scaling.")


def test_pairs_present_together(student):
    """The two features of each pair (2k, 2k + 1) are zero in exactly the same examples"""
    out = _sample(student)
    present = out != 0
    first, second = present[..., 0::2], present[..., 1::2]
    disagree = int((first != second).sum())
    if disagree == 0:
        return
    n = out.shape[-1] // 2
    halves_agree = bool((present[..., :n] == present[..., n:]).all())
    if halves_agree:
        diagnosis = (
            "Feature k is present together with feature k + n_features/2, not with its neighbour: you repeated "
            "the pair mask as [a, b, a, b] (torch.cat, or einops \"(two pairs)\"). Pairs are neighbours, "
            "features (2k, 2k + 1): repeat as [a, a, b, b], e.g. einops.repeat(mask, \"... pairs -> ... (pairs two)\", "
            "two=2) or mask.repeat_interleave(2, dim=-1)."
        )
    else:
        diagnosis = (
            "Draw one coin flip per *pair* (shape (batch, inst, n_pairs)) and use it for both features of the "
            "pair; a flip per feature makes them independent."
        )
    check(
        False,
        f"in {disagree} of {first.numel()} (example, instance, pair) cases exactly one of the two features of a "
        "pair was present",
        diagnosis=diagnosis,
    )


def test_probability(student):
    """Each pair (so each feature) is present with its own probability p"""
    check_presence(_sample(student), P, _presence_diagnosis)


def _presence_diagnosis(frac, tol):
    if bool(((frac - (1 - P)).abs() <= tol).all()):
        return "Pairs are present with probability 1 - p: a pair is present when rand < p, not rand > p."
    if bool(((frac - P**2).abs() <= tol).all()):
        return ("Features are present with probability p²: you combined two independent flips (e.g. a pair flip and "
                "a feature flip). One flip per pair, with probability p, is all there is.")
    return ("Pair k's probability is pair_probability[:, k] (= feature_probability[:, 2k]): compare the pair's "
            "flip, torch.rand(batch, inst, n_pairs), with pair_probability.")


def test_magnitudes(student):
    """Present features have independent magnitudes, uniform on [0, 1]"""
    out = _sample(student, p=torch.full((2, 6), 0.5))
    values = present_values(out)
    both = (out[..., 0::2] != 0) & (out[..., 1::2] != 0)
    same = both & (out[..., 0::2] == out[..., 1::2])
    check(
        int(same.sum()) <= int(both.sum()) // 10,
        f"in {int(same.sum())} of {int(both.sum())} present pairs, the two features have the same value",
        diagnosis="The two features of a pair share the coin flip, not the value: draw magnitudes with the full "
        "shape (batch_size, n_instances, n_features).",
    )
    check_uniform(values, [0.25, 0.5, 0.75], 0.03, 0.04, "U[0, 1] expected mean 0.5 and quartiles 0.25, 0.5, 0.75",
                  lambda values: magnitude_diagnosis(
                      values,
                      "Every present feature has value 1: the values are uniform on [0, 1], not the 0/1 mask itself.",
                      0.5,
                      "All present values are below p: you reused the random numbers that decided presence as magnitudes. "
                      "Draw a second, independent torch.rand for the magnitudes."))


def test_pairs_independent(student):
    """Different pairs, instances and examples are independent of each other"""
    out = _sample(student, p=torch.full((2, 6), 0.5))
    off_diagonal = max_correlation((out[..., 0::2] != 0).float().flatten(1))  # over (batch, inst * pairs)
    check(
        off_diagonal < 0.12,
        f"the presence of two different pairs is correlated (|correlation| up to {off_diagonal:.2f}, "
        "expected ≈ 0)",
        diagnosis="Draw one flip per (example, instance, pair): a draw of shape (batch, inst, 1) or (batch, 1, 1) "
        "makes all the pairs appear together.",
    )
    check(
        not bool((out == out[:1]).all()),
        "all examples in the batch are identical",
        diagnosis="Your random tensors need the batch dimension.",
    )


def test_edge_probabilities(student):
    """A pair with p = 0 is never present; with p = 1 always"""
    p = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    out = _sample(student, batch_size=500, p=p)
    check(
        bool((out[:, 0, :2] == 0).all()),
        f"a pair with p = 0 was present in {int((out[:, 0, :2] != 0).any(-1).sum())} of 500 examples",
        diagnosis="A pair is present when rand < p (strictly), so p = 0 never fires.",
    )
    check(
        bool((out[:, 0, 2:] != 0).all()),
        f"a pair with p = 1 was absent in {int((out[:, 0, 2:] == 0).any(-1).sum())} of 500 examples",
        diagnosis="A pair is present when rand < p: with p = 1, always.",
    )
