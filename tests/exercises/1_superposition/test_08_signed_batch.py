"""Hidden test for exercise 08: signed_batch, sparse features with values U[-1, 1].

Property checks on a large seeded sample; tolerances are about 5 standard deviations of the sampling noise.
"""

import torch

from arena_cli.testing import call_student, check, seed

BATCH = 4000
P = torch.tensor(
    [
        [0.1, 0.25, 0.6, 0.9],
        [1.0, 0.3, 0.15, 0.0],
    ]
)


def _sample(student, batch_size=BATCH, p=P):
    """A seeded batch from the student's signed_batch, checked to be a tensor of the right shape."""
    seed(0)
    out = call_student(
        student.signed_batch,
        batch_size,
        p.clone(),
        diagnosis="Draw your random numbers with shape (batch_size, n_instances, n_features); p broadcasts against "
        "the last two dimensions.",
    )
    check(
        isinstance(out, torch.Tensor),
        f"signed_batch returned {type(out).__name__}, not a Tensor",
        diagnosis="Did you forget a `return`?" if out is None else "",
    )
    expected = (batch_size, *p.shape)
    check(
        tuple(out.shape) == expected,
        f"signed_batch({batch_size}, p) with p of shape {tuple(p.shape)} returned shape {tuple(out.shape)}, "
        f"expected {expected}",
        diagnosis="Draw your random numbers with shape (batch_size, n_instances, n_features).",
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
        diagnosis="Build the batch in float32, torch.rand's default dtype.",
    )


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
    out = _sample(student)
    frac = (out != 0).float().mean(0)
    tol = 5 * (P * (1 - P) / BATCH).sqrt() + 1e-3
    if bool(((frac - P).abs() <= tol).all()):
        return
    if bool(((frac - (1 - P)).abs() <= tol).all()):
        diagnosis = "Features are present with probability 1 - p: a feature is present when rand < p, not rand > p."
    elif bool((frac > 0.99).all()):
        diagnosis = "Every feature is always present: did you forget to zero out the absent ones?"
    else:
        diagnosis = "Make entry [b, k, i] nonzero exactly when a fresh torch.rand draw is below p[k, i]."
    check(
        False,
        f"fraction of nonzero entries per (instance, feature), over {BATCH} examples:\n"
        f"  got      {_fmt(frac)}\n  expected {_fmt(P)}",
        diagnosis=diagnosis,
    )


def test_values_uniform(student):
    """Present values are uniform on [-1, 1]: mean ≈ 0, quartiles ≈ -0.5, 0, 0.5"""
    out = _sample(student, p=torch.full((2, 4), 0.5))
    values = out[out != 0]
    check(values.numel() > 100, f"only {values.numel()} nonzero values in {out.numel()}: cannot check values")
    mean = float(values.mean())
    quartiles = torch.quantile(values, torch.tensor([0.25, 0.5, 0.75])).tolist()
    ok = abs(mean) < 0.06 and all(abs(q - e) < 0.08 for q, e in zip(quartiles, [-0.5, 0.0, 0.5]))
    if bool((values.abs() == 1).all()):
        diagnosis = "Every present value is ±1: the values are uniform on [-1, 1], not random signs."
    elif float(values.min()) >= 0:
        diagnosis = "Values are in [0, 1]: for U[-1, 1], use 2 * torch.rand(...) - 1."
    elif float(values.min()) >= -0.5 - 1e-6 and float(values.max()) <= 0.5 + 1e-6:
        diagnosis = "Values are in [-0.5, 0.5]: torch.rand(...) - 0.5 has width 1; U[-1, 1] has width 2: 2 * rand - 1."
    elif float(values.max()) <= 0.0 + 1e-6:
        diagnosis = (
            "All values are negative: you reused the random numbers that decided presence (all below p) for the "
            "values. Draw a second, independent torch.rand for the values."
        )
    else:
        diagnosis = "Present features take a value 2 * torch.rand(...) - 1, uniform on [-1, 1]."
    check(
        ok,
        f"present values have mean {mean:.3f} and quartiles {', '.join(f'{q:.3f}' for q in quartiles)}; "
        "for U[-1, 1] expected mean 0 and quartiles -0.5, 0, 0.5",
        diagnosis=diagnosis,
    )


def test_edge_probabilities(student):
    """p = 0: the feature is never present (exactly 0); p = 1: always present"""
    out = _sample(student)
    never, always = out[:, 1, 3], out[:, 1, 0]
    check(
        bool((never == 0).all()),
        f"a feature with p = 0 was nonzero in {int((never != 0).sum())} of {BATCH} examples",
        diagnosis="Absent features must be exactly 0: use torch.where(present, value, 0.0) with present = rand < p.",
    )
    check(
        bool((always != 0).all()),
        f"a feature with p = 1 was zero in {int((always == 0).sum())} of {BATCH} examples",
        diagnosis="With p = 1 a feature is always present: present when rand < p.",
    )


def test_independent(student):
    """Features and examples are sampled independently"""
    out = _sample(student, p=torch.full((2, 4), 0.5))
    present = (out != 0).float().flatten(1)
    corr = torch.corrcoef(present.T).nan_to_num(0.0)
    off_diagonal = (corr - torch.eye(corr.shape[0])).abs().max()
    check(
        float(off_diagonal) < 0.12,
        f"presence of two different features is correlated (|correlation| up to {float(off_diagonal):.2f})",
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
