"""Reconstruction loss on the residual stream
==========================================

Difficulty: 2/5    Importance: 3/5    Time: ~10 minutes

Source: Bricken et al. 2023, "Towards Monosemanticity"
(https://transformer-circuits.pub/2023/monosemantic-features); Cunningham et al. 2023, "Sparse
Autoencoders Find Highly Interpretable Features in Language Models"
(https://arxiv.org/abs/2309.08600).

An SAE is a trade: sparse, hopefully interpretable latents in exchange for an imperfect
reconstruction. The first measure of the price is how far the reconstruction x̂ = decode(encode(x))
is from the real activation x, over the (non-BOS) tokens of a batch. Two numbers:

- the **mean squared error**, averaged over tokens *and* over the d_model dimensions (what
  `torch.nn.functional.mse_loss` computes with its default reduction):

      MSE = mean over tokens t and dimensions d of (x̂[t, d] - x[t, d])²

  Its size depends on the scale of the residual stream (GPT-2's grows from layer to layer), so on
  its own it is hard to read.

- the **fraction of variance unexplained** (FVU), which is scale-free: the squared error as a
  fraction of how much the activations vary around their mean x̄ (the mean over tokens, one value
  per dimension):

      FVU = Σ_t,d (x̂[t, d] - x[t, d])²  /  Σ_t,d (x[t, d] - x̄[d])²

  0 is a perfect reconstruction, 1 is no better than always predicting the mean activation. Good
  SAEs on GPT-2's residual stream reach a few percent.

Shapes: the cached activation at hook_name is (batch, seq, d_model) (the previous exercise fetched
the same one); drop position 0 (BOS, as everywhere in this section) to get x of shape (batch, seq -
1, d_model). The SAE's reconstruction, encoding then decoding (calling the SAE on x does both), has
the same shape. Return the two numbers as 0-dimensional tensors, MSE first.
"""

import torch
from jaxtyping import Float, Int
from torch import Tensor

from arena_course.superposition.lm_sae import SAE


def sae_reconstruction_loss(
    model,
    sae: SAE,
    tokens: Int[Tensor, "batch seq"],
    hook_name: str,
) -> tuple[Float[Tensor, ""], Float[Tensor, ""]]:
    """How well the SAE reconstructs the activations at `hook_name`, over the non-BOS tokens.

    Args:
        model: a TransformerLens model (a `TransformerBridge`).
        sae: an SAE reading the activations at `hook_name`.
        tokens: token ids, shape (batch, seq); position 0 of every row is BOS.
        hook_name: the hook point the SAE reads.

    Returns:
        (mse, fvu), both 0-dimensional tensors:
        mse: the mean over non-BOS tokens and over d_model of (x̂ - x)².
        fvu: Σ (x̂ - x)² / Σ (x - x̄)², sums over non-BOS tokens and d_model, where x̄ (d_model,) is
            the mean of x over the non-BOS tokens.
    """
    raise NotImplementedError(
        "cache the activation at hook_name without BOS, reconstruct it with the "
        "SAE, return (MSE, fraction of variance unexplained)"
    )


if __name__ == "__main__":
    # A quick look on an untrained tiny model and a random SAE (a bad reconstruction: FVU above 1).
    # The section's result is the section's last exercise's.
    from arena_course.superposition.lm_sae import quick_setup

    setup = quick_setup()
    with torch.no_grad():
        mse, fvu = sae_reconstruction_loss(setup.model, setup.sae, setup.tokens, setup.hook_name)
    print(f"MSE {float(mse):.4f}, fraction of variance unexplained {float(fvu):.3f}")
