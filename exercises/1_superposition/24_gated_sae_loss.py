"""The Gated SAE's loss: L1 on the gate, and an auxiliary loss
============================================================

Difficulty: 3/5    Importance: 4/5    Time: ~20 minutes

Source: Rajamanoharan et al. 2024a, "Improving Dictionary Learning with Gated Sparse Autoencoders",
section 3, how Gated SAEs are trained (https://arxiv.org/abs/2404.16014).

The encoder of exercise 23 (given below, solved) has two paths. The loss decides what each learns:

    L_reconstruction = mean over d_in of (h' - h)²                        h' = decode(acts), as
    before L_sparsity       = Σ_j ReLU(π_gate)_j                                the L1 penalty, on
    the gate only L_aux            = mean over d_in of (h'_aux - h)²                    the
    auxiliary loss
                       with h'_aux = ReLU(π_gate) W_dec_normalized + b_dec, the decoder frozen

and the total, per instance, L_reconstruction + c · L_sparsity + L_aux (c: the sparsity
coefficient).

Why each term:
- The L1 penalty is on ReLU(π_gate), not on acts: it pushes the *gate* pre-activations down, so that
  latents fire rarely, and never touches the magnitude path's b_mag or r_mag. Nothing pays a latent
  to report a value smaller than the one that reconstructs its input: no shrinkage. (The penalty
  must not be escapable by shrinking the encoder and growing the decoder: implementations either
  keep the decoder's rows at unit norm, as this chapter's SAEs do, or weight each latent's term by
  its decoder row's norm. Here the decoding uses W_dec_normalized, so those weights are all 1.)
- But the gate's only way into acts is the Heaviside step, which has no gradient: the reconstruction
  loss cannot tell the gate which latents it should open. The auxiliary loss does: it decodes
  ReLU(π_gate) as if it were a ReLU SAE's latents, so the gate path is trained to be a good ReLU
  encoder on its own, and a latent whose gate pre-activation is large is one that helps reconstruct.
- The decoder in L_aux is a *frozen copy*: W_dec_normalized and b_dec there are detached, so L_aux
  trains only the encoder's gate path (W_gate, b_gate, and b_dec through the centring h - b_dec),
  and the decoder learns from L_reconstruction alone. Without the freeze, the decoder would also be
  pulled towards reconstructing from the gate's (shrunk) values.

The decoding `decode(acts)` is given. `tensor.detach()` returns the same values cut off from
autograd: a loss computed from a detached tensor sends no gradient back to the parameter it came
from.

What to write: `GatedToySAE.forward`, returning the same tuple as the ReLU SAE's forward
(exercise 18) with a third entry in the loss dict: ({"L_reconstruction", "L_sparsity", "L_aux"} each
(batch, inst), the scalar total loss, acts, h'). The total loss is the sum over instances of the
batch mean of L_reconstruction + sparsity_coeff * L_sparsity + L_aux, where sparsity_coeff is a
number or one per instance (shape (inst,)), as before.
"""

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn


class GatedToySAE(nn.Module):
    """`n_inst` independent Gated SAEs (exercise 23): parameters W_gate (n_inst, d_in, d_sae),
    b_gate, r_mag, b_mag (n_inst, d_sae), _W_dec (n_inst, d_sae, d_in), b_dec (n_inst, d_in)."""

    W_gate: Float[Tensor, "inst d_in d_sae"]
    b_gate: Float[Tensor, "inst d_sae"]
    r_mag: Float[Tensor, "inst d_sae"]
    b_mag: Float[Tensor, "inst d_sae"]
    _W_dec: Float[Tensor, "inst d_sae d_in"]
    b_dec: Float[Tensor, "inst d_in"]

    def __init__(self, n_inst: int, d_in: int, d_sae: int, weight_normalize_eps: float = 1e-8):
        # Exercise 23's parameters: the decoder starts as W_gateᵀ, the biases and r_mag at 0.
        super().__init__()
        self.n_inst, self.d_in, self.d_sae = n_inst, d_in, d_sae
        self.tied = False
        self.weight_normalize_eps = weight_normalize_eps
        self.W_gate = nn.Parameter(nn.init.kaiming_uniform_(torch.empty(n_inst, d_in, d_sae)))
        self._W_dec = nn.Parameter(self.W_gate.detach().transpose(-1, -2).clone())
        self.b_gate = nn.Parameter(torch.zeros(n_inst, d_sae))
        self.r_mag = nn.Parameter(torch.zeros(n_inst, d_sae))
        self.b_mag = nn.Parameter(torch.zeros(n_inst, d_sae))
        self.b_dec = nn.Parameter(torch.zeros(n_inst, d_in))

    @property
    def W_dec(self) -> Float[Tensor, "inst d_sae d_in"]:
        return self._W_dec

    @property
    def W_dec_normalized(self) -> Float[Tensor, "inst d_sae d_in"]:
        """The decoder with unit-norm rows (exercise 16)."""
        return self.W_dec / (self.W_dec.norm(dim=-1, keepdim=True) + self.weight_normalize_eps)

    def encode(
        self, h: Float[Tensor, "batch inst d_in"]
    ) -> tuple[Float[Tensor, "batch inst d_sae"], Float[Tensor, "batch inst d_sae"]]:
        """Exercise 23, solved: (pi_gate, acts = H(pi_gate) · ReLU(pi_mag))."""
        h_centred = h - self.b_dec
        pi_gate = (
            einops.einsum(
                h_centred, self.W_gate, "batch inst d_in, inst d_in d_sae -> batch inst d_sae"
            )
            + self.b_gate
        )
        W_mag = self.W_gate * self.r_mag.exp()[:, None, :]
        pi_mag = einops.einsum(
            h_centred, W_mag, "batch inst d_in, inst d_in d_sae -> batch inst d_sae"
        ) + self.b_mag
        acts = (pi_gate > 0).to(pi_mag.dtype) * F.relu(pi_mag)
        return pi_gate, acts

    def decode(self, acts: Float[Tensor, "batch inst d_sae"]) -> Float[Tensor, "batch inst d_in"]:
        """h' = acts W_dec_normalized + b_dec, as in the ReLU SAE."""
        return (
            einops.einsum(
                acts, self.W_dec_normalized, "batch inst d_sae, inst d_sae d_in -> batch inst d_in"
            )
            + self.b_dec
        )

    def forward(
        self, h: Float[Tensor, "batch inst d_in"], sparsity_coeff: float | Float[Tensor, "inst"]
    ) -> tuple[
        dict[str, Float[Tensor, "batch inst"]],
        Float[Tensor, ""],
        Float[Tensor, "batch inst d_sae"],
        Float[Tensor, "batch inst d_in"],
    ]:
        """Encode, decode, and compute the Gated SAE's three losses.

        Args:
            h: the activations to reconstruct, (batch, n_inst, d_in).
            sparsity_coeff: the L1 coefficient c: a number, or one per instance, shape (n_inst,).

        Returns:
            loss_dict: {"L_reconstruction": mean over d_in of (h' - h)², "L_sparsity": Σ over d_sae
                of ReLU(pi_gate), "L_aux": mean over d_in of (h'_aux - h)², h'_aux decoding
                ReLU(pi_gate) with a frozen (detached) W_dec_normalized and b_dec}, each (batch,
                n_inst).
            loss: a scalar, the sum over instances of the batch mean of
                L_reconstruction + sparsity_coeff * L_sparsity + L_aux.
            acts: the latents, (batch, n_inst, d_sae).
            h_reconstructed: h' = decode(acts), (batch, n_inst, d_in).
        """
        raise NotImplementedError(
            "encode and decode; L1 on ReLU(pi_gate); the auxiliary loss "
            "through a detached decoder; sum the three"
        )


if __name__ == "__main__":
    # A quick look: one input along a latent's direction, of size 0.8, through a Gated SAE whose
    # gate opens above 0.3. The latent reports 0.8 exactly, so L_reconstruction is 0; the gate's
    # ReLU value is 0.5, so the penalty is c · 0.5 and the auxiliary reconstruction (0.5, 0) misses
    # by 0.3.
    sae = GatedToySAE(1, d_in=2, d_sae=2)
    with torch.no_grad():
        sae.W_gate.copy_(torch.eye(2)[None])
        sae._W_dec.copy_(torch.eye(2)[None])
        sae.b_gate.fill_(-0.3)
    loss_dict, loss, acts, h_rec = sae(torch.tensor([[[0.8, 0.0]]]), 0.1)
    print(f"acts {acts.flatten().tolist()}, h' {[round(x, 3) for x in h_rec.flatten().tolist()]}")
    for name, value in loss_dict.items():
        print(f"  {name:17s} {value.item():.4f}")
    print(f"  total loss        {loss.item():.4f}   (expect 0 + 0.1 · 0.5 + 0.3²/2 = 0.095)")
