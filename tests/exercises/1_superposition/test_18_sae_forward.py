"""Hidden test for exercise 18: ToySAE.forward, the latents, the reconstruction and the two losses."""

import torch
import torch.nn.functional as F

from arena_cli.testing import assert_close, call_student, check, seed
from arena_course.superposition.testing import twins

N_INST, D_IN, D_SAE, BATCH = 3, 4, 6, 8

_SIZE = (
    "Check each product's dimensions: (h - b_dec) (batch, inst, d_in) times W_enc (inst, d_in, d_sae) sums "
    "over d_in; acts (batch, inst, d_sae) times W_dec_normalized (inst, d_sae, d_in) sums over d_sae. Use "
    "einops.einsum with named dimensions and keep `inst` in the output."
)


def _saes(student, reference, tied=False):
    """The student's and the reference's ToySAE with the same weights, nonzero biases and a decoder whose
    rows are far from unit norm (so that bias and normalisation mistakes show)."""

    def init(ref):
        ref.W_enc.copy_(torch.randn(N_INST, D_IN, D_SAE))
        if not tied:
            ref._W_dec.copy_(torch.randn(N_INST, D_SAE, D_IN) * 2.5)
        ref.b_enc.copy_(0.3 * torch.randn(N_INST, D_SAE))
        ref.b_dec.copy_(0.5 * torch.randn(N_INST, D_IN))

    return twins(student, reference, "ToySAE", N_INST, D_IN, D_SAE, tied=tied, init=init)


def _h():
    seed(1)
    return torch.randn(BATCH, N_INST, D_IN)


def _forward(sae, h, coeff, diagnosis=_SIZE):
    out = call_student(sae, h, coeff, diagnosis=diagnosis)
    check(
        isinstance(out, tuple) and len(out) == 4,
        f"forward returned {type(out).__name__}{f' of length {len(out)}' if isinstance(out, tuple) else ''}, "
        "expected a tuple (loss_dict, loss, acts, h_reconstructed)",
        diagnosis="Did you forget a `return`?" if out is None else "Return all four: loss_dict, loss, acts, h_reconstructed.",
    )
    loss_dict = out[0]
    check(
        isinstance(loss_dict, dict) and set(loss_dict) >= {"L_reconstruction", "L_sparsity"},
        f"the loss dict is {type(loss_dict).__name__} with keys {sorted(loss_dict) if isinstance(loss_dict, dict) else '-'}, "
        "expected keys 'L_reconstruction' and 'L_sparsity'",
    )
    return out


def _parts(ref, h):
    """Intermediate values, and what common mistakes would compute, from the reference's weights."""
    W_enc, b_enc, b_dec = ref.W_enc.detach(), ref.b_enc.detach(), ref.b_dec.detach()
    W_dec_n, W_dec = ref.W_dec_normalized.detach(), ref.W_dec.detach()
    enc = lambda x: torch.einsum("bid,ids->bis", x, W_enc)  # noqa: E731
    dec = lambda a, W: torch.einsum("bis,isd->bid", a, W)  # noqa: E731
    pre = enc(h - b_dec) + b_enc
    acts = F.relu(pre)
    return dict(
        pre=pre,
        acts=acts,
        acts_mistakes={
            "You didn't subtract b_dec before encoding: acts = ReLU((h - b_dec) W_enc + b_enc).": F.relu(enc(h) + b_enc),
            "You applied the ReLU before adding b_enc: acts = ReLU((h - b_dec) W_enc + b_enc).": F.relu(enc(h - b_dec)) + b_enc,
            "You left out the ReLU: acts = ReLU((h - b_dec) W_enc + b_enc).": pre,
            "You left out b_enc.": F.relu(enc(h - b_dec)),
            "You added b_dec instead of subtracting it before encoding.": F.relu(enc(h + b_dec) + b_enc),
        },
        rec=dec(acts, W_dec_n) + b_dec,
        rec_mistakes={
            "You decoded with W_dec, not W_dec_normalized: the decoder directions must have unit norm.": dec(acts, W_dec) + b_dec,
            "You left out b_dec after decoding: h' = acts W_dec_normalized + b_dec.": dec(acts, W_dec_n),
            "You subtracted b_dec after decoding: add it back, h' = acts W_dec_normalized + b_dec.": dec(acts, W_dec_n) - b_dec,
        },
    )


