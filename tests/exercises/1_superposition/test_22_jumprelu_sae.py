"""Hidden test for exercise 22: JumpReLUToySAE.forward, the JumpReLU SAE with an L0 penalty."""

import torch
import torch.nn.functional as F

from arena_cli.testing import assert_close, call_student, check, seed
from arena_course.superposition.testing import twins

N_INST, D_IN, D_SAE, BATCH = 2, 3, 6, 64
BANDWIDTH = 0.2  # wide, so that many pre-activations fall in the pseudo-gradients' window

_SIZE = (
    "The products are those of the ReLU SAE: (h - b_dec) (batch, inst, d_in) times W_enc (inst, d_in, d_sae), "
    "then acts (batch, inst, d_sae) times W_dec_normalized (inst, d_sae, d_in)."
)


def _saes(student, reference):

    def init(ref):
        ref.W_enc.copy_(torch.randn(N_INST, D_IN, D_SAE))
        ref._W_dec.copy_(torch.randn(N_INST, D_SAE, D_IN) * 2)
        ref.b_enc.copy_(0.3 * torch.randn(N_INST, D_SAE))
        ref.b_dec.copy_(0.3 * torch.randn(N_INST, D_IN))
        ref.log_theta.copy_(torch.log(0.2 + 0.6 * torch.rand(N_INST, D_SAE)))  # θ in [0.2, 0.8]

    return twins(student, reference, "JumpReLUToySAE", N_INST, D_IN, D_SAE, bandwidth=BANDWIDTH, init=init)


def _h():
    seed(1)
    return torch.randn(BATCH, N_INST, D_IN)


def _forward(sae, h, coeff):
    out = call_student(sae, h, coeff, diagnosis=_SIZE)
    check(
        isinstance(out, tuple) and len(out) == 4,
        f"forward returned {type(out).__name__}, expected a tuple (loss_dict, loss, acts, h_reconstructed)",
        diagnosis="Did you forget a `return`?" if out is None else "Return all four, as the ReLU SAE does.",
    )
    check(
        isinstance(out[0], dict) and set(out[0]) >= {"L_reconstruction", "L_sparsity"},
        "the loss dict needs keys 'L_reconstruction' and 'L_sparsity'",
    )
    return out


def _pre(ref, h):
    return torch.einsum("bid,ids->bis", h - ref.b_dec.detach(), ref.W_enc.detach()) + ref.b_enc.detach()


def test_latents(student, reference):
    """acts = JumpReLU(pre, θ): pre where pre > θ = exp(log_theta), else 0"""
    stu, ref = _saes(student, reference)
    h = _h()
    pre = _pre(ref, h)
    theta = ref.theta.detach()
    acts = _forward(stu, h, 0.01)[2]
    assert_close(acts.detach(), pre * (pre > theta).float(), name="acts", mistakes={
        "You used a ReLU: the JumpReLU SAE zeroes everything at or below the threshold θ.": F.relu(pre),
        "You used log_theta as the threshold: θ = exp(log_theta) (the property self.theta).": pre * (pre > ref.log_theta.detach()).float(),
        "You returned the step H(pre - θ), not the JumpReLU pre · H(pre - θ).": (pre > theta).float(),
        "You didn't subtract b_dec before encoding.": (lambda p: p * (p > theta).float())(
            torch.einsum("bid,ids->bis", h, ref.W_enc.detach()) + ref.b_enc.detach()
        ),
    })


def test_sparsity_is_l0(student, reference):
    """L_sparsity counts the active latents (L0), not their size"""
    stu, ref = _saes(student, reference)
    h = _h()
    pre = _pre(ref, h)
    active = (pre > ref.theta.detach()).float()
    loss_dict, _, acts, _ = _forward(stu, h, 0.01)
    assert_close(loss_dict["L_sparsity"].detach(), active.sum(-1), name="L_sparsity", mistakes={
        "You used the L1 norm Σ|acts|: the JumpReLU SAE's penalty is the number of active latents, Σ H(pre - θ).": (
            pre * active
        ).abs().sum(-1),
        "You averaged over d_sae: L_sparsity is the count, a sum over the latents.": active.mean(-1),
    })
    check(
        torch.equal(loss_dict["L_sparsity"].detach(), (acts.detach() != 0).float().sum(-1)),
        "L_sparsity is not the number of nonzero latents in acts",
        diagnosis="Use the same pre-activations and θ for the JumpReLU and the Heaviside step.",
    )


