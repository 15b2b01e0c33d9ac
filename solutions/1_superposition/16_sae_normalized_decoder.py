"""The normalised decoder
======================

Difficulty: 1/5    Importance: 3/5    Time: ~5 minutes

Source: Bricken et al. 2023, "Towards Monosemanticity", section "Setup: Sparse Autoencoders"
(https://transformer-circuits.pub/2023/monosemantic-features).

The SAE will be trained with a sparsity penalty on the size of its latent activations (next
exercises). That penalty has a loophole: the reconstruction only depends on each latent's activation
*times* its decoder direction, z_j · W_dec[j]. Double the decoder row and halve the activation, and
the reconstruction is unchanged but the penalty is halved. Left alone, training would shrink the
activations towards 0 and blow the decoder up, making the penalty meaningless.

The fix: give every latent a decoder direction of length exactly 1. Then the activation z_j alone
says how much of direction j is present, and the penalty measures what we want. We do it in two
places:

  - the forward pass never uses W_dec directly, only `W_dec_normalized`, each row of W_dec divided
    by its norm. This is what you write, as a property of the SAE. Because the normalisation is part
    of the forward pass, gradients know about it: the loss cannot depend on a decoder row's length.
  - after each optimiser step, the given training loop (`arena_course/superposition/toy_sae.py`)
    writes `W_dec_normalized` back into an untied W_dec, so the stored rows stay at length 1 too.
    (For a tied SAE that would rescale the encoder, so there only the property is used.)

Shapes. W_dec has shape (n_inst, d_sae, d_in); row [k, j, :] is latent j's direction in instance k.
Normalise each row over d_in, the last dimension, and add `self.weight_normalize_eps` to the norm
before dividing, so that a row of zeros gives zeros, not NaN:

    W_dec_normalized[k, j, :] = W_dec[k, j, :] / (‖W_dec[k, j, :]‖ + eps)

What to write: the `W_dec_normalized` property. A correct answer has W_dec's shape; every row has
norm 1 (up to eps) and points the same way as the corresponding row of W_dec; it works for tied SAEs
too (use the property `self.W_dec`, which is W_encᵀ when tied); and it does not change W_dec itself.
"""

import torch
from jaxtyping import Float
from torch import Tensor, nn


class ToySAE(nn.Module):
    """`n_inst` independent sparse autoencoders; see exercise 15. Parameters: W_enc (n_inst, d_in,
    d_sae), _W_dec (n_inst, d_sae, d_in) or None when tied, b_enc (n_inst, d_sae), b_dec (n_inst,
    d_in)."""

    W_enc: Float[Tensor, "inst d_in d_sae"]
    _W_dec: Float[Tensor, "inst d_sae d_in"] | None
    b_enc: Float[Tensor, "inst d_sae"]
    b_dec: Float[Tensor, "inst d_in"]

    def __init__(
        self,
        n_inst: int,
        d_in: int,
        d_sae: int,
        tied: bool = False,
        weight_normalize_eps: float = 1e-8,
    ):
        # Exercise 15, solved: kaiming-uniform W_enc, an untied decoder starting as W_encᵀ, zero
        # biases.
        super().__init__()
        self.n_inst, self.d_in, self.d_sae = n_inst, d_in, d_sae
        self.tied = tied
        self.weight_normalize_eps = weight_normalize_eps
        self.W_enc = nn.Parameter(nn.init.kaiming_uniform_(torch.empty(n_inst, d_in, d_sae)))
        self._W_dec = None if tied else nn.Parameter(self.W_enc.detach().transpose(-1, -2).clone())
        self.b_enc = nn.Parameter(torch.zeros(n_inst, d_sae))
        self.b_dec = nn.Parameter(torch.zeros(n_inst, d_in))

    @property
    def W_dec(self) -> Float[Tensor, "inst d_sae d_in"]:
        """The decoder: `_W_dec` if untied, else W_enc transposed."""
        return self._W_dec if self._W_dec is not None else self.W_enc.transpose(-1, -2)

    @property
    def W_dec_normalized(self) -> Float[Tensor, "inst d_sae d_in"]:
        """The decoder with every latent's direction scaled to unit length.

        Returns:
            (n_inst, d_sae, d_in): W_dec[k, j, :] / (‖W_dec[k, j, :]‖ + weight_normalize_eps), for
            every instance k and latent j. A new tensor: W_dec itself is unchanged, and gradients
            flow through the division back to W_dec.
        """
        # SOLUTION
        # One norm per (instance, latent): over d_in, the last dimension. keepdim=True leaves a
        # size-1 dimension so that the division broadcasts over d_in.
        norms = self.W_dec.norm(dim=-1, keepdim=True)  # (n_inst, d_sae, 1)
        return self.W_dec / (norms + self.weight_normalize_eps)
        # END SOLUTION
        # EXERCISE
        # raise NotImplementedError(
        #     "divide each row of self.W_dec by its norm over d_in (plus weight_normalize_eps)"
        # )
        # END EXERCISE


if __name__ == "__main__":
    # A quick look: the decoder rows' norms before and after normalising.
    sae = ToySAE(n_inst=2, d_in=2, d_sae=5)
    print("norms of the rows of W_dec:           ", sae.W_dec.norm(dim=-1).detach())
    print("norms of the rows of W_dec_normalized:", sae.W_dec_normalized.norm(dim=-1).detach())
