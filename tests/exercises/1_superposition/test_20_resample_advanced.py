"""Hidden test for exercise 20: resample_advanced, Anthropic's loss-weighted resampling.

The SAEs here have every latent switched off (b_enc = -100), so the reconstruction is b_dec and each
input's loss is mean((h - b_dec)²), chosen by the test: an input with h = b_dec has loss 0 and is never
picked. With a single input of nonzero loss, the result is deterministic; with two, the split between
them shows whether the probabilities are ∝ loss².
"""

import torch

from arena_cli.testing import assert_close, call_student, check, load_reference, seed


# Exercise 18's ToySAE (its reference): W_enc, W_dec / W_dec_normalized, b_enc, b_dec, tied, forward.
ToySAE = load_reference(__file__, "sae_forward").ToySAE


SCALE = 0.2

_CALL = (
    "torch.multinomial(probs, n_dead, replacement=True) draws one input per dead latent; without "
    "replacement it fails when fewer inputs than dead latents have nonzero loss. Index instance k's dead "
    "latents with integer positions: dead[k].nonzero().squeeze(-1)."
)


def _sae(n_inst, d_in, d_sae):
    seed(0)
    sae = ToySAE(n_inst, d_in, d_sae)
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(n_inst, d_in, d_sae) * torch.linspace(0.5, 2.0, d_sae))  # varied norms
        sae._W_dec.copy_(torch.randn(n_inst, d_sae, d_in))
        sae.b_enc.fill_(-100.0)  # no latent fires: the reconstruction is b_dec
        sae.b_dec.copy_(torch.randn(n_inst, d_in))
    return sae


def _frac(dead: torch.Tensor, window=3) -> torch.Tensor:
    """A window of activity in which exactly the latents in `dead` never fire."""
    return (~dead).float().expand(window, *dead.shape) * 0.1


def _resample(student, sae, h, dead, scale=SCALE, seed_value=1, diagnosis=_CALL):
    seed(seed_value)
    return call_student(student.resample_advanced, sae, h.clone(), _frac(dead), scale, diagnosis=diagnosis)


def _snapshot(sae):
    return {name: p.detach().clone() for name, p in sae.named_parameters()}


def _one_bad_input():
    """2 instances, 3 dimensions, 6 latents. Instance 0: latents 1 and 4 dead, and only input 3 has a
    nonzero loss. Instance 1: no dead latent."""
    sae = _sae(2, 3, 6)
    h = sae.b_dec.detach().expand(8, 2, 3).clone()
    h[3, 0] += torch.tensor([0.5, -1.0, 2.0])
    h[:, 1] += torch.randn(8, 3)
    dead = torch.zeros(2, 6, dtype=torch.bool)
    dead[0, [1, 4]] = True
    return sae, h, dead


def test_returns_dead_mask(student):
    """Returns the dead mask, shape (n_inst, d_sae)"""
    sae, h, dead = _one_bad_input()
    out = _resample(student, sae, h, dead)
    check(
        isinstance(out, torch.Tensor),
        f"resample_advanced returned {type(out).__name__}",
        diagnosis="Keep the given `return dead` at the end of the function." if out is None else "",
    )
    assert_close(out, dead, name="dead mask")


def test_decoder_aims_at_the_bad_input(student):
    """The dead latents' decoder rows become the centred, normalised bad input (h - b_dec) / ‖h - b_dec‖"""
    sae, h, dead = _one_bad_input()
    b_dec = sae.b_dec.detach().clone()
    _resample(student, sae, h, dead)
    v = h[3, 0] - b_dec[0]
    expected = (v / v.norm()).expand(2, 3)
    uncentred = h[3, 0] / h[3, 0].norm()
    assert_close(
        sae._W_dec.detach()[0, [1, 4]],
        expected,
        name="W_dec[0, dead] (the dead latents' new decoder rows)",
        atol=1e-5,
        mistakes={
            "You used h itself: centre the input the way the encoder sees it, h - b_dec.": uncentred.expand(2, 3),
            "You didn't normalise: the decoder row is (h - b_dec) / ‖h - b_dec‖.": v.expand(2, 3),
        },
        diagnosis="Only input 3 has a nonzero loss here, so both dead latents must get its direction, "
        "(h[3, 0] - b_dec[0]) normalised. Sample inputs with probability ∝ loss², with replacement (several "
        "dead latents may get the same input), then index h[chosen, k].",
    )


def test_encoder_scaled_to_live_norm(student):
    """The dead latents' encoder = that direction × mean live encoder norm × resample_scale; bias 0"""
    sae, h, dead = _one_bad_input()
    W_enc0 = sae.W_enc.detach()[0].clone()  # (d_in, d_sae)
    b_dec = sae.b_dec.detach().clone()
    _resample(student, sae, h, dead)
    v = h[3, 0] - b_dec[0]
    u = v / v.norm()
    alive = ~dead[0]
    live_norm = W_enc0[:, alive].norm(dim=0).mean()
    expected = (u[:, None] * live_norm * SCALE).expand(3, 2)
    assert_close(
        sae.W_enc.detach()[0][:, [1, 4]],
        expected,
        name="W_enc[0][:, dead] (the dead latents' new encoder columns)",
        atol=1e-5,
        mistakes={
            "The mean norm included the dead latents: average the norms of the live latents' encoder columns only.": (
                u[:, None] * W_enc0.norm(dim=0).mean() * SCALE
            ).expand(3, 2),
            "You forgot the mean live norm: the encoder is direction × mean live encoder norm × resample_scale.": (
                u[:, None] * SCALE
            ).expand(3, 2),
            "You forgot resample_scale.": (u[:, None] * live_norm).expand(3, 2),
            "You took the norms over the latents (the rows of W_enc[k]): each latent's encoder direction is a "
            "column, W_enc[k][:, j]; take .norm(dim=0).": (u[:, None] * W_enc0[:, alive].norm(dim=1).mean() * SCALE).expand(3, 2),
        },
    )
    assert_close(sae.b_enc.detach()[0, [1, 4]], torch.zeros(2), name="b_enc[0, dead]",
                 diagnosis="Set the dead latents' encoder bias to 0.")


