"""Hidden test for substitution_loss: next-token loss clean, with the SAE spliced in, and zero-ablated.

Runs on an untrained tiny TransformerLens model (2 layers, d_model 32, built in code) and a random SAE.
The model is untrained, but patching its residual stream still changes its loss by 0.05-0.3, which is
plenty to tell the right answer from the common mistakes.
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
    "A hook function gets (activation, hook) and must return a tensor of the activation's shape "
    "(batch, seq, d_model); the logits are (batch, seq, d_vocab)."
)
_NONE = (
    "Your hook changes nothing: a hook's *return value* replaces the activation. `return` the patched "
    "activation (returning None, or reassigning the local variable, leaves the model as it was)."
)
_BOS = "You patched the BOS token (position 0) too: keep position 0 as it was and patch positions 1 onwards."
_SHIFT = (
    "Your loss compares the logits at position t with token t. The logits at t predict token t + 1: "
    "use logits[:, :-1] against tokens[:, 1:]."
)


@pytest.fixture(scope="module")
def setting():
    model, tokens, sae, _ = lm_sae_setting(HOOK, d_model=D_MODEL)
    return model, tokens, sae


@pytest.fixture(autouse=True)
def _no_leftover_hooks(setting):
    """Each check starts from the bare model, even if a previous call left a hook attached. (Checks
    compute their expected values before calling the student's function.)"""
    setting[0].reset_hooks()


def _run(student, model, sae, tokens, hook=HOOK):
    model.reset_hooks()  # a hook a previous call left behind must not change this check's numbers
    with torch.no_grad():
        out = call_student(student.substitution_loss, model, sae, tokens, hook, diagnosis=_CRASH)
    check_sequence(out, "substitution_loss", 3, "three losses (clean, with the SAE, zero-ablated)",
                   "Return `clean_loss, sae_loss, zero_loss`.")
    for name, value in zip(["clean", "with the SAE", "zero-ablated"], out):
        check_number(value, f"the {name} loss", "a single number", "Average the per-token losses over the batch and the positions.")
    return out


def _loss(logits, tokens, *, shift=True):
    if shift:
        logits, tokens = logits[:, :-1], tokens[:, 1:]
    return -logits.log_softmax(-1).gather(-1, tokens[..., None]).mean()


def _patched_logits(model, tokens, hook, fn, *, keep_bos=True):
    def hook_fn(act, hook):
        if keep_bos:
            return torch.cat([act[:, :1], fn(act[:, 1:])], dim=1)
        return fn(act)

    return model.run_with_hooks(tokens, fwd_hooks=[(hook, hook_fn)])


def _mistakes(model, sae, tokens, hook=HOOK):
    """(clean, sae, zero) -> diagnosis -> value, for the common mistakes."""
    with torch.no_grad():
        clean_logits = model(tokens)
        sae_logits = _patched_logits(model, tokens, hook, sae)
        zero_logits = _patched_logits(model, tokens, hook, torch.zeros_like)
        clean, with_sae, zero = (_loss(x, tokens) for x in (clean_logits, sae_logits, zero_logits))
        pre_relu = lambda x: ((x - sae.b_dec) @ sae.W_enc + sae.b_enc) @ sae.W_dec + sae.b_dec  # noqa: E731
        no_b_dec = lambda x: torch.relu(x @ sae.W_enc + sae.b_enc) @ sae.W_dec + sae.b_dec  # noqa: E731
        order = "You returned the losses in the wrong order: (clean, with the SAE, zero-ablated)."
        return (
            {
                _SHIFT: _loss(clean_logits, tokens, shift=False),
                "Your loss compares logits[:, 1:] with tokens[:, :-1]: the logits at position t predict token "
                "t + 1, so use logits[:, :-1] against tokens[:, 1:].": -clean_logits[:, 1:]
                .log_softmax(-1)
                .gather(-1, tokens[:, :-1, None])
                .mean(),
                "You summed the per-token losses: take the mean over the batch and positions.": clean
                * tokens[:, 1:].numel(),
                "You used the raw logits: the cross-entropy needs log-probabilities, logits.log_softmax(-1).": -clean_logits[
                    :, :-1
                ]
                .gather(-1, tokens[:, 1:, None])
                .mean(),
                order: with_sae,
            },
            {
                _NONE: clean,
                _BOS: _loss(_patched_logits(model, tokens, hook, sae, keep_bos=False), tokens),
                _SHIFT: _loss(sae_logits, tokens, shift=False),
                "You spliced in the reconstruction of the pre-ReLU latents: use sae(activation) = "
                "sae.decode(sae.encode(activation)).": _loss(_patched_logits(model, tokens, hook, pre_relu), tokens),
                "You encoded without subtracting b_dec: use sae(activation), which does.": _loss(
                    _patched_logits(model, tokens, hook, no_b_dec), tokens
                ),
                order: zero,
            },
            {
                _NONE: clean,
                _BOS: _loss(_patched_logits(model, tokens, hook, torch.zeros_like, keep_bos=False), tokens),
                _SHIFT: _loss(zero_logits, tokens, shift=False),
                order: with_sae,
            },
        )


def test_returns_three_losses(student, setting):
    """Returns three single numbers: clean, with the SAE, zero-ablated"""
    model, tokens, sae = setting
    _run(student, model, sae, tokens)


def test_clean_loss(student, setting):
    """The clean loss is the mean next-token cross-entropy (as TransformerLens computes it)"""
    model, tokens, sae = setting
    with torch.no_grad():
        expected = model(tokens, return_type="loss")  # TransformerLens's own next-token loss
        mistakes = _mistakes(model, sae, tokens)[0]
    clean, _, _ = _run(student, model, sae, tokens)
    assert_close(clean, expected, name="clean loss", mistakes=mistakes, check_dtype=False)


def test_sae_loss_matches_reference(student, reference, setting):
    """The loss with the SAE spliced in matches the reference"""
    model, tokens, sae = setting
    with torch.no_grad():
        _, expected, _ = reference.substitution_loss(model, sae, tokens, HOOK)
    mistakes = _mistakes(model, sae, tokens)[1]
    _, with_sae, _ = _run(student, model, sae, tokens)
    assert_close(with_sae, expected, name="loss with the SAE spliced in", mistakes=mistakes, check_dtype=False)


def test_zero_ablation_loss_matches_reference(student, reference, setting):
    """The zero-ablation loss matches the reference"""
    model, tokens, sae = setting
    with torch.no_grad():
        _, _, expected = reference.substitution_loss(model, sae, tokens, HOOK)
    mistakes = _mistakes(model, sae, tokens)[2]
    _, _, zero = _run(student, model, sae, tokens)
    assert_close(zero, expected, name="zero-ablation loss", mistakes=mistakes, check_dtype=False)


def test_perfect_sae_changes_nothing(student, setting):
    """With a perfect SAE spliced in, the loss equals the clean loss"""
    model, tokens, _ = setting
    sae = SAE(D_MODEL, 2 * D_MODEL, HOOK)  # latents ReLU(x) and ReLU(-x), decoded as their difference: x
    eye = torch.eye(D_MODEL)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], dim=1))
        sae.W_dec.copy_(torch.cat([eye, -eye], dim=0))
        sae.b_dec.copy_(torch.linspace(-1, 1, D_MODEL))  # subtracted, then added back
    clean, with_sae, _ = _run(student, model, sae, tokens)
    assert_close(
        with_sae,
        clean,
        name="loss with a perfect SAE spliced in (vs your clean loss)",
        atol=1e-4,
        diagnosis="Splice in the SAE's reconstruction of the activation itself: `sae(activation)`, which "
        "subtracts b_dec, encodes, decodes and adds b_dec back.",
    )


