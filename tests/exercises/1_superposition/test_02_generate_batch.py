"""Hidden test for exercise 02: generate_batch, sparse features with magnitudes U[0, 1].

The output is random, so these are property checks on a large seeded sample (not a comparison with the
reference's random numbers, which a correct answer need not reproduce). Tolerances are about 5 standard
deviations of the sampling noise, so a correct answer fails with probability below 1e-5.
"""

import torch

from arena_cli.testing import check, seed

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
    seed(0)
    out = student.generate_batch(batch_size, p.clone())
    check(
        isinstance(out, torch.Tensor),
        f"generate_batch returned {type(out).__name__}, not a Tensor",
        diagnosis="Did you forget a `return`?" if out is None else "",
    )
    expected = (batch_size, *p.shape)
    check(
        tuple(out.shape) == expected,
        f"generate_batch({batch_size}, p) with p of shape (inst={p.shape[0]}, feats={p.shape[1]}) returned shape "
        f"{tuple(out.shape)}, expected {expected}",
        diagnosis="Draw your random numbers with shape (batch_size, n_instances, n_features); p broadcasts "
        "against the last two dimensions.",
    )
    return out


def _fmt(t: torch.Tensor) -> str:
    return "[" + ", ".join("[" + ", ".join(f"{v:.3f}" for v in row) + "]" for row in t.tolist()) + "]"


def test_shape(student):
    """Returns shape (batch, instances, features), float32"""
    out = _sample(student, batch_size=7)  # checks the shape
    check(
        out.dtype == torch.float32,
        f"expected dtype float32, got {out.dtype}",
        diagnosis="A boolean mask must be turned into floats: use torch.where(mask, magnitude, 0.0) or "
        "multiply it by a float tensor."
        if out.dtype == torch.bool
        else "Build the batch in float32, torch.rand's default dtype (the model's weights are float32).",
    )


def test_range(student):
    """All values are in [0, 1]"""
    out = _sample(student)
    lo, hi = float(out.min()), float(out.max())
    check(
        lo >= 0.0 and hi <= 1.0,
        f"values range from {lo:.3f} to {hi:.3f}, expected within [0, 1]",
        diagnosis="torch.randn draws from a normal distribution; use torch.rand for U[0, 1]."
        if lo < 0
        else "Magnitudes are uniform on [0, 1]: use torch.rand, without scaling.",
    )


def test_probability(student):
    """Each feature is present (nonzero) with its own probability p"""
    out = _sample(student)
    frac = (out != 0).float().mean(0)  # (inst, feats)
    tol = 5 * (P * (1 - P) / BATCH).sqrt() + 1e-3
    ok = bool(((frac - P).abs() <= tol).all())
    if ok:
        return
    if bool(((frac - (1 - P)).abs() <= tol).all()):
        diagnosis = "Features are present with probability 1 - p: a feature is present when rand < p, not rand > p."
    elif bool((frac == 1).all()):
        diagnosis = "Every feature is always present: did you forget to zero out the absent ones?"
    elif bool(((frac == 0) | (frac == 1)).all()):
        diagnosis = (
            "Each feature is either present in every example or in none: draw a random number per example "
            "(your random tensor needs the batch dimension)."
        )
    else:
        diagnosis = "Make entry [b, k, i] nonzero exactly when a fresh torch.rand draw is below p[k, i]."
    check(
        False,
        f"fraction of nonzero entries per (instance, feature), over {BATCH} examples:\n"
        f"  got      {_fmt(frac)}\n  expected {_fmt(P)}",
        diagnosis=diagnosis,
    )


def test_magnitude(student):
    """Present features have magnitudes uniform on [0, 1] (mean ≈ 0.5)"""
    out = _sample(student, p=torch.full((3, 4), 0.25))
    values = out[out != 0].float()
    check(values.numel() > 100, f"only {values.numel()} nonzero values in {out.numel()}: cannot check magnitudes")
    mean = float(values.mean())
    quartiles = torch.quantile(values, torch.tensor([0.25, 0.5, 0.75])).tolist()
    ok = abs(mean - 0.5) < 0.03 and all(abs(q - e) < 0.04 for q, e in zip(quartiles, [0.25, 0.5, 0.75]))
    if ok:
        return
    if bool((values == 1).all()):
        diagnosis = "Every present feature has value 1: the values should be uniform on [0, 1], not the 0/1 mask itself."
    elif float(values.max()) <= 0.25 + 1e-6:
        diagnosis = (
            "All present values are below p (here 0.25): you reused the random numbers that decided presence as "
            "magnitudes. Draw a second, independent torch.rand for the magnitudes."
        )
    else:
        diagnosis = "Present features take a value drawn from torch.rand (uniform on [0, 1])."
    check(
        False,
        f"present values have mean {mean:.3f} and quartiles {', '.join(f'{q:.3f}' for q in quartiles)}; "
        "for U[0, 1] expected mean 0.5 and quartiles 0.25, 0.5, 0.75",
        diagnosis=diagnosis,
    )


def test_edge_probabilities(student):
    """p = 0: the feature is never present (exactly 0); p = 1: always present"""
    out = _sample(student)
    never = out[:, 2, 3]  # p = 0
    always = out[:, 2, 0]  # p = 1
    check(
        bool((never == 0).all()),
        f"a feature with p = 0 was nonzero in {int((never != 0).sum())} of {BATCH} examples",
        diagnosis="Absent features must be exactly 0, and with p = 0 a feature is never present (use rand < p).",
    )
    check(
        bool((always != 0).all()),
        f"a feature with p = 1 was zero in {int((always == 0).sum())} of {BATCH} examples",
        diagnosis="With p = 1 a feature is always present: present when rand < p.",
    )


def test_independent_features(student):
    """Features are sampled independently of each other"""
    p = torch.full((2, 4), 0.5)
    out = _sample(student, p=p)
    present = (out != 0).float().flatten(1)  # (batch, inst * feats)
    corr = torch.corrcoef(present.T).nan_to_num(0.0)
    off_diagonal = (corr - torch.eye(corr.shape[0])).abs().max()
    check(
        float(off_diagonal) < 0.12,
        f"presence of two different features is correlated (|correlation| up to {float(off_diagonal):.2f}, "
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
        diagnosis="Draw magnitudes with the full shape (batch, inst, feats), not one per example.",
    )


def test_examples_differ(student):
    """Different examples in the batch are different draws"""
    out = _sample(student, batch_size=50, p=torch.full((2, 3), 0.8))
    check(
        not bool((out == out[:1]).all()),
        "all examples in the batch are identical",
        diagnosis="Your random tensors need the batch dimension: torch.rand(batch_size, n_instances, n_features).",
    )
