"""Heaviside and JumpReLU with pseudo-gradients
============================================

Difficulty: 4/5    Importance: 3/5    Time: ~25 minutes

Source: Rajamanoharan et al. 2024, "Jumping Ahead: Improving Reconstruction Fidelity with JumpReLU
Sparse Autoencoders", sections 3-4 and appendix J (https://arxiv.org/abs/2407.14435).

The ReLU SAE's L1 penalty is a stand-in. What we want is few active latents, the L0 "norm" (a
count), but a count has no useful gradient, so we penalise the activations' size instead. That
shrinks every activation that does fire, and the reconstruction pays for it. The JumpReLU SAE
penalises the count itself, and replaces the ReLU with a JumpReLU that has a learned threshold θ per
latent:

    H(z - θ)       = 1 if z > θ else 0               the Heaviside step: "is the latent active?"
    JumpReLU(z, θ) = z · H(z - θ)                     z itself above the threshold, 0 below it

Below θ a latent is off; above, it passes z through unchanged, with no shrinkage. The L0 penalty is
Σ_j H(z_j - θ_j).

The problem: both functions are piecewise constant in θ, so autograd's gradient with respect to θ
is 0 almost everywhere, and θ would never learn. The paper's fix is a *pseudo-gradient* (a
straight-through estimator): in the backward pass, pretend the step was smeared over a window of
width ε (the "bandwidth") around θ, using the rectangle kernel

    rect(u) = 1 if -1/2 < u < 1/2 else 0                  (given below as `rectangle`)

and define

    ∂H(z - θ)/∂θ        := -(1/ε) · rect((z - θ) / ε)
    ∂JumpReLU(z, θ)/∂θ  := -(θ/ε) · rect((z - θ) / ε)
    ∂JumpReLU(z, θ)/∂z  := H(z - θ)                        (the ordinary gradient, away from z = θ)
    ∂H(z - θ)/∂z        := 0                               (the ordinary gradient: H is flat in z)

Why these are sensible: averaged over many inputs z, the fraction of z within ε/2 of θ, divided by
ε, estimates the density p(θ) of z at θ; and the true derivatives of the *expected* values are
d/dθ E[H(z - θ)] = -p(θ) and d/dθ E[z H(z - θ)] = -θ p(θ). So over a batch the pseudo-gradients
estimate the gradients of the expected loss, which is what training needs.

How to write it: a `torch.autograd.Function` has two static methods. `forward(ctx, ...)` computes
the output and stores on `ctx` what backward will need: tensors through its method
`save_for_backward` (read back as the tuple `ctx.saved_tensors`), plain numbers as attributes of
`ctx`. `backward(ctx, grad_output)` receives the gradient of the loss with respect to the output
(same shape as the output) and returns one gradient per input of forward, in order, None for an
input that is not a tensor. Each is grad_output times the (pseudo-)derivative, by the chain rule. An
example on another function, y = c · x³ with a number c:

    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, inputs, c):
            ctx.save_for_backward(inputs)
            ctx.c = c
            return c * inputs**3

        @staticmethod
        def backward(ctx, grad_output):
            (inputs,) = ctx.saved_tensors
            return grad_output * 3 * ctx.c * inputs**2, None     # d/dx, and None for the number c

    y = Cube.apply(x, 2.0)                                        # never Cube.forward(...) directly

Shapes. z has shape (batch, inst, d_sae) and θ one value per latent, (inst, d_sae): broadcasting
lines them up in forward. In backward, grad_theta should have θ's shape: each θ value was used by
every example, so its gradient is the sum of the per-element gradients over the dimensions θ was
broadcast along (the batch). `_sum_to_shape(grad, theta.shape)` (given) does exactly that. (Recent
PyTorch versions also do this sum for you when a backward returns a broadcast-shaped gradient, but
saying it explicitly makes the maths visible.) grad_z has z's shape. Outputs have z's dtype (turn
the boolean z > θ into numbers with `.to(z.dtype)`).

What to write: `forward` and `backward` of `Heaviside` and of `JumpReLU`. Call them with `.apply`:
`Heaviside.apply(z, theta, eps)`.
"""

