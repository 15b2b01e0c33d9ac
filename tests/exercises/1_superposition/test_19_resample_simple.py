"""Hidden test for exercise 19: resample_simple, detecting dead latents and giving them random directions.

The new directions are random, so most checks are properties: which latents change, unit norms, the
encoder-decoder relation, zero biases, and that the directions are spread over the whole sphere.
"""

import torch

from arena_cli.testing import assert_close, call_student, check, load_reference, seed


# Exercise 18's ToySAE (its reference): W_enc, W_dec / W_dec_normalized, b_enc, b_dec, tied, forward.
ToySAE = load_reference(__file__, "sae_forward").ToySAE


SCALE = 0.7

# A window of 4 steps for 2 instances of 5 latents: the fraction of each batch each latent fired on.
FRAC = torch.zeros(4, 2, 5)
FRAC[:, 0, 0] = 0.1  # instance 0: latent 0 fires at every step
FRAC[0, 0, 2] = 0.2  #   latent 2 only at the first step of the window: alive
FRAC[3, 0, 3] = 0.05  #  latent 3 only at the last step: alive
FRAC[1, 0, 4] = 1e-3  #  latent 4 on one example in 1000, once: alive
FRAC[:, 1, 1] = 0.3  # instance 1: latents 1, 2, 4 fire; 0 and 3 never do
FRAC[2, 1, 2] = 0.01
FRAC[:, 1, 4] = 0.02
DEAD = torch.tensor([[False, True, False, False, False], [True, False, False, True, False]])


def _sae(n_inst=2, d_in=3, d_sae=5, tied=False):
    seed(0)
    sae = ToySAE(n_inst, d_in, d_sae, tied=tied)
    with torch.no_grad():  # nonzero biases and non-unit rows, so that "unchanged" and "reset" are visible
        sae.W_enc.copy_(torch.randn(n_inst, d_in, d_sae))
        if not tied:
            sae._W_dec.copy_(torch.randn(n_inst, d_sae, d_in) * 2)
        sae.b_enc.copy_(torch.rand(n_inst, d_sae) - 1.5)
        sae.b_dec.copy_(torch.randn(n_inst, d_in))
    return sae


def _snapshot(sae):
    return {name: p.detach().clone() for name, p in sae.named_parameters()}


def _resample(student, sae, frac=FRAC, scale=SCALE, seed_value=1):
    seed(seed_value)
    return call_student(student.resample_simple, sae, frac.clone(), scale)


def test_dead_mask(student):
    """Returns the dead latents: those with no activity at any step of the window"""
    dead = _resample(student, _sae())
    check(
        isinstance(dead, torch.Tensor),
        f"resample_simple returned {type(dead).__name__}, expected the dead mask, a bool tensor (n_inst, d_sae)",
        diagnosis="Return the mask of resampled latents: `return dead`." if dead is None else "",
    )
    check(tuple(dead.shape) == (2, 5), f"the dead mask has shape {tuple(dead.shape)}, expected (n_inst, d_sae) = (2, 5)",
          diagnosis="Reduce over the window (dim 0) only: (frac_active_in_window < 1e-8).all(dim=0).")
    check(dead.dtype == torch.bool, f"the dead mask has dtype {dead.dtype}, expected torch.bool",
          diagnosis="Return the boolean mask itself: a comparison like (frac < 1e-8).all(dim=0) is already bool.")
    below = FRAC < 1e-8
    assert_close(
        dead,
        DEAD,
        name="dead mask",
        mistakes={
            "You only looked at the last step of the window: a latent is dead only if it fired at none of the steps.": below[-1],
            "You only looked at the first step of the window: a latent is dead only if it fired at none of the steps.": below[0],
            "You used .any(): a latent is dead if it is silent at *all* steps of the window (.all(dim=0)).": below.any(0),
            "A threshold on the mean marked a rarely-firing latent dead: dead means *no* activity in the window, "
            "compare each entry with 1e-8.": FRAC.mean(0) < 1e-3,
        },
    )


def test_alive_latents_unchanged(student):
    """Live latents keep their weights and biases, and b_dec is unchanged"""
    sae = _sae()
    before = _snapshot(sae)
    _resample(student, sae)
    alive = ~DEAD
    checks = [
        ("W_enc[:, :, alive]", sae.W_enc.detach().transpose(-1, -2)[alive], before["W_enc"].transpose(-1, -2)[alive]),
        ("W_dec[:, alive, :]", sae._W_dec.detach()[alive], before["_W_dec"][alive]),
        ("b_enc[:, alive]", sae.b_enc.detach()[alive], before["b_enc"][alive]),
        ("b_dec", sae.b_dec.detach(), before["b_dec"]),
    ]
    for name, actual, expected in checks:
        assert_close(
            actual,
            expected,
            name=name,
            diagnosis="Only the dead latents change: index every assignment with the dead mask. W_enc's latents "
            "are its last dimension: assign through sae.W_enc.transpose(-1, -2)[dead] (or W_enc[k][:, j]).",
        )


