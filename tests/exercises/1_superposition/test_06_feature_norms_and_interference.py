"""Hidden test for exercise 06: feature_norms_and_interference, ‖W_i‖ and Σ_{j≠i} (Ŵ_i · W_j)²."""

import math

import torch

from arena_cli.testing import assert_close, call_student, check, seed
from arena_course.superposition.testing import W_COLUMNS, check_per_feature, projections
from arena_course.testing import check_sequence


def _call(student, W):
    """The student's (norms, interference) for W, checked to be two tensors."""
    result = call_student(student.feature_norms_and_interference, W.clone(), diagnosis=W_COLUMNS)
    return check_sequence(result, "feature_norms_and_interference", 2, "a tuple (norms, interference)",
                          "End with `return norms, interference`.")


def _variants(W):
    """What common mistakes compute, for the diagnoses: (norm mistakes, interference mistakes)."""
    g = projections(W)
    norms, W_hat, eye, overlap, raw, cos = g.norms, g.W_hat, g.eye, g.overlap, g.raw, g.cos
    norm_mistakes = {
        "Those are squared norms: ‖W_i‖ is the square root of Σ_d W[k, d, i]².": norms**2,
    }
    interference_mistakes = {
        "You kept j = i in the sum: leave out the feature itself (its term is (Ŵ_i · W_i)² = ‖W_i‖²).": (overlap**2).sum(
            -1
        ),
        "You didn't normalise W_i: the projection is onto the unit vector Ŵ_i = W_i / ‖W_i‖, i.e. (Ŵ_i · W_j)², "
        "not (W_i · W_j)².": (raw**2 * (1 - eye)).sum(-1),
        "You normalised W_j as well: only feature i's direction is normalised, (Ŵ_i · W_j)², so that a strongly "
        "represented feature j interferes more.": (cos**2 * (1 - eye)).sum(-1),
        "You didn't square the projections: the paper sums (Ŵ_i · W_j)².": (overlap * (1 - eye)).sum(-1),
        "You summed |Ŵ_i · W_j| instead of its square.": (overlap.abs() * (1 - eye)).sum(-1),
        "Your einsum summed over the instances: keep the same `inst` name in both inputs and in the output, so "
        "that features of instance k only meet features of instance k.": (
            torch.einsum("kdi,ldj->kij", W_hat, W) ** 2 * (1 - eye)
        ).sum(-1),
        "You computed Σ_{j≠i} (Ŵ_j · W_i)²: the unit vector is feature i's own direction, Ŵ_i (sum over the "
        "*second* feature index).": (overlap**2 * (1 - eye)).sum(-2),
    }
    return norm_mistakes, interference_mistakes


def test_shape(student):
    """Returns (norms, interference), each of shape (instances, features)"""
    seed(0)
    norms, interference = _call(student, torch.randn(3, 4, 6))
    for name, value in [("norms", norms), ("interference", interference)]:
        check(
            isinstance(value, torch.Tensor),
            f"{name} is {type(value).__name__}, not a Tensor",
        )
        check_per_feature(tuple(value.shape), f", {name} has shape",
                          "Feature i is a column of W, W[k, :, i]: reduce over dim 1 (d_hidden), keep inst and feats.")


def test_matches_reference(student, reference):
    """Matches the reference on a random W (3 instances, 4 dimensions, 6 features)"""
    seed(0)
    W = torch.randn(3, 4, 6)
    expected_norms, expected_interference = reference.feature_norms_and_interference(W.clone())
    norms, interference = _call(student, W)
    norm_mistakes, interference_mistakes = _variants(W)
    assert_close(norms, expected_norms, name="norms", mistakes=norm_mistakes, atol=1e-4, rtol=1e-3)
    assert_close(
        interference,
        expected_interference,
        name="interference",
        mistakes=interference_mistakes,
        atol=1e-4,
        rtol=1e-3,
    )


