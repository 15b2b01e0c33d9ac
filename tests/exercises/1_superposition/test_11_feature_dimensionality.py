"""Hidden test for exercise 11: feature_dimensionality, D_i = ‖W_i‖² / Σ_j (Ŵ_i · W_j)²."""

import math

import torch

from arena_cli.testing import assert_close, call_student, check, seed
from arena_course.superposition.testing import W_COLUMNS, check_per_feature, projections
from arena_course.testing import check_tensor
_NAN_DIAGNOSIS = (
    "A dead feature (W_i = 0) gives 0/0 twice: in Ŵ_i = W_i / ‖W_i‖ and in D_i itself. Clamp both "
    "denominators below at 1e-8 (norms.clamp_min(1e-8), denominator.clamp_min(1e-8)), so that D_i = 0."
)


def _call(student, W):
    D = call_student(student.feature_dimensionality, W.clone(), diagnosis=W_COLUMNS)
    return check_tensor(D, "feature_dimensionality", "not a Tensor")


def _polygon(k: int) -> torch.Tensor:
    """k unit vectors at equal angles in 2D: (2, k)."""
    angles = torch.arange(k) * 2 * math.pi / k
    return torch.stack([angles.cos(), angles.sin()])


def _mistakes(W):
    """What common mistakes compute, for the diagnoses."""
    g = projections(W)
    norms, overlap, raw, cos, eye = g.norms, g.overlap, g.raw, g.cos, g.eye
    denominator = (overlap**2).sum(-1).clamp_min(1e-8)
    return {
        "You left the feature itself out of the denominator: the sum is over all j, i included (its own term is "
        "‖W_i‖²).": norms**2 / (overlap**2 * (1 - eye)).sum(-1).clamp_min(1e-8),
        "You didn't normalise W_i in the denominator: it is Σ_j (Ŵ_i · W_j)² with the unit vector Ŵ_i, not "
        "Σ_j (W_i · W_j)².": norms**2 / (raw**2).sum(-1).clamp_min(1e-8),
        "You normalised W_j as well: the denominator is Σ_j (Ŵ_i · W_j)², only feature i's direction normalised.": (
            norms**2 / (cos**2).sum(-1).clamp_min(1e-8)
        ),
        "Your numerator is ‖W_i‖, not ‖W_i‖².": norms / denominator,
        "You computed the reciprocal: D_i = ‖W_i‖² / Σ_j (Ŵ_i · W_j)², numerator ‖W_i‖².": denominator
        / (norms**2).clamp_min(1e-8),
        "You didn't square the projections in the denominator: Σ_j (Ŵ_i · W_j)².": norms**2
        / overlap.abs().sum(-1).clamp_min(1e-8),
        "You summed over the first feature index: Σ_j (Ŵ_i · W_j)² sums over j, the feature that is *not* "
        "normalised.": norms**2 / (overlap**2).sum(-2).clamp_min(1e-8),
    }


def test_shape(student):
    """Returns one dimensionality per instance and feature, shape (instances, features)"""
    seed(0)
    D = _call(student, torch.randn(3, 4, 6))
    check_per_feature(tuple(D.shape), " got shape", "Feature i is a column of W, W[k, :, i]: reduce over dim 1 (d_hidden).")


def test_matches_reference(student, reference):
    """Matches the reference on a random W (3 instances, 4 dimensions, 6 features)"""
    seed(0)
    W = torch.randn(3, 4, 6)
    expected = reference.feature_dimensionality(W.clone())
    assert_close(_call(student, W), expected, name="dimensionality", mistakes=_mistakes(W), atol=1e-4, rtol=1e-3)


def test_sticky_fractions(student):
    """Hand-computed shapes: orthogonal 1, digon 1/2, triangle 2/3, pentagon 2/5"""
    cases = {
        "orthonormal features (D = 1)": (torch.eye(2), 1.0),
        "an antipodal pair, a digon (D = 1/2)": (torch.tensor([[1.0, -1.0], [0.0, 0.0]]), 1 / 2),
        "a triangle, 120° apart (D = 2/3)": (_polygon(3), 2 / 3),
        "a pentagon, 72° apart (D = 2/5)": (_polygon(5), 2 / 5),
    }
    for name, (W2d, value) in cases.items():
        W = W2d[None]  # (inst 1, d_hidden 2, feats)
        assert_close(
            _call(student, W),
            torch.full((1, W.shape[-1]), value),
            name=f"dimensionality of {name}",
            mistakes=_mistakes(W),
            atol=1e-4,
        )


def test_tetrahedron(student):
    """Hand-computed: a tetrahedron in 3 dimensions has D = 3/4, whatever its scale"""
    tetra = torch.tensor([[1.0, 1.0, -1.0, -1.0], [1.0, -1.0, 1.0, -1.0], [1.0, -1.0, -1.0, 1.0]])
    W = torch.stack([tetra, 0.1 * tetra])  # the same shape at two scales: D depends only on the geometry
    assert_close(_call(student, W), torch.full((2, 4), 0.75), name="dimensionality", mistakes=_mistakes(W), atol=1e-4)


def test_dead_feature(student):
    """A dead feature (W_i = 0) has dimensionality 0, and no NaN"""
    W = torch.zeros(1, 2, 3)
    W[0, 0, 0] = 1.0
    W[0, 1, 1] = 0.5  # features 0 and 1 orthogonal (D = 1 each), feature 2 dead
    D = _call(student, W)
    check(not bool(D.isnan().any()), "NaN in the output for a W with an all-zero column (a dead feature)",
          diagnosis=_NAN_DIAGNOSIS)
    assert_close(D, torch.tensor([[1.0, 1.0, 0.0]]), name="dimensionality", atol=1e-4)


def test_at_most_d_hidden(student):
    """The dimensionalities of an instance sum to at most d_hidden (random W), and all lie in [0, 1]"""
    seed(3)
    W = torch.randn(4, 3, 7) * torch.rand(4, 1, 7)  # features of different norms
    D = _call(student, W)
    check(not bool(D.isnan().any()), "NaN in the output", diagnosis=_NAN_DIAGNOSIS)
    check(
        bool(((D >= -1e-6) & (D <= 1 + 1e-5)).all()),
        f"dimensionalities range from {float(D.min()):.3f} to {float(D.max()):.3f}, expected within [0, 1]",
        diagnosis="The denominator includes the feature's own term ‖W_i‖², so D_i = ‖W_i‖² / (‖W_i‖² + ...) ≤ 1: "
        "sum over all j, i included.",
    )
    total = D.sum(-1)
    check(
        bool((total <= 3 + 1e-4).all()),
        f"per-instance sums of dimensionalities are {[round(v, 3) for v in total.tolist()]}, but with d_hidden = 3 "
        "they can be at most 3",
        diagnosis="Check the formula: D_i = ‖W_i‖² / Σ_j (Ŵ_i · W_j)², the sum over every feature j.",
    )
