"""Hidden test for exercise 05: anticorrelated_batch, at most one feature of each pair (2k, 2k + 1).

Convention (ARENA's): a pair is active with probability 2p, and then exactly one of its two features,
chosen uniformly, is present; so each feature is present with probability p. Property checks on a large
seeded sample; tolerances are about 5 standard deviations of the sampling noise.
"""

import torch

from arena_cli.testing import check
from arena_course.superposition.testing import check_float32, check_presence, check_uniform, check_unit_range, fmt
from arena_course.superposition.testing import magnitude_diagnosis, max_correlation, present_values, sample_batch

BATCH = 4000
# 2 instances x 3 pairs (6 features); the two features of a pair share a probability, at most 1/2.
P = torch.tensor(
    [
        [0.05, 0.05, 0.2, 0.2, 0.4, 0.4],
        [0.3, 0.3, 0.3, 0.3, 0.1, 0.1],
    ]
)


def _sample(student, batch_size=BATCH, p=P):
    """A seeded batch from the student's anticorrelated_batch, checked to be a tensor of the right shape."""
    return sample_batch(
        student.anticorrelated_batch, batch_size, p,
        crash="Draw the per-pair random numbers with shape (batch_size, n_instances, n_features // 2), and "
        "compare them with 2 * pair_probability (n_instances, n_pairs).",
        shape_diagnosis=lambda out: "Stack the two features' masks on a new last dimension, (batch, inst, pairs, 2), "
        "then flatten the last two dimensions to (batch, inst, 2 * pairs)."
        if len(out.shape) != 3
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


def test_never_both(student):
    """The two features of a pair (2k, 2k + 1) are never present in the same example"""
    out = _sample(student)
    present = out != 0
    both = int((present[..., 0::2] & present[..., 1::2]).sum())
    if both == 0:
        return
    n = out.shape[-1] // 2
    if not bool((present[..., :n] & present[..., n:]).any()):
        diagnosis = (
            "Features k and k + n_features/2 exclude each other, not neighbours: the pair's two masks must end up "
            "next to each other. torch.stack([first, second], dim=-1) then .flatten(-2) gives "
            "[a0, b0, a1, b1, ...]; torch.cat([first, second], -1) gives [a0, a1, ..., b0, b1, ...]."
        )
    else:
        diagnosis = (
            "Decide *which* feature of an active pair is present with one fair coin per pair, and use it for both: "
            "the first feature where the coin says so, the second where it doesn't (`coin` and `~coin`). Two "
            "independent flips can both come up."
        )
    check(
        False,
        f"in {both} of {present[..., 0::2].numel()} (example, instance, pair) cases both features of a pair were "
        "present",
        diagnosis=diagnosis,
    )


def test_feature_probability(student):
    """Each feature is present with probability p"""
    check_presence(_sample(student), P, _presence_diagnosis)


def _presence_diagnosis(frac, tol):
    first, second = frac[:, 0::2], frac[:, 1::2]
    tol_pairs = tol[:, 0::2]
    if bool(((first - 2 * P[:, 0::2]).abs() <= 2 * tol_pairs).all()) and bool((second < 0.01).all()):
        return "Only the first feature of each pair is ever present: the second is present where the coin is False."
    if bool(((frac - P / 2).abs() <= tol).all()):
        return ("Each feature is present with probability p/2: the pair must be active with probability 2p (then each "
                "of its two features gets half of that).")
    if bool(((first + second - 2 * P[:, 0::2]).abs() <= 2 * tol_pairs).all()):
        return ("Pairs are active as often as they should be, but the two features of a pair are not equally likely: "
                "choose between them with a fair coin, torch.rand(shape) < 0.5.")
    if bool(((frac - 2 * P).abs() <= 2 * tol).all()):
        return "Each feature is present with probability 2p: 2p is the probability that the *pair* is active."
    return ("A pair is active when rand < 2p; an active pair's first feature is present when a second, "
            "independent rand < 0.5, and its second feature otherwise.")


def test_pair_active(student):
    """Each pair is active (one feature present) with probability 2p, and at p = 1/2 always"""
    out = _sample(student)
    active = (out[..., 0::2] != 0) | (out[..., 1::2] != 0)
    frac = active.float().mean(0)
    expected = 2 * P[:, 0::2]
    tol = 5 * (expected * (1 - expected) / BATCH).sqrt() + 1e-3
    check(
        bool(((frac - expected).abs() <= tol).all()),
        f"fraction of examples with a pair active, per (instance, pair):\n  got      {fmt(frac)}\n"
        f"  expected {fmt(expected)}",
        diagnosis="A pair is active with probability 2p (rand < 2 * pair_probability), and then exactly one of its "
        "features is present.",
    )
    half = _sample(student, batch_size=500, p=torch.full((1, 4), 0.5))
    n_present = (half != 0).view(500, 1, 2, 2).sum(-1)
    check(
        bool((n_present == 1).all()),
        "with p = 1/2 every pair should be active in every example, with exactly one feature present; "
        f"{int((n_present != 1).sum())} of {n_present.numel()} pairs were not",
        diagnosis="Active when rand < 2p (so always when p = 1/2), and then the coin picks exactly one feature.",
    )


def test_choice_is_fair(student):
    """In an active pair, each of the two features is the present one half of the time"""
    out = _sample(student, p=torch.full((2, 6), 0.4))
    first, second = out[..., 0::2] != 0, out[..., 1::2] != 0
    n_active = int((first | second).sum())
    share = int(first.sum()) / max(n_active, 1)
    check(
        abs(share - 0.5) < 0.03,
        f"the first feature of an active pair was the present one in {share:.1%} of {n_active} active pairs, "
        "expected 50%",
        diagnosis="Choose between the two features with a fair coin: torch.rand(shape) < 0.5.",
    )


def test_magnitudes(student):
    """Present features have magnitudes uniform on [0, 1]"""
    out = _sample(student, p=torch.full((2, 6), 0.4))
    values = present_values(out)
    check_uniform(values, [0.25, 0.5, 0.75], 0.03, 0.04, "U[0, 1] expected mean 0.5 and quartiles 0.25, 0.5, 0.75",
                  lambda values: magnitude_diagnosis(
                      values,
                      "Every present feature has value 1: the values are uniform on [0, 1], not the 0/1 mask itself.",
                      0.8,
                      "All present values are below 2p: you reused the random numbers that decided whether the pair is "
                      "active as magnitudes. Draw a separate torch.rand for the magnitudes."))


def test_pairs_independent(student):
    """Different pairs, instances and examples are independent of each other"""
    out = _sample(student, p=torch.full((2, 6), 0.25))
    off_diagonal = max_correlation(((out[..., 0::2] != 0) | (out[..., 1::2] != 0)).float().flatten(1))
    check(
        off_diagonal < 0.12,
        f"whether two different pairs are active is correlated (|correlation| up to {off_diagonal:.2f}, "
        "expected ≈ 0)",
        diagnosis="Draw the random numbers with shape (batch, inst, n_pairs): one per (example, instance, pair).",
    )
    check(
        not bool((out == out[:1]).all()),
        "all examples in the batch are identical",
        diagnosis="Your random tensors need the batch dimension.",
    )
