"""Hidden test for exercise 23: GatedToySAE.encode, the gate path, the magnitude path and the latents."""

import torch
import torch.nn.functional as F

from arena_cli.testing import assert_close, call_student, check, seed
from arena_course.superposition.testing import twins

N_INST, D_IN, D_SAE, BATCH = 2, 3, 5, 64

_SIZE = (
    "Both paths contract d_in: (h - b_dec) (batch, inst, d_in) times W_gate (inst, d_in, d_sae). r_mag is "
    "(inst, d_sae), one factor per latent, i.e. per column of W_gate: reshape it to (inst, 1, d_sae) before "
    "multiplying W_gate."
)


def _saes(student, reference):
    """Twins with nonzero biases and scales, so that mixing up the two paths' parameters shows."""

    def init(ref):
        ref.W_gate.copy_(torch.randn(N_INST, D_IN, D_SAE))
        ref.b_gate.copy_(0.5 * torch.randn(N_INST, D_SAE))
        ref.r_mag.copy_(0.7 * torch.randn(N_INST, D_SAE))
        ref.b_mag.copy_(0.5 * torch.randn(N_INST, D_SAE))
        ref.b_dec.copy_(0.4 * torch.randn(N_INST, D_IN))

    return twins(student, reference, "GatedToySAE", N_INST, D_IN, D_SAE, init=init)


def _h():
    seed(1)
    return torch.randn(BATCH, N_INST, D_IN)


def _encode(sae, h):
    out = call_student(sae.encode, h, diagnosis=_SIZE)
    check(
        isinstance(out, tuple) and len(out) == 2,
        f"encode returned {type(out).__name__}, expected a tuple (pi_gate, acts)",
        diagnosis="Did you forget a `return`?" if out is None else "Return both: pi_gate, acts.",
    )
    return out


def _paths(ref, h):
    """The reference's intermediate values, without gradients, and the projection common mistakes reuse."""
    W, b_dec = ref.W_gate.detach(), ref.b_dec.detach()
    proj = torch.einsum("bid,ids->bis", h - b_dec, W)
    pi_gate = proj + ref.b_gate.detach()
    scale = ref.r_mag.detach().exp()
    pi_mag = proj * scale + ref.b_mag.detach()
    return proj, pi_gate, pi_mag, scale


def test_gate_path(student, reference):
    """pi_gate = (h - b_dec) W_gate + b_gate"""
    stu, ref = _saes(student, reference)
    h = _h()
    _, pi_gate, _, _ = _paths(ref, h)
    got = _encode(stu, h)[0]
    assert_close(got.detach(), pi_gate, name="pi_gate", mistakes={
        "You didn't subtract b_dec before encoding: both paths read h - b_dec.":
            torch.einsum("bid,ids->bis", h, ref.W_gate.detach()) + ref.b_gate.detach(),
        "You returned the magnitude path's pre-activation: pi_gate has no exp(r_mag) and uses b_gate.":
            _paths(ref, h)[2],
    })


def test_latents(student, reference):
    """acts = H(pi_gate) · ReLU(pi_mag), with W_mag = exp(r_mag) · W_gate (per latent)"""
    stu, ref = _saes(student, reference)
    h = _h()
    proj, pi_gate, pi_mag, scale = _paths(ref, h)
    gate = (pi_gate > 0).float()
    acts = _encode(stu, h)[1]
    assert_close(acts.detach(), gate * F.relu(pi_mag), name="acts", mistakes={
        "You ignored r_mag: the magnitude path's weights are W_gate with each latent's column times exp(r_mag).":
            gate * F.relu(proj + ref.b_mag.detach()),
        "You multiplied the bias by exp(r_mag) too: only the weights are rescaled, pi_mag = exp(r_mag)·((h - b_dec) "
        "W_gate) + b_mag.": gate * F.relu((proj + ref.b_mag.detach()) * scale),
        "You used r_mag itself as the scale: the factor is exp(r_mag), always positive.":
            gate * F.relu(proj * ref.r_mag.detach() + ref.b_mag.detach()),
        "You used b_gate in the magnitude path: it has its own bias, b_mag.": gate * F.relu(proj * scale + ref.b_gate.detach()),
        "Your gate compares pi_mag with 0: whether a latent fires is decided by pi_gate.":
            (pi_mag > 0).float() * F.relu(pi_mag),
        "You left out the ReLU on the magnitude: a latent with an open gate and negative pi_mag is 0.": gate * pi_mag,
        "You used ReLU(pi_gate) as the latents: that is a ReLU SAE's latent; the value comes from the magnitude path.":
            F.relu(pi_gate),
        "You multiplied the two ReLUs: the gate contributes only 0 or 1, H(pi_gate).": F.relu(pi_gate) * F.relu(pi_mag),
    })


def test_gradients(student, reference):
    """acts send gradients to W_gate, r_mag and b_mag through the magnitude path, none to b_gate"""
    stu, ref = _saes(student, reference)
    h = _h()
    weights = torch.randn(BATCH, N_INST, D_SAE, generator=torch.Generator().manual_seed(2))
    acts = _encode(stu, h)[1]
    check(acts.requires_grad, "acts do not depend on the parameters through autograd",
          diagnosis="Don't detach anything, and compute with torch operations on the parameters.")
    (acts * weights).sum().backward()
    (ref.encode(h)[1] * weights).sum().backward()
    params = dict(stu.named_parameters())
    for name in ["W_gate", "r_mag", "b_mag", "b_dec"]:
        grad = params[name].grad
        check(grad is not None, f"{name}.grad is None after backward",
              diagnosis="Use the parameter itself (self.r_mag.exp(), not a copy or a number taken from it).")
        assert_close(grad, getattr(ref, name).grad, name=f"{name}.grad", atol=1e-5)
    grad = params["b_gate"].grad
    check(
        grad is None or bool((grad == 0).all()),
        "b_gate gets a gradient from acts: the gate should be a step (0 or 1), which has no gradient",
        diagnosis="Use the comparison (pi_gate > 0) turned into numbers, not a smooth function of pi_gate.",
    )


def test_hand_computed(student):
    """Hand-computed: a latent along x that opens above 0.3 and reports x unshrunk"""
    sae = student.GatedToySAE(1, 2, 1)
    with torch.no_grad():
        sae.W_gate.copy_(torch.tensor([[[1.0], [0.0]]]))
        sae.b_gate.fill_(-0.3)
        sae.r_mag.fill_(0.0)
        sae.b_mag.fill_(0.0)
        sae.b_dec.zero_()
    h = torch.tensor([[[0.25, 0.0]], [[0.8, 0.0]]])  # 2 examples, 1 instance
    pi_gate, acts = _encode(sae, h)
    assert_close(pi_gate.detach(), torch.tensor([[[-0.05]], [[0.5]]]), name="pi_gate")
    assert_close(acts.detach(), torch.tensor([[[0.0]], [[0.8]]]), name="acts", mistakes={
        "Your latent is shrunk by the gate's threshold: with an open gate it is ReLU(pi_mag) = 0.8, not "
        "ReLU(pi_gate) = 0.5.": torch.tensor([[[0.0]], [[0.5]]]),
        "The gate is closed for h = 0.25 (pi_gate = -0.05 < 0): the latent must be 0 there.":
            torch.tensor([[[0.25]], [[0.8]]]),
    })