def test_shapes(student, reference):
    """Returns (loss_dict, loss, acts, h_reconstructed) with the right shapes"""
    stu, _ = _saes(student, reference)
    loss_dict, loss, acts, rec = _forward(stu, _h(), 0.1)
    for name in ["L_reconstruction", "L_sparsity"]:
        value = loss_dict[name]
        check(isinstance(value, torch.Tensor), f"loss_dict[{name!r}] is {type(value).__name__}, not a Tensor")
        shape = tuple(value.shape)
        check(
            shape == (BATCH, N_INST),
            f"loss_dict[{name!r}] has shape {shape}, expected (batch={BATCH}, inst={N_INST})",
            diagnosis="Keep one loss per example and instance: reduce only over the last dimension (d_in for "
            "L_reconstruction, d_sae for L_sparsity)."
            if len(shape) != 3
            else "Reduce over the last dimension (d_in for L_reconstruction, d_sae for L_sparsity).",
        )
    check(isinstance(loss, torch.Tensor) and loss.dim() == 0, f"loss should be a scalar tensor, got {loss!r:.60}",
          diagnosis="loss = (L_reconstruction + coeff * L_sparsity).mean(0).sum(): mean over the batch, sum over instances.")
    check(tuple(acts.shape) == (BATCH, N_INST, D_SAE), f"acts has shape {tuple(acts.shape)}, expected {(BATCH, N_INST, D_SAE)}", diagnosis=_SIZE)
    check(tuple(rec.shape) == (BATCH, N_INST, D_IN), f"h_reconstructed has shape {tuple(rec.shape)}, expected {(BATCH, N_INST, D_IN)}", diagnosis=_SIZE)


def test_latents(student, reference):
    """The latents: acts = ReLU((h - b_dec) W_enc + b_enc)"""
    stu, ref = _saes(student, reference)
    h = _h()
    parts = _parts(ref, h)
    acts = _forward(stu, h, 0.1)[2]
    assert_close(acts.detach(), parts["acts"], name="acts", mistakes=parts["acts_mistakes"])


def test_reconstruction(student, reference):
    """The reconstruction: h' = acts W_dec_normalized + b_dec"""
    stu, ref = _saes(student, reference)
    h = _h()
    parts = _parts(ref, h)
    rec = _forward(stu, h, 0.1)[3]
    assert_close(rec.detach(), parts["rec"], name="h_reconstructed", mistakes=parts["rec_mistakes"])


def test_reconstruction_loss(student, reference):
    """L_reconstruction: the mean over d_in of (h' - h)²"""
    stu, ref = _saes(student, reference)
    h = _h()
    rec = _parts(ref, h)["rec"]
    sq = (rec - h) ** 2
    actual = _forward(stu, h, 0.1)[0]["L_reconstruction"]
    assert_close(
        actual.detach(),
        sq.mean(-1),
        name="L_reconstruction",
        mistakes={
            "You summed over d_in: L_reconstruction is the mean over d_in.": sq.sum(-1),
            "You took a square root: L_reconstruction is the mean squared error, not its root.": sq.mean(-1).sqrt(),
            "You didn't square the error.": (rec - h).abs().mean(-1),
        },
    )


def test_sparsity_loss(student, reference):
    """L_sparsity: the L1 norm of the latents, summed over d_sae"""
    stu, ref = _saes(student, reference)
    h = _h()
    parts = _parts(ref, h)
    actual = _forward(stu, h, 0.1)[0]["L_sparsity"]
    assert_close(
        actual.detach(),
        parts["acts"].abs().sum(-1),
        name="L_sparsity",
        mistakes={
            "You averaged over d_sae: L_sparsity is the L1 norm, a sum over the latents.": parts["acts"].abs().mean(-1),
            "You used the pre-ReLU values: the penalty is on the latents after the ReLU.": parts["pre"].abs().sum(-1),
            "You used the L2 norm: L_sparsity is the L1 norm, Σ |acts|.": parts["acts"].norm(dim=-1),
            "You counted the active latents (L0): the ReLU SAE's penalty is the L1 norm, Σ |acts|.": (parts["acts"] > 0)
            .float()
            .sum(-1),
        },
    )


def test_total_loss(student, reference):
    """The total loss: sum over instances of the batch mean of L_reconstruction + c · L_sparsity"""
    stu, ref = _saes(student, reference)
    h = _h()
    coeff = 0.3
    expected_dict, expected, _, _ = ref(h, coeff)
    L_rec, L_sp = expected_dict["L_reconstruction"].detach(), expected_dict["L_sparsity"].detach()
    actual = _forward(stu, h, coeff)[1]
    assert_close(
        actual.detach(),
        expected.detach(),
        name="loss",
        mistakes={
            "You averaged over the instances: sum them (each instance then gets the gradient it would get alone).": (
                L_rec + coeff * L_sp
            ).mean(),
            "You summed over the batch: take the mean over the batch, then sum over instances.": (L_rec + coeff * L_sp).sum(),
            "You left out the sparsity coefficient: loss = L_reconstruction + sparsity_coeff * L_sparsity.": (L_rec + L_sp)
            .mean(0)
            .sum(),
            "You left out the sparsity loss.": L_rec.mean(0).sum(),
        },
    )


