"""Hidden test for exercise 24: GatedToySAE.forward, the L1 penalty on the gate and the auxiliary loss
through a frozen decoder."""

import torch
import torch.nn.functional as F

from arena_cli.testing import assert_close, call_student, check, seed
from arena_course.superposition.testing import twins

N_INST, D_IN, D_SAE, BATCH = 2, 3, 5, 64
KEYS = {"L_reconstruction", "L_sparsity", "L_aux"}


def _saes(student, reference):
    """Twins with nonzero biases and scales and a decoder far from unit norm."""

    def init(ref):
        ref.W_gate.copy_(torch.randn(N_INST, D_IN, D_SAE))
        ref.b_gate.copy_(0.5 * torch.randn(N_INST, D_SAE))
        ref.r_mag.copy_(0.5 * torch.randn(N_INST, D_SAE))
        ref.b_mag.copy_(0.3 * torch.randn(N_INST, D_SAE))
        ref._W_dec.copy_(2 * torch.randn(N_INST, D_SAE, D_IN))
        ref.b_dec.copy_(0.4 * torch.randn(N_INST, D_IN))

    return twins(student, reference, "GatedToySAE", N_INST, D_IN, D_SAE, init=init)


def _h():
    seed(1)
    return torch.randn(BATCH, N_INST, D_IN)


def _forward(sae, h, coeff):
    out = call_student(sae, h, coeff)
    check(
        isinstance(out, tuple) and len(out) == 4,
        f"forward returned {type(out).__name__}, expected a tuple (loss_dict, loss, acts, h_reconstructed)",
        diagnosis="Did you forget a `return`?" if out is None else "Return all four, as the ReLU SAE does.",
    )
    check(
        isinstance(out[0], dict) and set(out[0]) >= KEYS,
        f"the loss dict has keys {sorted(out[0]) if isinstance(out[0], dict) else '-'}, expected {sorted(KEYS)}",
    )
    return out


def _parts(ref, h):
    """The reference's values without gradients, and the pieces the mistakes are made of."""
    with torch.no_grad():
        pi_gate, acts = ref.encode(h)
        W, b_dec = ref.W_dec_normalized, ref.b_dec
        dec = lambda a: torch.einsum("bis,isd->bid", a, W) + b_dec  # noqa: E731
    return pi_gate, acts, dec


def test_sparsity_is_on_the_gate(student, reference):
    """L_sparsity = Σ ReLU(pi_gate), the L1 of the gate path's values"""
    stu, ref = _saes(student, reference)
    h = _h()
    pi_gate, acts, _ = _parts(ref, h)
    loss_dict = _forward(stu, h, 0.1)[0]
    assert_close(loss_dict["L_sparsity"].detach(), F.relu(pi_gate).sum(-1), name="L_sparsity", mistakes={
        "You penalised the latents acts (the ReLU SAE's penalty): the Gated SAE's L1 is on ReLU(pi_gate), so that "
        "the magnitudes are never pushed down.": acts.abs().sum(-1),
        "You summed pi_gate without its ReLU: the penalty is on ReLU(pi_gate), non-negative.": pi_gate.sum(-1),
        "You averaged over d_sae: the L1 norm is a sum over the latents.": F.relu(pi_gate).mean(-1),
    })


def test_aux_loss_values(student, reference):
    """L_aux = mean over d_in of (ReLU(pi_gate) W_dec_normalized + b_dec - h)²"""
    stu, ref = _saes(student, reference)
    h = _h()
    pi_gate, acts, dec = _parts(ref, h)
    expected = (dec(F.relu(pi_gate)) - h).pow(2).mean(-1)
    loss_dict = _forward(stu, h, 0.1)[0]
    with torch.no_grad():
        raw = torch.einsum("bis,isd->bid", F.relu(pi_gate), ref.W_dec) + ref.b_dec
    assert_close(loss_dict["L_aux"].detach(), expected, name="L_aux", mistakes={
        "You decoded acts in the auxiliary loss: it decodes the gate path's values, ReLU(pi_gate).":
            (dec(acts) - h).pow(2).mean(-1),
        "You summed over d_in: like L_reconstruction, L_aux is a mean over d_in.": expected * D_IN,
        "You decoded with W_dec, not W_dec_normalized.": (raw - h).pow(2).mean(-1),
        "You left out b_dec in the auxiliary reconstruction (its detached copy is still added).":
            (dec(F.relu(pi_gate)) - ref.b_dec.detach() - h).pow(2).mean(-1),
    })