from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor


def rectangle(x: Tensor) -> Tensor:
    """The rectangle kernel: 1.0 where -1/2 < x < 1/2, else 0.0 (in x's dtype)."""
    return ((x > -0.5) & (x < 0.5)).to(x.dtype)


def _sum_to_shape(grad: Tensor, shape: torch.Size) -> Tensor:
    """Sum `grad` over the dimensions that broadcasting added or expanded, so it has `shape`.

    E.g. a gradient of shape (batch, inst, d_sae) for a θ of shape (inst, d_sae) is summed over the
    batch: each θ value was used by every example, so its gradient is the sum of theirs.
    """
    while grad.dim() > len(shape):
        grad = grad.sum(0)
    for dim, size in enumerate(shape):
        if size == 1 and grad.shape[dim] != 1:
            grad = grad.sum(dim, keepdim=True)
    return grad


class Heaviside(torch.autograd.Function):
    """H(z - θ) = 1[z > θ], with the pseudo-gradient -(1/ε) rect((z - θ)/ε) with respect to θ and 0
    with respect to z."""

    @staticmethod
    def forward(
        ctx: Any, z: Float[Tensor, "..."], theta: Float[Tensor, "..."], eps: float
    ) -> Float[Tensor, "..."]:
        """1.0 where z > θ (strictly), else 0.0; z's shape (θ broadcasts against z) and dtype."""
        raise NotImplementedError(
            "save z, theta (and eps) on ctx; return 1.0 where z > theta, else 0.0"
        )

    @staticmethod
    def backward(ctx: Any, grad_output: Float[Tensor, "..."]) -> tuple[Tensor | None, Tensor, None]:
        """(grad_z, grad_theta, None): zero for z; grad_output · -(1/ε) rect((z - θ)/ε) for θ,
        summed to θ's shape."""
        raise NotImplementedError(
            "return three gradients: zero for z, the pseudo-gradient for "
            "theta (summed to theta's shape), None for eps"
        )


class JumpReLU(torch.autograd.Function):
    """JumpReLU(z, θ) = z · 1[z > θ], with gradient 1[z > θ] with respect to z and the
    pseudo-gradient -(θ/ε) rect((z - θ)/ε) with respect to θ."""

    @staticmethod
    def forward(
        ctx: Any, z: Float[Tensor, "..."], theta: Float[Tensor, "..."], eps: float
    ) -> Float[Tensor, "..."]:
        """z where z > θ (strictly), else 0.0; z's shape and dtype."""
        raise NotImplementedError(
            "save z, theta (and eps) on ctx; return z where z > theta, else 0.0"
        )

    @staticmethod
    def backward(ctx: Any, grad_output: Float[Tensor, "..."]) -> tuple[Tensor, Tensor, None]:
        """(grad_z, grad_theta, None): grad_output · 1[z > θ] for z; grad_output · -(θ/ε) rect((z -
        θ)/ε) for θ, summed to θ's shape."""
        raise NotImplementedError(
            "return three gradients: the ordinary one for z, the pseudo-gradient "
            "for theta (summed to theta's shape), None for eps"
        )


if __name__ == "__main__":
    # A quick look: z spread evenly over [0, 1], a threshold θ = 0.5 and bandwidth ε = 0.1. Over the
    # batch, the pseudo-gradients estimate the derivatives of the expected values: -p(θ) = -1 for
    # the fraction above the threshold, and -θ p(θ) = -0.5 for the mean JumpReLU output.
    z = torch.linspace(0, 1, 10_001)
    theta = torch.tensor(0.5, requires_grad=True)
    Heaviside.apply(z, theta, 0.1).mean().backward()
    print(f"d/dθ mean H(z - θ):       {theta.grad.item():+.3f}  (expect ≈ -1)")
    theta.grad = None
    JumpReLU.apply(z, theta, 0.1).mean().backward()
    print(f"d/dθ mean JumpReLU(z, θ): {theta.grad.item():+.3f}  (expect ≈ -0.5)")
