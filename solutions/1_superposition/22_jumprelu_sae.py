"""The JumpReLU SAE
================

Difficulty: 3/5    Importance: 3/5    Time: ~20 minutes

Source: Rajamanoharan et al. 2024, "Jumping Ahead: Improving Reconstruction Fidelity with JumpReLU
Sparse Autoencoders", sections 3-4 (https://arxiv.org/abs/2407.14435).

The JumpReLU SAE keeps the ReLU SAE's encoder and decoder and changes two things:

    pre  = (h - b_dec) W_enc + b_enc                     (batch, inst, d_sae), as before
    acts = JumpReLU(pre, θ)                              pre where pre > θ, else 0
    h'   = acts W_dec_normalized + b_dec                 as before

    L_reconstruction = mean over d_in of (h' - h)²          as before L_sparsity       = Σ_j
    H(pre_j - θ_j)                   the number of active latents (L0), not L1

with one learned threshold θ per latent (shape (n_inst, d_sae)). θ must stay positive, so the SAE
learns its logarithm, `log_theta`, and uses θ = exp(log_theta) (the property `theta`, given). There
is no separate ReLU: θ > 0, so the JumpReLU already zeroes every negative pre-activation.

Where the gradients come from. The L0 penalty has a gradient only through θ, and only through the
pseudo-gradient of the Heaviside step (exercise 21): it pushes each threshold up, switching off
latents that fire weakly. The reconstruction loss pushes back, through the JumpReLU's
pseudo-gradient for θ, when switching a latent off would hurt the reconstruction. The encoder and
decoder learn from the reconstruction loss alone, through JumpReLU's ordinary gradient for z. And
since the penalty counts latents instead of measuring their size, there is nothing to gain from
shrinking an active latent's value: no shrinkage, and (the paper's claim, which this section's
result checks) a better sparsity-reconstruction trade-off than the ReLU SAE.

Use the autograd functions of exercise 21 (given below, solved), called through `.apply` with the
bandwidth ε as their last argument. They must be called on the thresholds θ themselves, the property
`theta` (not `log_theta`): that is what routes their pseudo-gradients on to `log_theta`. Comparing
the pre-activations with θ yourself would give the right values but no gradient to the thresholds.

What to write: `JumpReLUToySAE.forward`. It returns the same tuple as the ReLU SAE's forward
(exercise 18): ({"L_reconstruction", "L_sparsity"} each (batch, inst), the scalar total loss, acts,
h'), with the total loss = sum over instances of the batch mean of
L_reconstruction + sparsity_coeff * L_sparsity, where sparsity_coeff is now the L0 coefficient.

Then run this file: it trains ReLU SAEs (yours, exercise 18) and JumpReLU SAEs (this file, with your
autograd functions from exercise 21) over a range of sparsity coefficients and compares their
trade-offs (see the end of this file).
"""

import math
from typing import Any

import einops
import torch
from jaxtyping import Float
from torch import Tensor, nn

# ---------------------------------------------------------------------------------- exercise 21,
# solved


def rectangle(x: Tensor) -> Tensor:
    """The rectangle kernel: 1.0 where -1/2 < x < 1/2, else 0.0."""
    return ((x > -0.5) & (x < 0.5)).to(x.dtype)


def _sum_to_shape(grad: Tensor, shape: torch.Size) -> Tensor:
    """Sum `grad` over the dimensions that broadcasting added or expanded, so it has `shape`."""
    while grad.dim() > len(shape):
        grad = grad.sum(0)
    for dim, size in enumerate(shape):
        if size == 1 and grad.shape[dim] != 1:
            grad = grad.sum(dim, keepdim=True)
    return grad


class Heaviside(torch.autograd.Function):
    """H(z - θ) = 1[z > θ]; pseudo-gradient -(1/ε) rect((z - θ)/ε) for θ, 0 for z."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, theta: Tensor, eps: float) -> Tensor:
        ctx.save_for_backward(z, theta)
        ctx.eps = eps
        return (z > theta).to(z.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, Tensor, None]:
        z, theta = ctx.saved_tensors
        grad_theta = -(1.0 / ctx.eps) * rectangle((z - theta) / ctx.eps) * grad_output
        return torch.zeros_like(z), _sum_to_shape(grad_theta, theta.shape), None


class JumpReLU(torch.autograd.Function):
    """JumpReLU(z, θ) = z · 1[z > θ]; gradient 1[z > θ] for z, pseudo-gradient -(θ/ε) rect((z -
    θ)/ε) for θ."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, theta: Tensor, eps: float) -> Tensor:
        ctx.save_for_backward(z, theta)
        ctx.eps = eps
        return z * (z > theta).to(z.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, Tensor, None]:
        z, theta = ctx.saved_tensors
        grad_theta = -(theta / ctx.eps) * rectangle((z - theta) / ctx.eps) * grad_output
        return (z > theta).to(z.dtype) * grad_output, _sum_to_shape(grad_theta, theta.shape), None