def test_no_hooks_left_behind(student, setting):
    """Leaves the model as it was (no hooks left attached)"""
    model, tokens, sae = setting
    with torch.no_grad():
        _run(student, model, sae, tokens)  # resets the hooks first
        after = model(tokens)
        model.reset_hooks()
        before = model(tokens)
    model.reset_hooks()  # so that a failure here doesn't spill into other checks
    assert_close(
        after,
        before,
        name="the model's logits after calling substitution_loss",
        diagnosis="A hook is still attached after your function returns. Use `model.run_with_hooks(tokens, "
        "fwd_hooks=[(hook_name, fn)])`, which removes its hooks at the end, rather than `model.add_hook`.",
    )


def test_uses_hook_name(student, reference, setting):
    """Patches at `hook_name` (tested at another hook point)"""
    model, tokens, _ = setting
    hook = "blocks.0.hook_resid_mid"
    sae = random_sae(D_MODEL, 48, seed=2, hook_name=hook)
    with torch.no_grad():
        expected = reference.substitution_loss(model, sae, tokens, hook)
        _, sae_mistakes, zero_mistakes = _mistakes(model, sae, tokens, hook)
        wrong = f"You patched {HOOK!r}: patch at the `hook_name` argument, not a fixed name."
        sae_mistakes[wrong] = _loss(_patched_logits(model, tokens, HOOK, sae), tokens)
        zero_mistakes[wrong] = _loss(_patched_logits(model, tokens, HOOK, torch.zeros_like), tokens)
    _, with_sae, zero = _run(student, model, sae, tokens, hook)
    assert_close(with_sae, expected[1], name="loss with the SAE spliced in at blocks.0.hook_resid_mid",
                 mistakes=sae_mistakes, check_dtype=False)
    assert_close(zero, expected[2], name="zero-ablation loss at blocks.0.hook_resid_mid",
                 mistakes=zero_mistakes, check_dtype=False)