def test_reconstruction_and_total(student, reference):
    """h', L_reconstruction and the total loss (per-instance coefficients) match the reference"""
    stu, ref = _saes(student, reference)
    h = _h()
    coeff = torch.tensor([0.05, 0.3])
    exp_dict, exp_loss, exp_acts, exp_rec = ref(h, coeff)
    loss_dict, loss, acts, rec = _forward(stu, h, coeff)
    assert_close(acts.detach(), exp_acts.detach(), name="acts", diagnosis="Use self.encode(h): it returns (pi_gate, acts).")
    assert_close(rec.detach(), exp_rec.detach(), name="h_reconstructed", diagnosis="h' = self.decode(acts).")
    L_rec = exp_dict["L_reconstruction"].detach()
    assert_close(loss_dict["L_reconstruction"].detach(), L_rec, name="L_reconstruction",
                 mistakes={"You summed over d_in: it is the mean over d_in.": L_rec * D_IN})
    L_sp, L_aux = exp_dict["L_sparsity"].detach(), exp_dict["L_aux"].detach()
    assert_close(loss.detach(), exp_loss.detach(), name="loss", mistakes={
        "You left out the auxiliary loss from the total: without it the gate gets no signal about which latents "
        "help reconstruct.": (L_rec + coeff * L_sp).mean(0).sum(),
        "You multiplied the auxiliary loss by the sparsity coefficient: only L_sparsity has a coefficient.":
            (L_rec + coeff * (L_sp + L_aux)).mean(0).sum(),
        "You averaged over the instances: sum them.": (L_rec + coeff * L_sp + L_aux).mean(),
        "You left out the sparsity coefficient.": (L_rec + L_sp + L_aux).mean(0).sum(),
    })


def _grads(sae, h, part):
    """The gradients of one loss term (summed) with respect to each parameter."""
    sae.zero_grad()
    loss_dict = _forward(sae, h, 0.1)[0]
    loss_dict[part].sum().backward()
    return {name: (p.grad.clone() if p.grad is not None else torch.zeros_like(p)) for name, p in sae.named_parameters()}


def test_aux_loss_trains_only_the_encoder(student, reference):
    """The auxiliary loss's decoder is frozen: no gradient to _W_dec, and b_dec's only through the centring"""
    stu, ref = _saes(student, reference)
    h = _h()
    got, expected = _grads(stu, h, "L_aux"), _grads(ref, h, "L_aux")
    check(bool(got["W_gate"].abs().sum() > 0) and bool(got["b_gate"].abs().sum() > 0),
          "L_aux sends no gradient to the gate path (W_gate, b_gate)",
          diagnosis="Compute the auxiliary reconstruction from F.relu(pi_gate), with pi_gate as encode returned it.")
    check(bool((got["_W_dec"] == 0).all()),
          "L_aux sends a gradient to the decoder's weights: the auxiliary loss must use a frozen copy",
          diagnosis="Decode the gate's values with self.W_dec_normalized.detach() (and self.b_dec.detach()).")
    assert_close(got["b_dec"], expected["b_dec"], name="b_dec.grad from L_aux", atol=1e-5,
                 diagnosis="Add self.b_dec.detach() in the auxiliary reconstruction: the decoder's bias is frozen "
                 "there too (b_dec still gets the gradient of the centring h - b_dec inside encode).")
    for name in ["W_gate", "b_gate"]:
        assert_close(got[name], expected[name], name=f"{name}.grad from L_aux", atol=1e-5)


def test_sparsity_gradient_only_reaches_the_gate(student, reference):
    """The L1 penalty sends no gradient to the magnitude path (r_mag, b_mag)"""
    stu, ref = _saes(student, reference)
    h = _h()
    got = _grads(stu, h, "L_sparsity")
    for name in ["r_mag", "b_mag"]:
        check(bool((got[name] == 0).all()), f"L_sparsity sends a gradient to {name}: the penalty would shrink the "
              "magnitudes", diagnosis="Penalise F.relu(pi_gate), not acts.")


def test_hand_computed(student):
    """Hand-computed: one latent along x, its gate opening above 0.3, an input of size 0.8"""
    sae = student.GatedToySAE(1, 2, 2)
    with torch.no_grad():
        sae.W_gate.copy_(torch.eye(2)[None])
        sae._W_dec.copy_(torch.eye(2)[None])
        sae.b_gate.fill_(-0.3)
        sae.r_mag.zero_()
        sae.b_mag.zero_()
        sae.b_dec.zero_()
    # acts (0.8, 0); h' = h; ReLU(pi_gate) = (0.5, 0); h'_aux = (0.5, 0): L_aux = 0.3² / 2 = 0.045
    loss_dict, loss, _, _ = _forward(sae, torch.tensor([[[0.8, 0.0]]]), 0.1)
    assert_close(loss_dict["L_reconstruction"].detach(), torch.tensor([[0.0]]), name="L_reconstruction", atol=1e-6)
    assert_close(loss_dict["L_sparsity"].detach(), torch.tensor([[0.5]]), name="L_sparsity", mistakes={
        "You penalised acts (0.8): the penalty is on ReLU(pi_gate) (0.5).": torch.tensor([[0.8]]),
    })
    assert_close(loss_dict["L_aux"].detach(), torch.tensor([[0.045]]), name="L_aux")
    assert_close(loss.detach(), torch.tensor(0.095), name="loss")