def test_dead_latents_reset(student):
    """Dead latents: unit decoder direction, encoder = resample_scale × that direction, bias 0"""
    sae = _sae()
    _resample(student, sae)
    W_dec = sae._W_dec.detach()[DEAD]  # (n_dead, d_in)
    W_enc = sae.W_enc.detach().transpose(-1, -2)[DEAD]  # (n_dead, d_in): the encoder directions as rows
    assert_close(
        W_dec.norm(dim=-1),
        torch.ones(int(DEAD.sum())),
        name="norms of the resampled decoder rows",
        diagnosis="Normalise each random vector to length 1: v / v.norm(dim=-1, keepdim=True).",
    )
    assert_close(
        W_enc,
        W_dec * SCALE,
        name=f"resampled encoder directions (resample_scale = {SCALE})",
        mistakes={
            "The encoder got the direction without resample_scale: W_enc's column = resample_scale × the new "
            "decoder direction.": W_dec,
        },
        diagnosis="Use the same random direction for encoder and decoder: the encoder's column is "
        "resample_scale × the decoder's row.",
    )
    assert_close(
        sae.b_enc.detach()[DEAD],
        torch.zeros(int(DEAD.sum())),
        name="b_enc of the resampled latents",
        diagnosis="Set the dead latents' encoder bias to 0: sae.b_enc[dead] = 0.0.",
    )


def test_directions_are_uniformly_random(student):
    """The new directions point every way (random normal, normalised), a new one for each latent"""
    sae = _sae(n_inst=1, d_in=3, d_sae=3000)
    frac = torch.zeros(2, 1, 3000)  # every latent dead
    _resample(student, sae, frac=frac)
    v = sae._W_dec.detach()[0]  # (3000, 3)
    mean = v.mean(0)
    if int(torch.unique(v, dim=0).shape[0]) < 10:
        diagnosis = "The latents share a few directions: draw one random vector per dead latent, shape (n_dead, d_in)."
    elif bool((v >= 0).all()):
        diagnosis = "Every component is positive: torch.rand draws from [0, 1); use torch.randn (every direction equally likely)."
    else:
        diagnosis = "Draw the directions with torch.randn(n_dead, d_in) and normalise them."
    check(
        bool((mean.abs() < 0.06).all()) and int(torch.unique(v, dim=0).shape[0]) == 3000,
        f"over 3000 resampled latents in 3 dimensions, the directions average to {[round(x, 3) for x in mean.tolist()]} "
        f"({int(torch.unique(v, dim=0).shape[0])} distinct); expected ≈ (0, 0, 0), all distinct",
        diagnosis=diagnosis,
    )


def test_tied(student):
    """Works for a tied SAE: the encoder (= decoder) columns end with norm resample_scale"""
    sae = _sae(tied=True)
    before = _snapshot(sae)
    _resample(student, sae)
    W_enc = sae.W_enc.detach()
    cols = W_enc.transpose(-1, -2)  # (inst, d_sae, d_in)
    assert_close(
        cols[DEAD].norm(dim=-1),
        torch.full((int(DEAD.sum()),), SCALE),
        name="norms of the resampled encoder columns (tied SAE)",
        mistakes={
            "For a tied SAE the decoder is the encoder: set the decoder first, then the encoder, so the encoder's "
            "scale is what remains.": torch.ones(int(DEAD.sum())),
        },
    )
    assert_close(cols[~DEAD], before["W_enc"].transpose(-1, -2)[~DEAD], name="W_enc of live latents (tied SAE)")


def test_nothing_dead(student):
    """With no dead latents, nothing changes"""
    sae = _sae()
    before = _snapshot(sae)
    frac = torch.full((3, 2, 5), 0.1)
    dead = _resample(student, sae, frac=frac)
    check(isinstance(dead, torch.Tensor) and not bool(dead.any()), "no latent is dead here, but the mask marks some")
    for name, p in sae.named_parameters():
        assert_close(p.detach(), before[name], name=f"{name} (nothing was dead)")


def test_no_gradient_tracking(student):
    """Resampling is not recorded by autograd (parameters stay leaves)"""
    sae = _sae()
    _resample(student, sae)
    for name, p in sae.named_parameters():
        check(
            p.is_leaf and p.grad_fn is None,
            f"{name} is no longer a leaf tensor after resampling",
            diagnosis="Modify the parameters in place under torch.no_grad() (the given decorator), and don't "
            "replace them with new tensors.",
        )