# ---------------------------------------------------------------------------------- the JumpReLU
# SAE


class JumpReLUToySAE(nn.Module):
    """`n_inst` independent JumpReLU SAEs: the ReLU SAE's parameters (exercise 15) plus a learned
    log-threshold per latent.

    Attributes:
        W_enc: (n_inst, d_in, d_sae); _W_dec: (n_inst, d_sae, d_in) (untied); b_enc: (n_inst,
            d_sae);
        b_dec: (n_inst, d_in); as in the ReLU SAE.
        log_theta: (n_inst, d_sae), the logarithm of each latent's threshold.
        bandwidth: ε, the width of the pseudo-gradients' window.
    """

    W_enc: Float[Tensor, "inst d_in d_sae"]
    _W_dec: Float[Tensor, "inst d_sae d_in"]
    b_enc: Float[Tensor, "inst d_sae"]
    b_dec: Float[Tensor, "inst d_in"]
    log_theta: Float[Tensor, "inst d_sae"]

    def __init__(
        self,
        n_inst: int,
        d_in: int,
        d_sae: int,
        theta_init: float = 0.1,
        bandwidth: float = 0.01,
        weight_normalize_eps: float = 1e-8,
    ):
        """As the ReLU SAE (untied), plus thresholds starting at `theta_init` and the bandwidth
        ε."""
        super().__init__()
        self.n_inst, self.d_in, self.d_sae = n_inst, d_in, d_sae
        self.tied = False
        self.bandwidth = bandwidth
        self.weight_normalize_eps = weight_normalize_eps
        self.W_enc = nn.Parameter(nn.init.kaiming_uniform_(torch.empty(n_inst, d_in, d_sae)))
        self._W_dec = nn.Parameter(self.W_enc.detach().transpose(-1, -2).clone())
        self.b_enc = nn.Parameter(torch.zeros(n_inst, d_sae))
        self.b_dec = nn.Parameter(torch.zeros(n_inst, d_in))
        self.log_theta = nn.Parameter(torch.full((n_inst, d_sae), math.log(theta_init)))

    @property
    def theta(self) -> Float[Tensor, "inst d_sae"]:
        """The thresholds, exp(log_theta): always positive."""
        return self.log_theta.exp()

    @property
    def W_dec(self) -> Float[Tensor, "inst d_sae d_in"]:
        return self._W_dec

    @property
    def W_dec_normalized(self) -> Float[Tensor, "inst d_sae d_in"]:
        """The decoder with unit-norm rows (exercise 16)."""
        return self.W_dec / (self.W_dec.norm(dim=-1, keepdim=True) + self.weight_normalize_eps)

    def forward(
        self, h: Float[Tensor, "batch inst d_in"], sparsity_coeff: float | Float[Tensor, "inst"]
    ) -> tuple[
        dict[str, Float[Tensor, "batch inst"]],
        Float[Tensor, ""],
        Float[Tensor, "batch inst d_sae"],
        Float[Tensor, "batch inst d_in"],
    ]:
        """Encode with a JumpReLU, decode, and compute the losses with an L0 penalty.

        Args:
            h: the activations to reconstruct, (batch, n_inst, d_in).
            sparsity_coeff: the L0 coefficient: a number, or one per instance, shape (n_inst,).

        Returns:
            loss_dict: {"L_reconstruction": mean over d_in of (h' - h)², "L_sparsity": the number of
                active latents, Σ_j H(pre_j - θ_j)}, each (batch, n_inst).
            loss: a scalar, the sum over instances of the batch mean of
                L_reconstruction + sparsity_coeff * L_sparsity.
            acts: JumpReLU(pre, θ), (batch, n_inst, d_sae).
            h_reconstructed: acts W_dec_normalized + b_dec, (batch, n_inst, d_in).
        """
        # SOLUTION
        # The pre-activations, exactly as in the ReLU SAE.
        pre = (
            einops.einsum(
                h - self.b_dec, self.W_enc, "batch inst d_in, inst d_in d_sae -> batch inst d_sae"
            )
            + self.b_enc
        )

        # The JumpReLU: pre above the threshold, else 0. (Through .apply, so θ gets its
        # pseudo-gradient.)
        acts = JumpReLU.apply(pre, self.theta, self.bandwidth)

        # Decode as before.
        h_reconstructed = (
            einops.einsum(
                acts, self.W_dec_normalized, "batch inst d_sae, inst d_sae d_in -> batch inst d_in"
            )
            + self.b_dec
        )

        # Reconstruction as before; sparsity is now the count of active latents, through Heaviside
        # so that it pushes the thresholds.
        L_reconstruction = (h_reconstructed - h).pow(2).mean(-1)
        L_sparsity = Heaviside.apply(pre, self.theta, self.bandwidth).sum(-1)
        loss_dict = {"L_reconstruction": L_reconstruction, "L_sparsity": L_sparsity}

        loss = (L_reconstruction + sparsity_coeff * L_sparsity).mean(0).sum()
        return loss_dict, loss, acts, h_reconstructed
        # END SOLUTION
        # EXERCISE
        # raise NotImplementedError(
        #     "encode with JumpReLU, decode, and compute the losses "
        #     "with an L0 penalty through Heaviside"
        # )
        # END EXERCISE