def test_reconstruction_and_total_loss(student, reference):
    """h', L_reconstruction and the total loss match the reference (per-instance coefficients)"""
    stu, ref = _saes(student, reference)
    h = _h()
    coeff = torch.tensor([0.01, 0.1])
    exp_dict, exp_loss, _, exp_rec = ref(h, coeff)
    loss_dict, loss, _, rec = _forward(stu, h, coeff)
    acts = _pre(ref, h)
    acts = acts * (acts > ref.theta.detach()).float()
    assert_close(rec.detach(), exp_rec.detach(), name="h_reconstructed", mistakes={
        "You decoded with W_dec, not W_dec_normalized.": torch.einsum("bis,isd->bid", acts, ref.W_dec.detach()) + ref.b_dec.detach(),
        "You left out b_dec after decoding.": exp_rec.detach() - ref.b_dec.detach(),
    })
    assert_close(loss_dict["L_reconstruction"].detach(), exp_dict["L_reconstruction"].detach(), name="L_reconstruction",
                 mistakes={"You summed over d_in: it is the mean over d_in, as in the ReLU SAE.": exp_dict["L_reconstruction"].detach() * D_IN})
    L_rec, L_sp = exp_dict["L_reconstruction"].detach(), exp_dict["L_sparsity"].detach()
    assert_close(loss.detach(), exp_loss.detach(), name="loss", mistakes={
        "You averaged over the instances: sum them.": (L_rec + coeff * L_sp).mean(),
        "You left out the sparsity coefficient.": (L_rec + L_sp).mean(0).sum(),
    })


def test_threshold_gradient(student, reference):
    """log_theta gets the pseudo-gradients (through JumpReLU.apply and Heaviside.apply), as in the reference"""
    stu, ref = _saes(student, reference)
    h = _h()
    loss = _forward(stu, h, 0.05)[1]
    check(loss.requires_grad, "the loss does not depend on the parameters through autograd",
          diagnosis="Don't detach anything in forward.")
    loss.backward()
    ref(h, 0.05)[1].backward()
    grad = stu.log_theta.grad
    check(
        grad is not None and bool(grad.abs().sum() > 0),
        f"log_theta.grad is {'None' if grad is None else 'all zero'}: the thresholds would never learn",
        diagnosis="Compute acts with JumpReLU.apply(pre, self.theta, self.bandwidth) and L_sparsity with "
        "Heaviside.apply(...): a comparison like (pre > self.theta) has no gradient.",
    )
    # What a student gets with the L0 term written as a plain comparison (no pseudo-gradient from it).
    stu2, _ = _saes(student, reference)
    pre = _pre(ref, h)
    theta = stu2.theta
    acts = reference.JumpReLU.apply(pre, theta, BANDWIDTH)
    rec = torch.einsum("bis,isd->bid", acts, ref.W_dec_normalized.detach()) + ref.b_dec.detach()
    (((rec - h) ** 2).mean(-1) + 0.05 * (pre > theta).float().sum(-1)).mean(0).sum().backward()
    assert_close(grad, ref.log_theta.grad, name="log_theta.grad", atol=1e-5, mistakes={
        "The L0 term gives the thresholds no gradient: compute L_sparsity with Heaviside.apply(pre, self.theta, "
        "self.bandwidth).sum(-1), not a comparison.": stu2.log_theta.grad,
    }, diagnosis="Both pseudo-gradients reach θ: compute acts with JumpReLU.apply(pre, self.theta, self.bandwidth) "
       "and L_sparsity with Heaviside.apply(pre, self.theta, self.bandwidth).sum(-1) (a comparison such as "
       "pre > self.theta has no gradient).")


def test_other_gradients(student, reference):
    """W_enc, W_dec, b_enc and b_dec get the same gradients as in the reference"""
    stu, ref = _saes(student, reference)
    h = _h()
    _forward(stu, h, 0.05)[1].backward()
    ref(h, 0.05)[1].backward()
    for name, p in ref.named_parameters():
        if name == "log_theta":
            continue
        grad = dict(stu.named_parameters())[name].grad
        check(grad is not None, f"{name}.grad is None after backward")
        assert_close(grad, p.grad, name=f"{name}.grad", atol=1e-5,
                     diagnosis="The encoder and decoder learn from the reconstruction loss only, through the "
                     "JumpReLU's gradient in z (Heaviside's gradient in z is 0).")


def test_hand_computed(student):
    """Hand-computed: 1 instance, 2 latents, θ = 0.3"""
    sae = student.JumpReLUToySAE(1, 2, 2, theta_init=0.3)
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(2)[None])
        sae._W_dec.copy_(torch.eye(2)[None])
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    h = torch.tensor([[[0.5, 0.2]]])
    # pre = (0.5, 0.2); acts = (0.5, 0) (0.2 is below θ = 0.3); h' = (0.5, 0)
    # L_reconstruction = mean((0, 0.2)²) = 0.02; L_sparsity = 1; loss (c = 0.01) = 0.03
    loss_dict, loss, acts, rec = _forward(sae, h, 0.01)
    assert_close(acts.detach(), torch.tensor([[[0.5, 0.0]]]), name="acts", mistakes={
        "You used a ReLU: 0.2 is below the threshold θ = 0.3, so that latent is off.": torch.tensor([[[0.5, 0.2]]]),
    })
    assert_close(loss_dict["L_sparsity"].detach(), torch.tensor([[1.0]]), name="L_sparsity (one active latent)",
                 mistakes={"You used the L1 norm (0.5): the penalty counts active latents.": torch.tensor([[0.5]])})
    assert_close(loss_dict["L_reconstruction"].detach(), torch.tensor([[0.02]]), name="L_reconstruction")
    assert_close(loss.detach(), torch.tensor(0.03), name="loss")
