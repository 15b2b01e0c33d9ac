"""The SAE's parameters: tied and untied decoders
==============================================

Difficulty: 2/5    Importance: 3/5    Time: ~10 minutes

Source: Bricken et al. 2023, "Towards Monosemanticity: Decomposing Language Models With Dictionary
Learning", section "Setup: Sparse Autoencoders"
(https://transformer-circuits.pub/2023/monosemantic-features); Cunningham et al. 2023, "Sparse
Autoencoders Find Highly Interpretable Features in Language Models"
(https://arxiv.org/abs/2309.08600).

The toy model stored 5 features in a 2-dimensional hidden layer. Suppose we didn't know that: all we
can see is the hidden activation h = W x, a point in the plane. Can we recover the 5 feature
directions from the activations alone? A sparse autoencoder (SAE) tries: it rewrites each activation
as a sparse, non-negative combination of `d_sae` learned directions (its "latents"), with d_sae
usually larger than the activation's dimension d_in:

    latents  z  = ReLU((h - b_dec) W_enc + b_enc)        z:  (d_sae,)    W_enc: (d_in, d_sae)
    recon    h' = z W_dec + b_dec                        h': (d_in,)     W_dec: (d_sae, d_in)

trained so that h' ≈ h while only a few latents fire for each h. Row j of W_dec is latent j's
direction in activation space; if the SAE works, those rows line up with the true features, one
latent per feature. (The next exercises build the forward pass and the losses; this one only creates
the parameters.)

Many SAEs at once. As with the toy model, SAEs here are tiny, so we train `n_inst` of them in
parallel, and every parameter gets a leading instance dimension:

    W_enc:  (n_inst, d_in, d_sae)       b_enc: (n_inst, d_sae)
    W_dec:  (n_inst, d_sae, d_in)       b_dec: (n_inst, d_in)

Tied or untied. An *untied* SAE learns W_dec as its own parameter. A *tied* SAE has no decoder
parameter at all: its decoder is the encoder transposed, W_dec = W_encᵀ, which halves the parameters
(and is what the toy model itself does: its "decoder" is Wᵀ). Anthropic's SAEs are untied; tied ones
appear in early SAE work (e.g. Cunningham et al.). The decoder is read through the property `W_dec`
(given below), so the rest of the code doesn't care which kind it has: when tied, `self._W_dec` is
None and `W_dec` returns `W_enc` transposed; when untied, `self._W_dec` is a parameter and `W_dec`
returns it.

Initialisation (Anthropic's 2024 recipe; ARENA's toy SAE differs only in the decoder): W_enc is
drawn with `nn.init.kaiming_uniform_` applied to the whole 3D tensor; an untied decoder starts as a
copy of the encoder transposed, W_dec = W_encᵀ (a separate parameter that starts with the same
numbers: from then on the two learn independently); both biases are zero. For a 3D tensor PyTorch
computes the fan-in as d_in * d_sae (the product of every dimension but the first), so every weight
is uniform on [-bound, bound] with bound = sqrt(6 / (d_in * d_sae)), and every instance gets its own
random draw. Starting each latent's decoder direction where its encoder points means every latent
begins by reconstructing the very inputs it fires on; section 6 shows what goes wrong when they
start unrelated (the 2023 recipe drew W_dec independently).

What to write: the body of `ToySAE.__init__` after the given lines. A correct answer registers, with
the shapes above and as float32 `nn.Parameter`s (so that `sae.parameters()`, and hence the
optimiser, sees them), W_enc, b_enc, b_dec and, for an untied SAE only, _W_dec. A tied SAE still has
the attribute _W_dec, holding None instead of a parameter: that is what the property `W_dec` tests.
"""

import torch
from jaxtyping import Float
from torch import Tensor, nn


class ToySAE(nn.Module):
    """`n_inst` independent sparse autoencoders on a `d_in`-dimensional activation, with `d_sae`
    latents.

    Attributes:
        W_enc: (n_inst, d_in, d_sae), the encoder.
        _W_dec: (n_inst, d_sae, d_in), the decoder's own parameter when untied (initially equal to
            W_enc transposed); None when tied.
        b_enc: (n_inst, d_sae), the encoder bias.
        b_dec: (n_inst, d_in), the decoder bias (also subtracted from the input before encoding).
        tied: whether the decoder is the encoder transposed.
        weight_normalize_eps: a small number to divide safely by a norm (used from exercise 16 on).
    """

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
        """Create the parameters.

        Args:
            n_inst: how many independent SAEs to train side by side.
            d_in: the dimension of the activations the SAE reads (the toy model's d_hidden, 2 here).
            d_sae: the number of latents (5 here, one per true feature if all goes well).
            tied: if True, no decoder parameter: the decoder is W_enc transposed.
            weight_normalize_eps: added to norms before dividing by them.
        """
        super().__init__()
        self.n_inst, self.d_in, self.d_sae = n_inst, d_in, d_sae
        self.tied = tied
        self.weight_normalize_eps = weight_normalize_eps

        raise NotImplementedError(
            "create W_enc, _W_dec (None if tied), b_enc and b_dec as nn.Parameters"
        )

    @property
    def W_dec(self) -> Float[Tensor, "inst d_sae d_in"]:
        """The decoder, (n_inst, d_sae, d_in): `_W_dec` if untied, else W_enc transposed (a view, so
        a gradient through W_dec reaches W_enc)."""
        return self._W_dec if self._W_dec is not None else self.W_enc.transpose(-1, -2)


if __name__ == "__main__":
    # A quick look: 3 SAEs with 5 latents on 2-dimensional activations, untied and tied.
    for tied in [False, True]:
        sae = ToySAE(n_inst=3, d_in=2, d_sae=5, tied=tied)
        print(f"tied={tied}:")
        for name, param in sae.named_parameters():
            print(f"  {name:6s} {tuple(param.shape)}")
        print(f"  W_dec  {tuple(sae.W_dec.shape)}  (the property)")
