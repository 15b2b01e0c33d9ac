"""Hidden test for exercise 05: anticorrelated_batch, at most one feature of each pair (2k, 2k + 1).

Convention (ARENA's): a pair is active with probability 2p, and then exactly one of its two features,
chosen uniformly, is present; so each feature is present with probability p. Property checks on a large
seeded sample; tolerances are about 5 standard deviations of the sampling noise.
"""

import torch

from arena_cli.testing import call_student, check, seed

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
    seed(0)
    out = call_student(
        student.anticorrelated_batch,
        batch_size,
        p.clone(),
        diagnosis="Draw the per-pair random numbers with shape (batch_size, n_instances, n_features // 2), and "
        "compare them with 2 * pair_probability (n_instances, n_pairs).",
    )
    check(
        isinstance(out, torch.Tensor),
        f"anticorrelated_batch returned {type(out).__name__}, not a Tensor",
        diagnosis="Did you forget a `return`?" if out is None else "",
    )
    expected = (batch_size, *p.shape)
    check(
        tuple(out.shape) == expected,
        f"anticorrelated_batch({batch_size}, p) with p of shape {tuple(p.shape)} returned shape "
        f"{tuple(out.shape)}, expected {expected}",
        diagnosis="Stack the two features' masks on a new last dimension, (batch, inst, pairs, 2), then flatten "
        "the last two dimensions to (batch, inst, 2 * pairs)."
        if len(out.shape) != 3
        else "The result has the shape of generate_batch's: (batch_size, n_instances, n_features).",
    )
    return out


def _fmt(t: torch.Tensor) -> str:
    return "[" + ", ".join("[" + ", ".join(f"{v:.3f}" for v in row) + "]" for row in t.tolist()) + "]"


def test_shape(student):
    """Returns shape (batch, instances, features), float32"""
    out = _sample(student, batch_size=7)
    check(
        out.dtype == torch.float32,
        f"expected dtype float32, got {out.dtype}",
        diagnosis="Turn the boolean mask into values with torch.where(present, magnitude, 0.0)."
        if out.dtype == torch.bool
        else "Build the batch in float32, torch.rand's default dtype.",
    )


def test_range(student):
    """All values are in [0, 1]"""
    out = _sample(student)
    lo, hi = float(out.min()), float(out.max())
    check(
        lo >= 0.0 and hi <= 1.0,
        f"values range from {lo:.3f} to {hi:.3f}, expected within [0, 1]",
        diagnosis="Magnitudes are uniform on [0, 1]: use torch.rand (not torch.randn), without scaling.",
    )


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
    out = _sample(student)
    frac = (out != 0).float().mean(0)  # (inst, feats)
    tol = 5 * (P * (1 - P) / BATCH).sqrt() + 1e-3
    if bool(((frac - P).abs() <= tol).all()):
        return
    first, second = frac[:, 0::2], frac[:, 1::2]
    tol_pairs = tol[:, 0::2]
    if bool(((first - 2 * P[:, 0::2]).abs() <= 2 * tol_pairs).all()) and bool((second < 0.01).all()):
        diagnosis = "Only the first feature of each pair is ever present: the second is present where the coin is False."
    elif bool(((frac - P / 2).abs() <= tol).all()):
        diagnosis = (
            "Each feature is present with probability p/2: the pair must be active with probability 2p (then each "
            "of its two features gets half of that)."
        )
    elif bool(((first + second - 2 * P[:, 0::2]).abs() <= 2 * tol_pairs).all()):
        diagnosis = (
            "Pairs are active as often as they should be, but the two features of a pair are not equally likely: "
            "choose between them with a fair coin, torch.rand(shape) < 0.5."
        )
    elif bool(((frac - 2 * P).abs() <= 2 * tol).all()):
        diagnosis = "Each feature is present with probability 2p: 2p is the probability that the *pair* is active."
    else:
        diagnosis = (
            "A pair is active when rand < 2p; an active pair's first feature is present when a second, "
            "independent rand < 0.5, and its second feature otherwise."
        )
    check(
        False,
        f"fraction of nonzero entries per (instance, feature), over {BATCH} examples:\n"
        f"  got      {_fmt(frac)}\n  expected {_fmt(P)}",
        diagnosis=diagnosis,
    )


def test_pair_active(student):
    """Each pair is active (one feature present) with probability 2p, and at p = 1/2 always"""
    out = _sample(student)
    active = (out[..., 0::2] != 0) | (out[..., 1::2] != 0)
    frac = active.float().mean(0)
    expected = 2 * P[:, 0::2]
    tol = 5 * (expected * (1 - expected) / BATCH).sqrt() + 1e-3
    check(
        bool(((frac - expected).abs() <= tol).all()),
        f"fraction of examples with a pair active, per (instance, pair):\n  got      {_fmt(frac)}\n"
        f"  expected {_fmt(expected)}",
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
    values = out[out != 0]
    check(values.numel() > 100, f"only {values.numel()} nonzero values in {out.numel()}: cannot check magnitudes")
    mean = float(values.mean())
    quartiles = torch.quantile(values, torch.tensor([0.25, 0.5, 0.75])).tolist()
    ok = abs(mean - 0.5) < 0.03 and all(abs(q - e) < 0.04 for q, e in zip(quartiles, [0.25, 0.5, 0.75]))
    if bool((values == 1).all()):
        diagnosis = "Every present feature has value 1: the values are uniform on [0, 1], not the 0/1 mask itself."
    elif float(values.max()) <= 0.8 + 1e-6:  # p = 0.4: below 2p = 0.8
        diagnosis = (
            "All present values are below 2p: you reused the random numbers that decided whether the pair is "
            "active as magnitudes. Draw a separate torch.rand for the magnitudes."
        )
    else:
        diagnosis = "Present features take a value drawn from torch.rand (uniform on [0, 1])."
    check(
        ok,
        f"present values have mean {mean:.3f} and quartiles {', '.join(f'{q:.3f}' for q in quartiles)}; "
        "for U[0, 1] expected mean 0.5 and quartiles 0.25, 0.5, 0.75",
        diagnosis=diagnosis,
    )


def test_pairs_independent(student):
    """Different pairs, instances and examples are independent of each other"""
    out = _sample(student, p=torch.full((2, 6), 0.25))
    active = ((out[..., 0::2] != 0) | (out[..., 1::2] != 0)).float().flatten(1)
    corr = torch.corrcoef(active.T).nan_to_num(0.0)
    off_diagonal = (corr - torch.eye(corr.shape[0])).abs().max()
    check(
        float(off_diagonal) < 0.12,
        f"whether two different pairs are active is correlated (|correlation| up to {float(off_diagonal):.2f}, "
        "expected ≈ 0)",
        diagnosis="Draw the random numbers with shape (batch, inst, n_pairs): one per (example, instance, pair).",
    )
    check(
        not bool((out == out[:1]).all()),
        "all examples in the batch are identical",
        diagnosis="Your random tensors need the batch dimension.",
    )
