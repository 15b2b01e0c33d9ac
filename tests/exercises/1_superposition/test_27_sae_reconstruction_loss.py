"""Hidden test for sae_reconstruction_loss: the SAE's reconstruction error (MSE, fraction of variance unexplained)
on the non-BOS residual stream.

Runs on an untrained tiny TransformerLens model (2 layers, d_model 32, built in code) and random SAEs,
plus two SAEs whose answer is known: a perfect one (FVU 0) and one that always predicts the mean (FVU 1).
"""

import pytest
import torch

from arena_cli.testing import assert_close, call_student
from arena_course.superposition.lm_sae import SAE, random_sae
from arena_course.superposition.testing import check_number, lm_sae_setting
from arena_course.testing import check_sequence

HOOK = "blocks.1.hook_resid_pre"
D_MODEL = 32

_CRASH = (
    "Index the cache with the hook name (`cache[hook_name]`, shape (batch, seq, d_model)); "
    "`sae.decode(sae.encode(x))` has the same shape as x."
)


@pytest.fixture(scope="module")
def setting():
    return lm_sae_setting(HOOK, d_model=D_MODEL)


def _run(student, model, sae, tokens, hook=HOOK):
    with torch.no_grad():
        out = call_student(student.sae_reconstruction_loss, model, sae, tokens, hook, diagnosis=_CRASH)
    return check_sequence(out, "sae_reconstruction_loss", 2, "a pair (mse, fvu)", "Return both numbers: `return mse, fvu`.")


def _errors(sae, x, *, decode_pre_relu=False, no_b_dec=False):
    if no_b_dec:
        latents = torch.relu(x @ sae.W_enc + sae.b_enc)
    elif decode_pre_relu:
        latents = (x - sae.b_dec) @ sae.W_enc + sae.b_enc
    else:
        latents = sae.encode(x)
    return (sae.decode(latents) - x).pow(2)


def _fvu(err, x):
    return err.sum() / (x - x.mean((0, 1))).pow(2).sum()


def _mistakes(sae, cache, hook=HOOK):
    """(mse mistakes, fvu mistakes): what common mistakes compute, for the diagnoses."""
    full = cache[hook]
    x = full[:, 1:]
    err = _errors(sae, x)
    bos = "You included the BOS token (position 0): leave it out, `cache[hook_name][:, 1:]`."
    pre = "You decoded the pre-ReLU latents: decode `sae.encode(x)`, which applies the ReLU."
    b_dec = "You encoded without subtracting b_dec: latents = ReLU((x - b_dec) @ W_enc + b_enc) (use `sae.encode`)."
    mse = {
        bos: _errors(sae, full).mean(),
        "You summed over d_model: the MSE is the mean over tokens *and* dimensions (F.mse_loss(x_hat, x)).": err.sum(
            -1
        ).mean(),
        "You summed over everything: the MSE is a mean.": err.sum(),
        "You took the square root (that's the RMSE): the MSE is the mean of the squared errors.": err.mean().sqrt(),
        pre: _errors(sae, x, decode_pre_relu=True).mean(),
        b_dec: _errors(sae, x, no_b_dec=True).mean(),
    }
    centred = (x - x.mean((0, 1))).pow(2)
    fvu = {
        bos: _fvu(_errors(sae, full), full),
        "You divided by Σ x² : the variance is around the mean activation, Σ (x - x̄)² with x̄ = x.mean over "
        "tokens.": err.sum() / x.pow(2).sum(),
        "You averaged the per-dimension ratios: FVU is one ratio of totals, Σ error² / Σ (x - x̄)².": (
            err.sum((0, 1)) / centred.sum((0, 1))
        ).mean(),
        "x̄ should be the mean over tokens (one value per dimension), not the mean of every entry.": err.sum()
        / (x - x.mean()).pow(2).sum(),
        "x̄ should be the mean over all tokens, batch and positions together (x.mean(dim=(0, 1))).": err.sum()
        / (x - x.mean(1, keepdim=True)).pow(2).sum(),
        "You returned the fraction of variance *explained*: FVU = error / variance, not 1 minus it.": 1
        - _fvu(err, x),
        pre: _fvu(_errors(sae, x, decode_pre_relu=True), x),
        b_dec: _fvu(_errors(sae, x, no_b_dec=True), x),
    }
    for other in ["blocks.1.hook_resid_mid", "blocks.1.hook_resid_post", "blocks.0.hook_resid_pre"]:
        if other != hook:
            msg = f"These are the activations at {other!r}; read the ones at `hook_name` ({hook!r})."
            y = cache[other][:, 1:]
            mse[msg] = _errors(sae, y).mean()
            fvu[msg] = _fvu(_errors(sae, y), y)
    return mse, fvu