def test_other_latents_unchanged(student):
    """Live latents, b_dec, and instances without dead latents are unchanged"""
    sae, h, dead = _one_bad_input()
    before = _snapshot(sae)
    _resample(student, sae, h, dead)
    alive = ~dead
    for name, actual, expected in [
        ("W_enc of live latents", sae.W_enc.detach().transpose(-1, -2)[alive], before["W_enc"].transpose(-1, -2)[alive]),
        ("W_dec of live latents", sae._W_dec.detach()[alive], before["_W_dec"][alive]),
        ("b_enc of live latents", sae.b_enc.detach()[alive], before["b_enc"][alive]),
        ("b_dec", sae.b_dec.detach(), before["b_dec"]),
    ]:
        assert_close(actual, expected, name=name,
                     diagnosis="Change only instance k's dead latents: index with k and the positions of its dead latents.")


def test_probability_proportional_to_squared_loss(student):
    """Inputs are picked with probability ∝ loss²: a loss twice as big is picked 4x as often"""
    sae = _sae(1, 2, 400)
    h = sae.b_dec.detach().expand(10, 1, 2).clone()
    h[2, 0] += torch.tensor([1.0, 0.0])  # loss 0.5
    h[7, 0] += torch.tensor([0.0, 2**0.5])  # loss 1.0: twice as big
    dead = torch.ones(1, 400, dtype=torch.bool)
    dead[0, 0] = False  # one live latent
    _resample(student, sae, h, dead)
    W_dec = sae._W_dec.detach()[0, 1:]  # the 399 resampled rows
    to_b = float((W_dec[:, 1].abs() > 0.9).float().mean())
    to_a = float((W_dec[:, 0].abs() > 0.9).float().mean())
    check(
        to_a + to_b > 0.99,
        f"only {to_a + to_b:.0%} of the resampled latents point at one of the two inputs with nonzero loss",
        diagnosis="Each dead latent's direction is one of the inputs, drawn with probability ∝ loss² (inputs with "
        "loss 0 have probability 0).",
    )
    if abs(to_b - 0.8) < 0.07:
        return
    diagnosis = (
        "The split matches probabilities ∝ loss: square the losses (probs = loss² / Σ loss²)."
        if abs(to_b - 2 / 3) < 0.07
        else "The two inputs are picked equally often: weight them by loss²."
        if abs(to_b - 0.5) < 0.07
        else "Draw with torch.multinomial(loss² / Σ loss², n_dead, replacement=True)."
    )
    check(
        False,
        f"the input with twice the loss was picked for {to_b:.0%} of the dead latents; with probabilities ∝ loss² "
        "it should be 4/5 = 80%",
        diagnosis=diagnosis,
    )


def test_all_dead_uses_norm_one(student):
    """If every latent of an instance is dead, the encoder norm is 1.0 × resample_scale"""
    sae = _sae(1, 3, 4)
    h = sae.b_dec.detach().expand(5, 1, 3).clone()
    h[1, 0] += torch.tensor([0.0, 3.0, 4.0])
    dead = torch.ones(1, 4, dtype=torch.bool)
    _resample(student, sae, h, dead)
    norms = sae.W_enc.detach()[0].norm(dim=0)
    check(not bool(norms.isnan().any()), "the encoder columns are NaN when every latent is dead",
          diagnosis="The mean over no live latents is NaN: use 1.0 when no latent is alive.")
    assert_close(norms, torch.full((4,), SCALE), name="encoder column norms (every latent dead)", atol=1e-5,
                 diagnosis="With no live latents, use 1.0 as the mean live encoder norm.")


def test_perfect_reconstruction_left_alone(student):
    """An instance whose inputs all have loss 0 is left alone (no NaN)"""
    sae = _sae(1, 3, 4)
    before = _snapshot(sae)
    h = sae.b_dec.detach().expand(6, 1, 3).clone()  # every loss is 0
    dead = torch.tensor([[True, False, True, False]])
    _resample(student, sae, h, dead, diagnosis="With every loss 0 there is nothing to sample from (0 / 0): "
              "skip the instance (`continue`) before calling torch.multinomial.")
    for name, p in sae.named_parameters():
        check(not bool(p.isnan().any()), f"{name} contains NaN after resampling an instance whose losses are all 0",
              diagnosis="If the losses are all 0 there is nothing to sample from (0 / 0): skip the instance.")
        assert_close(p.detach(), before[name], name=f"{name} (all losses 0)",
                     diagnosis="If every loss of an instance is 0, `continue` to the next instance.")
