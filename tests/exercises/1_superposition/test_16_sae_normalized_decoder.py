"""Hidden test for exercise 16: ToySAE.W_dec_normalized, the decoder with unit-norm rows."""

import torch

from arena_cli.testing import assert_close, call_student, check, seed
from arena_course.testing import check_tensor


def _sae(module, n_inst=2, d_in=3, d_sae=4, tied=False):
    """A ToySAE with a decoder whose rows have very different norms (so normalisation mistakes show)."""
    seed(0)
    sae = module.ToySAE(n_inst, d_in, d_sae, tied=tied)
    with torch.no_grad():
        scales = torch.tensor([0.5, 2.0, 3.0, 0.1])[:d_sae, None]
        if tied:
            sae.W_enc.copy_(torch.randn(n_inst, d_in, d_sae) * scales.T)
        else:
            sae._W_dec.copy_(torch.randn(n_inst, d_sae, d_in) * scales)
    return sae


def _normalized(sae):
    """The student's property, called so that a crash names the student's line."""
    out = call_student(
        type(sae).W_dec_normalized.fget,
        sae,
        diagnosis="Take the norms with keepdim=True (shape (n_inst, d_sae, 1)) so the division broadcasts over "
        "d_in, and read the decoder through the property self.W_dec (self._W_dec is None when tied).",
    )
    return check_tensor(out, "W_dec_normalized", "not a Tensor")


def _mistakes(W_dec, eps):
    return {
        "You normalised over d_sae (dim=-2): each latent's direction is a row, normalise over d_in (dim=-1).": W_dec
        / (W_dec.norm(dim=-2, keepdim=True) + eps),
        "You divided by the norm of the whole matrix: normalise each row (latent) separately, over d_in (dim=-1).": W_dec
        / (W_dec.norm(dim=(-2, -1), keepdim=True) + eps),
        "You divided by the squared norm: divide by the norm itself.": W_dec / (W_dec.pow(2).sum(-1, keepdim=True) + eps),
        "You returned W_dec unchanged.": W_dec,
    }


def test_matches_reference(student, reference):
    """Matches the reference (untied SAE)"""
    stu, ref = _sae(student), _sae(reference)
    expected = ref.W_dec_normalized.detach()
    actual = _normalized(stu).detach()
    assert_close(actual, expected, name="W_dec_normalized", mistakes=_mistakes(ref.W_dec.detach(), ref.weight_normalize_eps))


def test_unit_rows_same_direction(student):
    """Every row has norm 1 and points the same way as the row of W_dec"""
    sae = _sae(student)
    out = _normalized(sae).detach()
    W_dec = sae.W_dec.detach()
    check(tuple(out.shape) == tuple(W_dec.shape), f"shape {tuple(out.shape)}, expected W_dec's {tuple(W_dec.shape)}")
    assert_close(
        out.norm(dim=-1),
        torch.ones(W_dec.shape[:-1]),
        name="norms of the rows (over d_in)",
        atol=1e-5,
        diagnosis="Divide each row W_dec[k, j, :] by its own norm: W_dec.norm(dim=-1, keepdim=True).",
    )
    cos = torch.nn.functional.cosine_similarity(out, W_dec, dim=-1)
    assert_close(cos, torch.ones_like(cos), name="cosine between each row and W_dec's row", atol=1e-5)


def test_hand_computed(student):
    """Hand-computed: the row (3, 4) becomes (0.6, 0.8)"""
    sae = student.ToySAE(1, 2, 2)
    with torch.no_grad():
        sae._W_dec.copy_(torch.tensor([[[3.0, 4.0], [0.0, -2.0]]]))
    out = _normalized(sae).detach()
    assert_close(
        out,
        torch.tensor([[[0.6, 0.8], [0.0, -1.0]]]),
        name="W_dec_normalized",
        atol=1e-6,
        mistakes={
            "You normalised over d_sae (dim=-2): each row is a latent's direction, normalise over d_in (dim=-1).": torch.tensor(
                [[[1.0, 4 / 20**0.5], [0.0, -2 / 20**0.5]]]
            ),
        },
    )


def test_zero_row_gives_zeros(student):
    """A row of zeros stays zeros (no NaN): add weight_normalize_eps to the norm"""
    sae = _sae(student)
    with torch.no_grad():
        sae._W_dec[0, 1] = 0.0
    out = _normalized(sae).detach()
    check(
        not bool(out.isnan().any()),
        "a row of zeros in W_dec gave NaN",
        diagnosis="0 / 0 is NaN: divide by (norm + self.weight_normalize_eps).",
    )
    assert_close(out[0, 1], torch.zeros(3), name="the normalised zero row")


def test_tied(student, reference):
    """Works for a tied SAE: normalises the rows of W_encᵀ"""
    stu, ref = _sae(student, tied=True), _sae(reference, tied=True)
    expected = ref.W_dec_normalized.detach()
    actual = _normalized(stu).detach()
    assert_close(
        actual,
        expected,
        name="W_dec_normalized of a tied SAE",
        diagnosis="Use the property self.W_dec (W_enc transposed when tied), not self._W_dec (None when tied).",
    )


def test_does_not_modify_decoder(student):
    """Leaves W_dec itself unchanged"""
    sae = _sae(student)
    before = sae._W_dec.detach().clone()
    _normalized(sae)
    assert_close(
        sae._W_dec.detach(),
        before,
        name="W_dec after reading W_dec_normalized",
        diagnosis="Return a new tensor (W_dec / norm); don't divide W_dec in place (/=, .div_, .data =).",
    )


def test_gradient_flows(student, reference):
    """Gradients flow through the normalisation back to W_dec (same as the reference)"""
    stu, ref = _sae(student), _sae(reference)
    weights = torch.randn(2, 4, 3)
    out = _normalized(stu)
    check(
        out.requires_grad,
        "W_dec_normalized does not depend on W_dec through autograd",
        diagnosis="Don't detach or use .data / torch.no_grad(): training needs the gradient through the division.",
    )
    (out * weights).sum().backward()
    (ref.W_dec_normalized * weights).sum().backward()
    assert_close(
        stu._W_dec.grad,
        ref._W_dec.grad,
        name="W_dec.grad",
        atol=1e-5,
        diagnosis="The norm must be part of the computation (not detached), so the gradient sees the normalisation.",
    )
