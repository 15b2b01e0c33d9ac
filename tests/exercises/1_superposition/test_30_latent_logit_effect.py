"""Hidden test for latent_logit_effect: a latent's direct effect on the logits, W_dec[latent] @ W_U, top and
bottom k.

Runs on an untrained tiny TransformerLens model (d_model 32, 44 tokens, built in code) and a random SAE
whose encoder is not the decoder's transpose (so using W_enc shows).
"""

import pytest
import torch

from arena_cli.testing import assert_close, call_student, check
from arena_course.superposition.lm_sae import random_sae
from arena_course.superposition.testing import lm_sae_setting
from arena_course.testing import check_sequence

HOOK = "blocks.1.hook_resid_pre"
D_MODEL, K, LATENT = 32, 5, 7

_CRASH = (
    "sae.W_dec has shape (d_sae, d_model): the latent's direction is the row W_dec[latent], shape (d_model,). "
    "model.W_U has shape (d_model, d_vocab): direction @ W_U has shape (d_vocab,)."
)


@pytest.fixture(scope="module")
def setting():
    model, _, sae, _ = lm_sae_setting(HOOK, d_model=D_MODEL)
    return model, sae


def _run(student, model, sae, latent=LATENT, k=K):
    with torch.no_grad():
        out = call_student(student.latent_logit_effect, model, sae, latent, k, diagnosis=_CRASH)
    check_sequence(out, "latent_logit_effect", 4, "four tensors (top_values, top_tokens, bottom_values, bottom_tokens)",
                   "Return `top.values, top.indices, bottom.values, bottom.indices`.")
    check(
        all(isinstance(t, torch.Tensor) for t in out),
        f"expected four tensors, got {[type(t).__name__ for t in out]}",
    )
    return [t.detach() for t in out]


def _effect(direction, W_U):
    return direction @ W_U


def test_shapes(student, setting):
    """Returns four tensors of shape (k,), token ids as integers"""
    model, sae = setting
    out = _run(student, model, sae)
    for name, t in zip(["top_values", "top_tokens", "bottom_values", "bottom_tokens"], out):
        check(
            tuple(t.shape) == (K,),
            f"{name} has shape {tuple(t.shape)}, expected ({K},) for k = {K}",
            diagnosis="The effect has one value per vocabulary token, shape (d_vocab,); take `topk(k)` of it."
            if t.dim() else "",
        )
    for name, t in zip(["top_tokens", "bottom_tokens"], out[1::2]):
        check(
            not t.is_floating_point(),
            f"{name} has dtype {t.dtype}, expected token ids (integers)",
            diagnosis="Return the `.indices` of `topk` (the token ids) as well as its `.values`.",
        )


def _top_mistakes(model, sae, latent=LATENT):
    W_U, W_E = model.W_U.detach(), model.W_E.detach()
    d = sae.W_dec[latent].detach()
    return {
        "You used the encoder column W_enc[:, latent]: the latent *writes* its decoder row W_dec[latent] into "
        "the residual stream.": _effect(sae.W_enc[:, latent].detach(), W_U),
        "You used the embedding W_E: the logits come from the unembedding, model.W_U (d_model, d_vocab).": W_E @ d,
        "You added b_dec: the latent's effect is its direction W_dec[latent] alone (b_dec is there whether it "
        "fires or not).": _effect(d + sae.b_dec.detach(), W_U),
        "You ranked by absolute value: the top tokens have the largest (signed) effect.": _effect(d, W_U).abs(),
    }


def test_top_matches_reference(student, reference, setting):
    """Top k values and tokens match the reference"""
    model, sae = setting
    with torch.no_grad():
        expected = reference.latent_logit_effect(model, sae, LATENT, K)
    top_values, top_tokens, _, _ = _run(student, model, sae)
    mistakes = {label: effect.topk(K).values for label, effect in _top_mistakes(model, sae).items()}
    assert_close(top_values, expected[0], name="top_values", mistakes=mistakes, check_dtype=False)
    assert_close(top_tokens, expected[1], name="top_tokens", atol=0, rtol=0, check_dtype=False)


def test_bottom_matches_reference(student, reference, setting):
    """Bottom k values and tokens match the reference, most negative first"""
    model, sae = setting
    with torch.no_grad():
        expected = reference.latent_logit_effect(model, sae, LATENT, K)
        effect = _effect(sae.W_dec[LATENT], model.W_U)
    _, _, bottom_values, bottom_tokens = _run(student, model, sae)
    mistakes = {
        "Your bottom values are largest first: return the most negative first (`topk(k, largest=False)` "
        "sorts them that way).": effect.topk(K, largest=False).values.flip(0),
        "Your bottom values are the top ones: use `topk(k, largest=False)` for the most negative effects.": effect.topk(
            K
        ).values,
        "Your bottom values have the wrong sign: `(-effect).topk(k)` finds the right tokens, but return the "
        "effect itself (negative), e.g. with `effect.topk(k, largest=False)`.": (-effect).topk(K).values,
        **{label: e.topk(K, largest=False).values for label, e in _top_mistakes(model, sae).items()},
    }
    assert_close(bottom_values, expected[2], name="bottom_values", mistakes=mistakes, check_dtype=False)
    assert_close(bottom_tokens, expected[3], name="bottom_tokens", atol=0, rtol=0, check_dtype=False)


def test_hand_computed(student, setting):
    """A latent whose decoder direction is a basis vector e_j has effect W_U[j]"""
    model, sae = setting
    sae = random_sae(D_MODEL, 4, seed=5, hook_name=HOOK)
    with torch.no_grad():
        sae.W_dec[2] = 0.0
        sae.W_dec[2, 3] = 2.0  # latent 2 writes 2·e_3
    row = 2 * model.W_U[3].detach()  # its effect on each token's logit
    top_values, top_tokens, bottom_values, bottom_tokens = _run(student, model, sae, latent=2)
    assert_close(top_values, row.topk(K).values, name="top_values for W_dec[2] = 2·e_3", check_dtype=False,
                 diagnosis="The effect is W_dec[latent] @ W_U: here 2 * W_U[3], one value per token.")
    assert_close(top_tokens, row.topk(K).indices, name="top_tokens for W_dec[2] = 2·e_3", atol=0, rtol=0, check_dtype=False)
    assert_close(bottom_values, row.topk(K, largest=False).values, name="bottom_values for W_dec[2] = 2·e_3",
                 check_dtype=False)


def test_negated_direction_swaps(student, setting):
    """Negating the decoder direction swaps the top and bottom tokens"""
    model, sae = setting
    flipped = random_sae(D_MODEL, 48, seed=0, hook_name=HOOK)
    with torch.no_grad():
        flipped.W_dec[LATENT] *= -1
    top_values, top_tokens, bottom_values, bottom_tokens = _run(student, model, sae)
    f_top_values, f_top_tokens, f_bottom_values, f_bottom_tokens = _run(student, model, flipped)
    diagnosis = "Use the decoder row W_dec[latent] with its sign: negating it must negate every effect."
    assert_close(f_top_tokens, bottom_tokens, name="top tokens of -W_dec[latent] vs bottom tokens of W_dec[latent]",
                 atol=0, rtol=0, check_dtype=False, diagnosis=diagnosis)
    assert_close(f_top_values, -bottom_values, name="top values of -W_dec[latent] vs -(bottom values of W_dec[latent])",
                 check_dtype=False, diagnosis=diagnosis)