def test_coefficient_per_instance(student, reference):
    """A sparsity coefficient per instance, shape (inst,), weights each instance's L_sparsity"""
    stu, ref = _saes(student, reference)
    h = _h()
    coeff = torch.tensor([0.0, 0.5, 2.0])
    expected = ref(h, coeff)[1]
    actual = _forward(stu, h, coeff)[1]
    check(
        isinstance(actual, torch.Tensor) and actual.dim() == 0,
        f"with a coefficient of shape (inst,) = (3,), the loss has shape {tuple(getattr(actual, 'shape', ()))}, expected a scalar",
        diagnosis="Multiply the (batch, inst) L_sparsity by the coefficient before reducing: (inst,) broadcasts "
        "over the batch.",
    )
    assert_close(actual.detach(), expected.detach(), name="loss with per-instance coefficients (0, 0.5, 2)")


def test_hand_computed(student):
    """Hand-computed: 1 instance, 2 latents on 2 dimensions"""
    sae = student.ToySAE(1, 2, 2)
    with torch.no_grad():
        sae.W_enc.copy_(torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]))
        sae._W_dec.copy_(torch.tensor([[[2.0, 0.0], [0.0, 1.0]]]))  # normalised: the identity
        sae.b_enc.copy_(torch.tensor([[0.0, -0.5]]))
        sae.b_dec.copy_(torch.tensor([[0.1, 0.0]]))
    h = torch.tensor([[[0.6, 0.3]]])
    # h - b_dec = (0.5, 0.3); pre = (0.5, -0.2); acts = (0.5, 0); h' = (0.5, 0) + b_dec = (0.6, 0)
    # L_reconstruction = mean((0, 0.3)²) = 0.045; L_sparsity = 0.5; loss (c = 0.1) = 0.095
    loss_dict, loss, acts, rec = _forward(sae, h, 0.1)
    assert_close(acts.detach(), torch.tensor([[[0.5, 0.0]]]), name="acts", mistakes={
        "You didn't subtract b_dec before encoding.": torch.tensor([[[0.6, 0.0]]]),
    })
    assert_close(rec.detach(), torch.tensor([[[0.6, 0.0]]]), name="h_reconstructed", mistakes={
        "You decoded with W_dec, not W_dec_normalized.": torch.tensor([[[1.1, 0.0]]]),
        "You left out b_dec after decoding.": torch.tensor([[[0.5, 0.0]]]),
    })
    assert_close(loss_dict["L_reconstruction"].detach(), torch.tensor([[0.045]]), name="L_reconstruction")
    assert_close(loss_dict["L_sparsity"].detach(), torch.tensor([[0.5]]), name="L_sparsity")
    assert_close(loss.detach(), torch.tensor(0.095), name="loss")


def test_tied(student, reference):
    """Works for a tied SAE"""
    stu, ref = _saes(student, reference, tied=True)
    h = _h()
    expected = ref(h, 0.1)
    actual = _forward(stu, h, 0.1, diagnosis="For a tied SAE self._W_dec is None: decode with the property "
                      "self.W_dec_normalized, which works for both kinds.")
    assert_close(actual[3].detach(), expected[3].detach(), name="h_reconstructed (tied)",
                 diagnosis="Decode with the property self.W_dec_normalized (it handles tied SAEs), not self._W_dec.")


def test_gradients(student, reference):
    """Gradients of the loss reach every parameter, as in the reference"""
    stu, ref = _saes(student, reference)
    h = _h()
    loss = _forward(stu, h, 0.2)[1]
    check(
        loss.requires_grad,
        "the loss does not depend on the parameters through autograd",
        diagnosis="Don't use .detach(), .item(), .data or torch.no_grad() in forward.",
    )
    loss.backward()
    ref(h, 0.2)[1].backward()
    for name, p in ref.named_parameters():
        grad = dict(stu.named_parameters())[name].grad
        check(grad is not None, f"{name}.grad is None after backward", diagnosis=f"Use self.{name} (or the W_dec properties) in forward.")
        assert_close(grad, p.grad, name=f"{name}.grad", atol=1e-5,
                     diagnosis="Part of the loss doesn't reach the parameters through autograd: don't .detach() (or "
                     "use .data) anywhere in forward.")