if __name__ == "__main__":
    # The section's result: sparsity (L0) against reconstruction error, for ReLU SAEs over a range
    # of L1 coefficients and JumpReLU SAEs over a range of L0 coefficients.
    #
    # Uses your ReLU SAE (exercise 18), your training data (17), your toy model from section 1, and
    # your Heaviside and JumpReLU from exercise 21 inside the JumpReLU SAE above. Writes
    # results/superposition/jumprelu_tradeoff.png. About 25 s on a laptop.
    from pathlib import Path

    from arena_course.loading import load_sibling
    from arena_course.superposition.toy_sae import (
        evaluate_sae, plot_tradeoff, toy_model_for_sae, train_sae
    )

    # Your autograd functions (exercise 21) replace the given ones used by JumpReLUToySAE.forward.
    jumprelu_autograd = load_sibling(__file__, "jumprelu_autograd")
    Heaviside, JumpReLU = jumprelu_autograd.Heaviside, jumprelu_autograd.JumpReLU

    ToySAE = load_sibling(__file__, "sae_forward").ToySAE
    sae_training_data = load_sibling(__file__, "sae_training_data").sae_training_data

    # One coefficient per instance, each twice (two random initialisations).
    relu_coeffs = torch.tensor([0.03, 0.06, 0.1, 0.2, 0.3, 0.5]).repeat_interleave(2)
    jumprelu_coeffs = torch.tensor([0.003, 0.01, 0.03, 0.06, 0.1, 0.3]).repeat_interleave(2)
    n_inst, n_features, d_hidden, d_sae = len(relu_coeffs), 5, 2, 5
    feature_probability = 0.025

    # Fail fast: a forward and backward pass of the JumpReLU SAE (with your autograd functions) on a
    # dummy batch, before spending seconds on the toy model.
    JumpReLUToySAE(n_inst, d_hidden, d_sae)(torch.randn(4, n_inst, d_hidden), jumprelu_coeffs)[
        1
    ].backward()

    model = toy_model_for_sae(
        load_sibling(__file__, "toy_model_forward").ToyModel,
        load_sibling(__file__, "generate_batch").generate_batch,
        load_sibling(__file__, "importance_weighted_loss").importance_weighted_loss,
        n_inst,
        n_features=n_features,
        d_hidden=d_hidden,
        feature_probability=feature_probability,
    )

    def data(batch_size: int) -> Tensor:
        return sae_training_data(model, batch_size)

    points = {}
    for name, sae_cls, coeffs in [
        ("ReLU SAE (L1 penalty)", ToySAE, relu_coeffs),
        ("JumpReLU SAE (L0 penalty)", JumpReLUToySAE, jumprelu_coeffs),
    ]:
        torch.manual_seed(0)
        sae = sae_cls(n_inst, d_in=d_hidden, d_sae=d_sae)
        train_sae(sae, data, sparsity_coeff=coeffs, steps=3000, description=name)
        stats = evaluate_sae(sae, data, coeffs)
        points[name] = (coeffs, stats["L0"], stats["mse"])

    # the toy model's mean number of active features per input
    true_l0 = n_features * feature_probability
    path = plot_tradeoff(
        points, Path("results/superposition/jumprelu_tradeoff.png"), true_l0=true_l0
    )
    print(f"Wrote {path}")
    for name, (coeffs, l0, mse) in points.items():
        print(f"  {name}:")
        for c, a, b in zip(coeffs.tolist(), l0.tolist(), mse.tolist()):
            print(f"    coefficient {c:<6.3g} L0 {a:.3f}   MSE {b:.2e}")
    print(
        "Each point is one SAE. At the same L0 (the same number of "
        "active latents), the JumpReLU SAEs\n"
        "reconstruct with less error: the L1 penalty shrinks every "
        "active latent, the L0 penalty does not."
    )
