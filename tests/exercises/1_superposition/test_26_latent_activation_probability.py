"""Hidden test for latent_activation_probability: the fraction of non-BOS tokens on which each SAE latent fires.

Runs on an untrained tiny TransformerLens model (2 layers, d_model 32, built in code) and a random SAE
with a nonzero b_dec, so that the common mistakes give visibly different answers.
"""

import pytest
import torch

from arena_cli.testing import assert_close, call_student, check
from arena_course.superposition.lm_sae import random_sae
from arena_course.superposition.testing import lm_sae_setting
from arena_course.testing import check_tensor

HOOK = "blocks.1.hook_resid_pre"
BATCH, SEQ, D_SAE = 4, 10, 48
N_TOKENS = BATCH * (SEQ - 1)  # non-BOS tokens

_CRASH = (
    "Index the cache with the hook name (`cache[hook_name]`, shape (batch, seq, d_model)), and give "
    "`sae.encode` the activations with d_model last."
)


@pytest.fixture(scope="module")
def setting():
    return lm_sae_setting(HOOK, d_sae=D_SAE, batch=BATCH, seq=SEQ)


def _run(student, model, sae, tokens, hook=HOOK):
    """The student's answer, checked to be a tensor (a crash becomes a failed check with a diagnosis)."""
    with torch.no_grad():
        out = call_student(student.latent_activation_probability, model, sae, tokens, hook, diagnosis=_CRASH)
    return check_tensor(out, "latent_activation_probability", "not a Tensor").detach()


def _fires(sae, x):
    return (sae.encode(x) > 0).float()


def _mistakes(sae, cache, hook=HOOK):
    """What common mistakes compute, for the diagnoses."""
    x = cache[hook]
    no_b_dec = (torch.relu(x[:, 1:] @ sae.W_enc + sae.b_enc) > 0).float().mean((0, 1))
    out = {
        "You counted the BOS token (position 0): leave it out, `cache[hook_name][:, 1:]`.": _fires(sae, x).mean((0, 1)),
        "You encoded without subtracting b_dec: the SAE's latents are ReLU((x - b_dec) @ W_enc + b_enc) "
        "(use `sae.encode`).": no_b_dec,
        "You returned the mean activation of each latent; the question is how often it is > 0: average "
        "`(latents > 0).float()`.": sae.encode(x[:, 1:]).mean((0, 1)),
        "You counted the tokens where each latent fires; divide by the number of tokens (take the mean).": _fires(
            sae, x[:, 1:]
        ).sum((0, 1)),
        "Every latent is 'on' everywhere: after the ReLU, latents are >= 0 always. Count `> 0`, not `>= 0`.": torch.ones(
            sae.d_sae
        ),
    }
    for other in ["blocks.1.hook_resid_mid", "blocks.1.hook_resid_post", "blocks.0.hook_resid_pre"]:
        if other != hook:
            out[f"These are the activations at {other!r}; read the ones at `hook_name` ({hook!r})."] = _fires(
                sae, cache[other][:, 1:]
            ).mean((0, 1))
    return out


def test_shape(student, setting):
    """Returns one probability per latent, shape (d_sae,)"""
    model, tokens, sae, _ = setting
    out = _run(student, model, sae, tokens)
    shape = tuple(out.shape)
    diagnosis = {
        (): "You averaged over the latents too: keep one value per latent.",
        (BATCH, D_SAE): "You averaged over positions only: average over the batch and the positions.",
        (SEQ - 1, D_SAE): "You averaged over the batch only: average over the batch and the positions.",
        (SEQ, D_SAE): "You averaged over the batch only: average over the batch and the positions.",
        (BATCH, SEQ - 1, D_SAE): "You kept the batch and position dimensions: average over both.",
    }.get(shape, "Encode to (batch, seq - 1, d_sae), then average over the first two dimensions.")
    check(
        shape == (D_SAE,),
        f"for tokens of shape {tuple(tokens.shape)} and an SAE with {D_SAE} latents, got shape {shape}, "
        f"expected ({D_SAE},)",
        diagnosis=diagnosis,
    )


def test_matches_reference(student, reference, setting):
    """Matches the reference on a tiny model and a random SAE"""
    model, tokens, sae, cache = setting
    with torch.no_grad():
        expected = reference.latent_activation_probability(model, sae, tokens, HOOK)
        mistakes = _mistakes(sae, cache)
    actual = _run(student, model, sae, tokens)
    assert_close(actual, expected, name="activation probability", mistakes=mistakes, check_dtype=False)


def test_fractions_of_non_bos_tokens(student, setting):
    """Every value is a fraction of the batch × (seq - 1) non-BOS tokens"""
    model, tokens, sae, _ = setting
    out = _run(student, model, sae, tokens).double()
    check(
        bool(((out >= 0) & (out <= 1)).all()),
        f"values range from {float(out.min()):.3g} to {float(out.max()):.3g}; probabilities are in [0, 1]",
        diagnosis="Take the mean (not the sum) of a 0/1 tensor: `(latents > 0).float().mean(...)`.",
    )
    counts = out * N_TOKENS
    with_bos = out * BATCH * SEQ
    on_grid = (counts - counts.round()).abs().max() < 1e-4
    check(
        bool(on_grid),
        f"the values are not multiples of 1/{N_TOKENS} (1 / (batch × (seq - 1)) for {BATCH} rows of {SEQ} tokens)",
        diagnosis="You counted the BOS token: leave position 0 out (`[:, 1:]`) before counting."
        if (with_bos - with_bos.round()).abs().max() < 1e-4
        else "Count, for each latent, the tokens where it is > 0, and divide by the number of non-BOS tokens.",
    )


def test_always_and_never(student, setting):
    """A latent that always fires gets 1, one that never fires gets 0"""
    model, tokens, _, _ = setting
    sae = random_sae(32, 3, seed=1, hook_name=HOOK)
    with torch.no_grad():
        sae.W_enc[:, :2] = 0.0  # latents 0 and 1 ignore the input: their activation is ReLU(b_enc)
        sae.b_enc[:2] = torch.tensor([0.5, -0.5])
    out = _run(student, model, sae, tokens)
    check(out.dim() == 1, f"got shape {tuple(out.shape)}, expected (d_sae,) = (3,)")
    assert_close(
        out[:2],
        torch.tensor([1.0, 0.0]),
        name="probability of [always-on latent, never-on latent]",
        check_dtype=False,
        mistakes={
            "Every latent is 'on' everywhere: after the ReLU, latents are >= 0 always. Count `> 0`, "
            "not `>= 0`.": torch.tensor([1.0, 1.0]),
            "You returned the mean activation: this latent's activation is 0.5 everywhere, but it fires "
            "on every token (probability 1).": torch.tensor([0.5, 0.0]),
        },
    )


def test_uses_hook_name(student, reference, setting):
    """Reads the activations at `hook_name` (tested at another hook point)"""
    model, tokens, _, cache = setting
    hook = "blocks.1.hook_resid_post"
    sae = random_sae(32, D_SAE, seed=2, hook_name=hook)
    with torch.no_grad():
        expected = reference.latent_activation_probability(model, sae, tokens, hook)
        mistakes = {
            f"These are the activations at {HOOK!r}: use the `hook_name` argument, not a fixed name.": _fires(
                sae, cache[HOOK][:, 1:]
            ).mean((0, 1)),
            **_mistakes(sae, cache, hook),
        }
    actual = _run(student, model, sae, tokens, hook)
    assert_close(actual, expected, name="activation probability at blocks.1.hook_resid_post", mistakes=mistakes, check_dtype=False)