def test_hand_computed_antipodal(student):
    """Hand-computed: an antipodal pair of norms 2 and 1 in one dimension"""
    W = torch.tensor([[[2.0, -1.0]]])  # (inst 1, d_hidden 1, feats 2)
    # Ŵ_0 = +1, Ŵ_1 = -1.  interference_0 = (Ŵ_0 · W_1)² = (-1)² = 1;  interference_1 = (Ŵ_1 · W_0)² = (-2)² = 4.
    norms, interference = _call(student, W)
    assert_close(norms, torch.tensor([[2.0, 1.0]]), name="norms", mistakes=_variants(W)[0], atol=1e-4)
    assert_close(interference, torch.tensor([[1.0, 4.0]]), name="interference", mistakes=_variants(W)[1], atol=1e-4)


def test_hand_computed_geometry(student):
    """Orthonormal features have interference 0; a pentagon's features 1.5 each"""
    angles = torch.arange(5) * 2 * math.pi / 5
    pentagon = torch.stack([angles.cos(), angles.sin()])  # (2, 5): 5 unit vectors 72° apart
    orthonormal = torch.zeros(2, 5)
    orthonormal[0, 0] = orthonormal[1, 1] = 1.0  # features 0 and 1 on the axes; 2-4 dead (all zero)
    W = torch.stack([pentagon, orthonormal])  # (inst 2, d_hidden 2, feats 5)
    norms, interference = _call(student, W)
    # Pentagon: Σ_{j≠i} cos² = 2 cos²(72°) + 2 cos²(144°) = 1.5.
    expected = torch.tensor([[1.5] * 5, [0.0] * 5])
    check(
        not bool(interference.isnan().any()),
        "interference is NaN for an all-zero column of W (a dead feature)",
        diagnosis="Dividing by ‖W_i‖ = 0 gives 0/0 = NaN: divide by norms.clamp_min(1e-8) instead, so a dead "
        "feature's unit vector is 0 and its interference 0.",
    )
    assert_close(norms, torch.tensor([[1.0] * 5, [1.0, 1.0, 0.0, 0.0, 0.0]]), name="norms", atol=1e-4)
    assert_close(interference, expected, name="interference", mistakes=_variants(W)[1], atol=1e-4)


def test_dead_feature(student):
    """A dead feature (W_i = 0) has interference 0, and doesn't change the others'"""
    seed(1)
    W = torch.randn(2, 3, 5)
    W[:, :, 2] = 0.0
    norms, interference = _call(student, W)
    check(
        not bool(interference.isnan().any() or norms.isnan().any()),
        "NaN in the output for a W with an all-zero column (a dead feature)",
        diagnosis="Dividing by ‖W_i‖ = 0 gives 0/0 = NaN: divide by norms.clamp_min(1e-8) instead, so a dead "
        "feature's unit vector is 0 and its interference 0.",
    )
    assert_close(interference[:, 2], torch.zeros(2), name="interference of the dead feature", atol=1e-5)
    alive = [0, 1, 3, 4]
    _, without = _call(student, W[:, :, alive])
    assert_close(
        interference[:, alive],
        without,
        name="interference of the other features (with vs without the dead one)",
        atol=1e-4,
        rtol=1e-3,
    )


def test_instances_separate(student):
    """Each instance is computed from its own W only"""
    seed(2)
    W = torch.randn(3, 4, 6)
    norms, interference = _call(student, W)
    for k in range(3):
        n_k, i_k = _call(student, W[k : k + 1])
        assert_close(norms[k : k + 1], n_k, name=f"norms of instance {k}", atol=1e-4, rtol=1e-3)
        assert_close(
            interference[k : k + 1],
            i_k,
            name=f"interference of instance {k}, computed alone vs with the others",
            atol=1e-4,
            rtol=1e-3,
            diagnosis="Keep the instance dimension in your einsum: features of instance k only meet features of "
            "instance k.",
        )
