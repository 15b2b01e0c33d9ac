"""The SAE's forward pass and losses
=================================

Difficulty: 3/5    Importance: 5/5    Time: ~20 minutes

Source: Bricken et al. 2023, "Towards Monosemanticity", section "Setup: Sparse Autoencoders"
(https://transformer-circuits.pub/2023/monosemantic-features); Cunningham et al. 2023
(https://arxiv.org/abs/2309.08600).

The SAE encodes each activation into non-negative latents and decodes them back:

    acts = ReLU((h - b_dec) W_enc + b_enc)            acts: (batch, inst, d_sae)
    h'   = acts W_dec_normalized + b_dec              h':   (batch, inst, d_in)

b_dec is subtracted before encoding and added back after decoding: it centres the data, so that the
latents describe how h differs from a typical activation rather than h itself. W_dec_normalized
(exercise 16) has unit rows, so latent j adds acts[b, k, j] times a unit vector to the
reconstruction: acts[b, k, j] is the *coefficient* of latent j's direction, set by the encoder. In
general it is not the projection of the input onto that direction: the encoder's column need not
point where the decoder's row does, and the bias and the ReLU come in between.

Training minimises two losses at once, per example and instance (shape (batch, inst)):

    L_reconstruction = mean over d_in of (h' - h)²          make h' close to h
    L_sparsity       = sum over d_sae of |acts|              the L1 norm of the latents: fire rarely

and the total loss

    loss = sum over instances of ( mean over the batch of (L_reconstruction + c * L_sparsity) )

where c is the sparsity coefficient: a number, or a tensor of shape (inst,), one per instance
(broadcast it against the (batch, inst) losses). The L1 penalty is the standard, differentiable
stand-in for what we actually want, few active latents (L0). It pulls every activation towards 0, so
a latent only survives where it buys enough reconstruction; that is what makes each latent
specialise on one feature. (Its side effect, shrinking the activations that do fire, is what the
JumpReLU SAE of section 7 removes.) As in the toy model's loss, instances are *summed*: each
instance gets the gradient it would get if trained alone.

What to write: `ToySAE.forward`. It returns four things, in the order of its signature: a dict of
the two per-example losses (keys "L_reconstruction" and "L_sparsity", each of shape (batch, inst)),
the scalar total loss, the latents after the ReLU, and the reconstruction h'. The training loop and
the later exercises unpack it in that order. Both products work per instance: each contracts one
dimension and keeps the instance dimension (named dimensions make that hard to get wrong).

Then run this file: it trains your SAE on a trained toy model's hidden layer and draws where its
decoder directions end up (see the end of this file).
"""

import einops
import torch
import torch.nn.functional as F
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
        """Exercise 16, solved: the decoder with unit-norm rows (each latent's direction)."""
        return self.W_dec / (self.W_dec.norm(dim=-1, keepdim=True) + self.weight_normalize_eps)

    def forward(
        self, h: Float[Tensor, "batch inst d_in"], sparsity_coeff: float | Float[Tensor, "inst"]
    ) -> tuple[
        dict[str, Float[Tensor, "batch inst"]],
        Float[Tensor, ""],
        Float[Tensor, "batch inst d_sae"],
        Float[Tensor, "batch inst d_in"],
    ]:
        """Encode, decode, and compute the losses.

        Args:
            h: the activations to reconstruct, (batch, n_inst, d_in).
            sparsity_coeff: the L1 coefficient c: a number, or one per instance, shape (n_inst,).

        Returns:
            loss_dict: {"L_reconstruction": mean over d_in of (h' - h)², "L_sparsity": sum over
                d_sae of |acts|}, each of shape (batch, n_inst).
            loss: a scalar, the sum over instances of the batch mean of
                L_reconstruction + sparsity_coeff * L_sparsity.
            acts: the latents ReLU((h - b_dec) W_enc + b_enc), (batch, n_inst, d_sae).
            h_reconstructed: h' = acts W_dec_normalized + b_dec, (batch, n_inst, d_in).
        """
        # SOLUTION
        # Encode: centre the input on b_dec, project onto each latent's encoder direction, add the
        # bias, and keep only the positive part.
        h_centred = h - self.b_dec
        acts_pre = (
            einops.einsum(
                h_centred, self.W_enc, "batch inst d_in, inst d_in d_sae -> batch inst d_sae"
            ) + self.b_enc
        )
        acts = F.relu(acts_pre)

        # Decode: a sum of unit-length latent directions weighted by the activations, plus b_dec.
        h_reconstructed = (
            einops.einsum(
                acts, self.W_dec_normalized, "batch inst d_sae, inst d_sae d_in -> batch inst d_in"
            )
            + self.b_dec
        )

        # The losses, per example and instance.
        L_reconstruction = (h_reconstructed - h).pow(2).mean(-1)  # mean over d_in
        L_sparsity = acts.abs().sum(-1)  # the L1 norm over d_sae
        loss_dict = {"L_reconstruction": L_reconstruction, "L_sparsity": L_sparsity}

        # The total: the coefficient (a number or one per instance) broadcasts over (batch, inst);
        # mean over the batch, then sum over the instances.
        loss = (L_reconstruction + sparsity_coeff * L_sparsity).mean(0).sum()
        return loss_dict, loss, acts, h_reconstructed
        # END SOLUTION
        # EXERCISE
        # raise NotImplementedError(
        #     "encode ReLU((h - b_dec) W_enc + b_enc), decode, compute the two losses"
        # )
        # END EXERCISE


