"""Resampling dead latents
=======================

Difficulty: 3/5    Importance: 3/5    Time: ~20 minutes

Source: Bricken et al. 2023, "Towards Monosemanticity", appendix "Autoencoder Dead Neuron
Resampling"
(https://transformer-circuits.pub/2023/monosemantic-features/index.html#appendix-autoencoder-resampling);
the simple variant is ARENA's.

Section 5's bottom row ended with dead latents: with the decoder drawn independently of the encoder,
latents stopped firing early in training, on every input (in the reference run, 2 of the 5 in most
instances; with the decoder started as the encoder transposed, none died). A dead latent gets no
gradient from the reconstruction loss (its activation is 0, and so is the ReLU's gradient), so
nothing ever brings it back: the SAE has fewer latents for the rest of training, and in those
instances the 3 left have to share 5 features between them. SAEs trained on language models lose
latents this way too.

The fix Anthropic used is to *resample* dead latents: every so often, find the latents that haven't
fired for a while and give them fresh weights, so they get another chance to find a feature. This
exercise writes the simplest version.

Finding dead latents. The training loop (given) records, at every step, the fraction of the batch on
which each latent fired. It passes you the last `window` of those records:

    frac_active_in_window: (window, n_inst, d_sae)

A latent is dead when it fired on none of the inputs of any of those steps: every entry for it in
the window is 0. (Compare with a small threshold, < 1e-8, rather than == 0; and note that one step
with any activity, even the first or the last of the window, makes a latent alive.)

Resampling a dead latent j of instance k:
  - its decoder direction W_dec[k, j, :] becomes a random direction: a vector of d_in standard
    normal numbers (torch.randn: every direction is equally likely), divided by its norm;
  - its encoder direction W_enc[k, :, j] becomes that same vector times `resample_scale` (an encoder
    pointing the way the decoder does, so the latent fires on inputs in that direction);
  - its encoder bias b_enc[k, j] becomes 0.
Nothing else changes: not the live latents, not b_dec.

Writing into the parameters. Under `torch.no_grad()` (the decorator is given) you may assign into a
parameter in place, and two PyTorch facts make that short:
  - a boolean mask on the leading dimensions selects whole rows: for `T` of shape (a, b, c) and a
    mask `m` of shape (a, b), `T[m]` has shape (number of True entries, c), and assigning a tensor
    of that shape to `T[m]` writes one row per True entry, in the mask's row-major order;
  - a transpose is a *view*: it shares the original's memory, so writing a row of
    `T.transpose(-1, -2)` writes a column of `T`.
`sae.W_dec` is the decoder parameter itself (untied) or a view of W_enc (tied); either way writing
into it changes the SAE. Set the decoder first and the encoder second, so that for a tied SAE (where
they are the same numbers) the encoder's scale is what remains.

What to write: `resample_simple`. Return the mask of the latents you resampled, shape (n_inst,
d_sae), dtype bool: the training loop uses it to reset the optimiser's memory of those latents.
"""

import torch
from jaxtyping import Bool, Float
from torch import Tensor, nn


@torch.no_grad()
def resample_simple(
    sae: nn.Module,
    frac_active_in_window: Float[Tensor, "window inst d_sae"],
    resample_scale: float,
) -> Bool[Tensor, "inst d_sae"]:
    """Find the latents that never fired in the window, and give them random new weights.

    Args:
        sae: a ToySAE (exercise 18): parameters W_enc (n_inst, d_in, d_sae), b_enc (n_inst, d_sae),
            and the decoder through the property W_dec (n_inst, d_sae, d_in). Modified in place.
        frac_active_in_window: (window, n_inst, d_sae), the fraction of each recent batch on which
            each latent fired.
        resample_scale: the length of a resampled latent's encoder direction.

    Returns:
        dead: (n_inst, d_sae) bool, True for the latents that were dead and have been resampled.
    """
    raise NotImplementedError(
        "find latents with no activity in the window; give them random unit directions"
    )


if __name__ == "__main__":
    # A quick look: one SAE with 4 latents; latent 1 never fired in a window of 3 steps.
    from arena_course.loading import load_sibling

    sae = load_sibling(__file__, "sae_forward").ToySAE(n_inst=1, d_in=2, d_sae=4)
    frac = torch.tensor([[[0.1, 0.0, 0.3, 0.0]], [[0.2, 0.0, 0.0, 0.0]], [[0.1, 0.0, 0.2, 0.05]]])
    dead = resample_simple(sae, frac, resample_scale=0.5)
    print("dead:", dead.tolist())
    print("norms of the decoder rows:  ", sae.W_dec.norm(dim=-1).detach())
    print("norms of the encoder columns:", sae.W_enc.norm(dim=-2).detach())
