"""The Gated SAE's encoder: a gate and a magnitude
===============================================

Difficulty: 3/5    Importance: 4/5    Time: ~15 minutes

Source: Rajamanoharan et al. 2024a, "Improving Dictionary Learning with Gated Sparse Autoencoders",
section 3 (https://arxiv.org/abs/2404.16014).

A ReLU SAE's encoder does two jobs with one number per latent. The pre-activation decides *whether*
a latent fires (is it above 0?) and *how strongly* (its value). The L1 penalty, which is there to
make latents fire rarely, therefore also pulls down the value of every latent that does fire:
shrinkage (section 7 met it; the JumpReLU SAE was one cure). The Gated SAE is another: it gives each
job its own path through the encoder, and (next exercise) penalises only the first.

    the gate path        π_gate = (h - b_dec) W_gate + b_gate              decides which latents
    fire the magnitude path   π_mag  = (h - b_dec) W_mag  + b_mag               decides how strongly
    the latents          acts   = H(π_gate) · ReLU(π_mag)                   H: the Heaviside step,
    1[· > 0]

Each latent fires when its gate pre-activation is positive, and then takes the value of its
magnitude pre-activation (cut at 0, so that the latents stay non-negative as in the ReLU SAE). The
decoder is the ReLU SAE's: h' = acts W_dec_normalized + b_dec.

Two full encoders would double the encoder's parameters. The paper ties them: the magnitude path
uses the gate's directions, each latent's column rescaled by its own positive factor exp(r_mag),

    W_mag[k, :, j] = exp(r_mag[k, j]) · W_gate[k, :, j]       (k: the instance, j: the latent)

so that a latent's two paths read the same direction of h, but with their own scale and their own
bias. Like θ in the JumpReLU SAE, the scale is learned as a logarithm so that it stays positive. The
gate can then learn a high threshold (through b_gate) that keeps interference from other features
out, while the magnitude path, with its own scale and bias, reports the feature's size exactly.

Shapes, for n_inst SAE instances: h (batch, inst, d_in); W_gate (inst, d_in, d_sae); b_gate, r_mag,
b_mag (inst, d_sae); b_dec (inst, d_in). π_gate, π_mag and acts are (batch, inst, d_sae). r_mag has
one number per latent, and a latent is a column of W_gate (its last dimension): the factor must line
up with that dimension, not with d_in.

Gradients: the step H has zero gradient, so autograd sends no gradient through the gate path here
(b_gate gets none from acts). That is expected: the next exercise's losses train the gate.

What to write: `GatedToySAE.encode`, returning (π_gate, acts): the loss needs π_gate as well.
"""

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn


class GatedToySAE(nn.Module):
    """`n_inst` independent Gated SAEs on `d_in`-dimensional activations, with `d_sae` latents each.

    Attributes:
        W_gate: (n_inst, d_in, d_sae), the gate path's encoder; the magnitude path uses it rescaled.
        b_gate: (n_inst, d_sae), the gate path's bias.
        r_mag: (n_inst, d_sae), the log of each latent's magnitude scale: W_mag = exp(r_mag) ·
            W_gate.
        b_mag: (n_inst, d_sae), the magnitude path's bias.
        _W_dec: (n_inst, d_sae, d_in), the decoder (untied; used with unit-norm rows).
        b_dec: (n_inst, d_in), the decoder's bias, also subtracted before encoding.
    """

    W_gate: Float[Tensor, "inst d_in d_sae"]
    b_gate: Float[Tensor, "inst d_sae"]
    r_mag: Float[Tensor, "inst d_sae"]
    b_mag: Float[Tensor, "inst d_sae"]
    _W_dec: Float[Tensor, "inst d_sae d_in"]
    b_dec: Float[Tensor, "inst d_in"]

    def __init__(self, n_inst: int, d_in: int, d_sae: int, weight_normalize_eps: float = 1e-8):
        """As the ReLU SAE (exercise 15): kaiming-uniform W_gate, the decoder starting as W_gateᵀ,
        zero biases; and r_mag = 0, so that the magnitude path starts as a copy of the gate path."""
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
        """The gate path's pre-activations and the latents.

        Args:
            h: the activations to encode, (batch, n_inst, d_in).

        Returns:
            pi_gate: (h - b_dec) W_gate + b_gate, (batch, n_inst, d_sae).
            acts: H(pi_gate) · ReLU(pi_mag), with pi_mag = (h - b_dec) (exp(r_mag) · W_gate) +
                b_mag, (batch, n_inst, d_sae).
        """
        # SOLUTION
        h_centred = h - self.b_dec

        # The gate path: which latents fire.
        pi_gate = (
            einops.einsum(
                h_centred, self.W_gate, "batch inst d_in, inst d_in d_sae -> batch inst d_sae"
            )
            + self.b_gate
        )

        # The magnitude path: the same directions, each latent's column scaled by exp(r_mag), its
        # own bias.
        W_mag = self.W_gate * self.r_mag.exp()[:, None, :]
        pi_mag = einops.einsum(
            h_centred, W_mag, "batch inst d_in, inst d_in d_sae -> batch inst d_sae"
        ) + self.b_mag

        # A latent fires where its gate is open, with the (non-negative) value of its magnitude.
        acts = (pi_gate > 0).to(pi_mag.dtype) * F.relu(pi_mag)
        return pi_gate, acts
        # END SOLUTION
        # EXERCISE
        # raise NotImplementedError(
        #     "compute pi_gate and pi_mag (W_gate rescaled per latent by "
        #     "exp(r_mag)), then acts = H(pi_gate) * ReLU(pi_mag)"
        # )
        # END EXERCISE

    def decode(self, acts: Float[Tensor, "batch inst d_sae"]) -> Float[Tensor, "batch inst d_in"]:
        """h' = acts W_dec_normalized + b_dec, as in the ReLU SAE."""
        return (
            einops.einsum(
                acts, self.W_dec_normalized, "batch inst d_sae, inst d_sae d_in -> batch inst d_in"
            )
            + self.b_dec
        )


if __name__ == "__main__":
    # A quick look: one Gated SAE in 2 dimensions with one latent along x. Its gate opens only above
    # x = 0.3 (b_gate = -0.3), while its magnitude path reports x itself (r_mag = 0, b_mag = 0):
    # inputs below the threshold give 0, inputs above give their full size, not size minus 0.3 as a
    # ReLU with bias -0.3 would.
    sae = GatedToySAE(1, d_in=2, d_sae=1)
    with torch.no_grad():
        sae.W_gate.copy_(torch.tensor([[[1.0], [0.0]]]))
        sae.b_gate.fill_(-0.3)
    for x in [0.1, 0.25, 0.35, 0.8]:
        _, acts = sae.encode(torch.tensor([[[x, 0.0]]]))
        print(
            f"h = ({x:.2f}, 0):  latent = {acts.item():.2f}   (a ReLU "
            f"with bias -0.3: {max(x - 0.3, 0):.2f})"
        )