if __name__ == "__main__":
    # The section's result: an SAE recovers the toy model's features from its hidden activations.
    #
    # Uses *your* parameters (exercise 15), normalised decoder (16), training data (17) and forward
    # pass (this file), loaded from the files next to this one, and your toy model from section 1 to
    # make the pentagon. Writes results/superposition/sae_features.png. About 20 s on a laptop.
    from pathlib import Path

    from arena_course.loading import load_sibling
    from arena_course.superposition.toy_sae import (
        feature_recovery,
        independent_decoder_init_,
        plot_sae_features,
        toy_model_for_sae,
        train_sae,
    )

    sae_init = load_sibling(__file__, "sae_init")
    sae_normalized_decoder = load_sibling(__file__, "sae_normalized_decoder")
    sae_training_data = load_sibling(__file__, "sae_training_data").sae_training_data

    class YourToySAE(sae_init.ToySAE):  # your __init__ and W_dec (exercise 15)
        # your property (exercise 16)
        W_dec_normalized = sae_normalized_decoder.ToySAE.W_dec_normalized
        forward = ToySAE.forward  # your forward pass (this file)

    n_inst, n_features, d_hidden, d_sae = 8, 5, 2, 5

    # Fail fast: run your SAE once on a dummy batch before spending seconds on the toy model.
    YourToySAE(n_inst, d_in=d_hidden, d_sae=d_sae)(torch.zeros(1, n_inst, d_hidden), 0.2)

    # The model under study: 5 features of probability 0.025 in 2 dimensions (a pentagon), trained
    # with your section 1 code and copied into 8 instances.
    model = toy_model_for_sae(
        load_sibling(__file__, "toy_model_forward").ToyModel,
        load_sibling(__file__, "generate_batch").generate_batch,
        load_sibling(__file__, "importance_weighted_loss").importance_weighted_loss,
        n_inst,
        n_features=n_features,
        d_hidden=d_hidden,
    )

    def data(batch_size: int) -> Tensor:
        return sae_training_data(model, batch_size)

    # 8 SAEs with 5 latents each, differing only in their random initialisation, L1 coefficient 0.2:
    # once initialised as you wrote (W_dec = W_encᵀ), once with the decoder drawn independently of
    # the encoder (the older recipe), to see what initialisation does to the latents.
    runs, found = {}, {}
    for title, redraw_decoder in [("init W_dec = W_encᵀ", False), ("init W_dec independent", True)]:
        torch.manual_seed(0)
        sae = YourToySAE(n_inst, d_in=d_hidden, d_sae=d_sae)
        if redraw_decoder:
            independent_decoder_init_(sae)
        log = train_sae(sae, data, sparsity_coeff=0.2, steps=3000, description=title)
        runs[title] = (sae.W_dec_normalized, log)
        found[title] = (feature_recovery(sae.W_dec_normalized, model.W) >= 0.99).sum(-1)

    path = plot_sae_features(model.W, runs, Path("results/superposition/sae_features.png"))
    print(f"Wrote {path}")
    for title, (_, log) in runs.items():
        print(f"  {title:24s} features found per instance (of "
              f"{n_features}): {found[title].tolist()}; "
              f"dead latents: {log.dead.sum(-1).tolist()}")
    print(
        "Grey lines are the toy model's 5 features, blue dots the "
        "SAE's decoder directions, red crosses\n"
        "dead latents. Top row: every latent sits on one feature; the "
        "SAE has recovered the pentagon from\n"
        "the activations alone. Bottom row: with unrelated encoder "
        "and decoder directions at the start,\n"
        "latents die early and never recover: in most instances 2 "
        "die and the 3 left share 5 features\n"
        "between them (not in every instance: compare the counts above).\n"
        "Section 6 revives dead latents."
    )
