"""Hidden test for exercise 25: relative_reconstruction_bias, γ = Σ‖h'‖² / Σ h'·h per instance."""

import torch

from arena_cli.testing import assert_close, call_student, check, seed

BATCH, N_INST, D_IN = 200, 3, 4


def _inputs():
    """Inputs h and reconstructions h' that are each instance's own scaling of h (0.7, 1, 1.25), plus noise."""
    seed(1)
    h = torch.randn(BATCH, N_INST, D_IN) * torch.rand(BATCH, N_INST, 1) * 2
    scale = torch.tensor([0.7, 1.0, 1.25])[None, :, None]
    return h, scale * h + 0.2 * torch.randn(BATCH, N_INST, D_IN)


def _gamma(student, h, h_rec):
    out = call_student(student.relative_reconstruction_bias, h, h_rec,
                       diagnosis="Sum over the batch (dimension 0) and d_in (dimension 2); keep the instances.")
    check(isinstance(out, torch.Tensor), f"returned {type(out).__name__}, expected a Tensor of shape (inst,)",
          diagnosis="Did you forget a `return`?" if out is None else "")
    return out


def test_matches_the_reference(student, reference):
    """γ per instance matches the reference on noisy scaled reconstructions"""
    h, h_rec = _inputs()
    expected = reference.relative_reconstruction_bias(h, h_rec)
    norms, overlaps = h_rec.pow(2).sum((0, 2)), (h_rec * h).sum((0, 2))
    assert_close(_gamma(student, h, h_rec), expected, name="gamma", mistakes={
        "You returned the best multiplier of h', Σ h'·h / Σ‖h'‖²: γ is what h' is divided by, its inverse.":
            overlaps / norms,
        "You averaged per-example ratios: take the ratio of the sums over the whole batch.":
            (h_rec.pow(2).sum(-1) / (h_rec * h).sum(-1)).mean(0),
        "You used a ratio of norms ‖h'‖/‖h‖: the least-squares γ is Σ‖h'‖² / Σ h'·h.":
            h_rec.pow(2).sum((0, 2)).sqrt() / h.pow(2).sum((0, 2)).sqrt(),
        "You used Σ‖h'‖² / Σ‖h‖²: the denominator is the overlap Σ h'·h.": norms / h.pow(2).sum((0, 2)),
        "You summed over the instances as well: each instance has its own γ, shape (inst,).":
            (norms.sum() / overlaps.sum()).expand(N_INST),
    })


def test_exact_scaling_values(student):
    """Reconstructions exactly 0.8, 1 and 1.5 times their inputs give γ = 0.8, 1, 1.5"""
    seed(2)
    h = torch.randn(50, N_INST, D_IN)
    h_rec = torch.tensor([0.8, 1.0, 1.5])[None, :, None] * h
    assert_close(_gamma(student, h, h_rec), torch.tensor([0.8, 1.0, 1.5]), name="gamma", atol=1e-5, mistakes={
        "You returned 1/γ: reconstructions shrunk to 0.8 of their inputs must give γ = 0.8 (below 1).":
            torch.tensor([1 / 0.8, 1.0, 1 / 1.5]),
    })


def test_is_the_minimiser(student):
    """γ minimises the mean of ‖h'/γ' - h‖²: nudging it either way does worse"""
    h, h_rec = _inputs()
    gamma = _gamma(student, h, h_rec).detach()
    check(tuple(gamma.shape) == (N_INST,), f"γ has shape {tuple(gamma.shape)}, expected ({N_INST},)",
          diagnosis="One γ per instance: sum over the batch and d_in only.")

    def objective(g):
        return (h_rec / g[None, :, None] - h).pow(2).sum((0, 2))

    for factor in (0.99, 1.01):
        check(bool((objective(gamma) <= objective(gamma * factor) + 1e-4).all()),
              f"the objective is smaller at {factor} γ than at your γ {gamma.tolist()}",
              diagnosis="Set the derivative of Σ‖u h' - h‖² in u = 1/γ to zero.")