def test_returns_two_scalars(student, setting):
    """Returns a pair (mse, fvu) of single numbers"""
    model, tokens, sae, _ = setting
    out = _run(student, model, sae, tokens)
    for name, value in zip(["mse", "fvu"], out):
        check_number(value, name, "a single number (a 0-dimensional tensor)",
                     "Reduce over the batch, the positions and d_model: one number for the whole batch.")


def test_mse_matches_reference(student, reference, setting):
    """MSE matches the reference (random SAE, tiny model)"""
    model, tokens, sae, cache = setting
    with torch.no_grad():
        expected, _ = reference.sae_reconstruction_loss(model, sae, tokens, HOOK)
        mistakes, _ = _mistakes(sae, cache)
    actual, _ = _run(student, model, sae, tokens)
    assert_close(actual, expected, name="mse", mistakes=mistakes, check_dtype=False)


def test_fvu_matches_reference(student, reference, setting):
    """Fraction of variance unexplained matches the reference"""
    model, tokens, sae, cache = setting
    with torch.no_grad():
        _, expected = reference.sae_reconstruction_loss(model, sae, tokens, HOOK)
        _, mistakes = _mistakes(sae, cache)
    _, actual = _run(student, model, sae, tokens)
    assert_close(actual, expected, name="fvu", mistakes=mistakes, check_dtype=False)


def test_perfect_sae(student, setting):
    """A perfect SAE (latents ±x) has MSE 0 and FVU 0"""
    model, tokens, _, _ = setting
    # 2 * d_model latents, ReLU(x_d) and ReLU(-x_d), decoded as their difference: exactly x.
    sae = SAE(D_MODEL, 2 * D_MODEL, HOOK)
    eye = torch.eye(D_MODEL)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], dim=1))
        sae.W_dec.copy_(torch.cat([eye, -eye], dim=0))
    mse, fvu = _run(student, model, sae, tokens)
    assert_close(mse, 0.0, name="mse of a perfect reconstruction", atol=1e-6, diagnosis="Compare the SAE's reconstruction `sae.decode(sae.encode(x))` with x itself.")
    assert_close(fvu, 0.0, name="fvu of a perfect reconstruction", atol=1e-6, diagnosis="Compare the SAE's reconstruction `sae.decode(sae.encode(x))` with x itself.")


def test_mean_predictor(student, setting):
    """An SAE that always outputs the mean activation has FVU 1"""
    model, tokens, _, cache = setting
    x = cache[HOOK][:, 1:]
    sae = SAE(D_MODEL, 8, HOOK)  # W_enc = W_dec = 0: the reconstruction is b_dec, everywhere
    with torch.no_grad():
        sae.b_dec.copy_(x.mean((0, 1)))
    mse, fvu = _run(student, model, sae, tokens)
    variance = (x - x.mean((0, 1))).pow(2)
    assert_close(
        fvu,
        1.0,
        name="fvu when the reconstruction is always the mean activation (of the non-BOS tokens)",
        atol=1e-4,
        mistakes={
            "You divided by Σ x² : the variance is around the mean activation, Σ (x - x̄)².": variance.sum()
            / x.pow(2).sum(),
            "You returned the fraction of variance *explained*: FVU = error / variance.": 0.0,
        },
        diagnosis="Predicting the mean activation leaves all the variance unexplained: FVU = 1. Check which tokens "
        "you use (not BOS) and that x̄ is the mean over tokens.",
    )
    assert_close(mse, variance.mean(), name="mse when the reconstruction is always the mean activation", atol=1e-5)


def test_uses_hook_name(student, reference, setting):
    """Reads the activations at `hook_name` (tested at another hook point)"""
    model, tokens, _, cache = setting
    hook = "blocks.1.hook_resid_post"
    sae = random_sae(D_MODEL, 48, seed=2, hook_name=hook)
    with torch.no_grad():
        expected = reference.sae_reconstruction_loss(model, sae, tokens, hook)
        mse_mistakes, fvu_mistakes = _mistakes(sae, cache, hook)
        wrong = f"These are the activations at {HOOK!r}: use the `hook_name` argument, not a fixed name."
        x = cache[HOOK][:, 1:]
        mse_mistakes[wrong] = _errors(sae, x).mean()
        fvu_mistakes[wrong] = _fvu(_errors(sae, x), x)
    actual = _run(student, model, sae, tokens, hook)
    assert_close(actual[0], expected[0], name="mse at blocks.1.hook_resid_post", mistakes=mse_mistakes, check_dtype=False)
    assert_close(actual[1], expected[1], name="fvu at blocks.1.hook_resid_post", mistakes=fvu_mistakes, check_dtype=False)
