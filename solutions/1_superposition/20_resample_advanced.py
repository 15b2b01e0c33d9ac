"""Loss-weighted resampling
========================

Difficulty: 4/5    Importance: 3/5    Time: ~25 minutes

Source: Bricken et al. 2023, "Towards Monosemanticity", appendix "Autoencoder Dead Neuron
Resampling"
(https://transformer-circuits.pub/2023/monosemantic-features/index.html#appendix-autoencoder-resampling).

Random directions (the previous exercise) revive dead latents, but a random direction is usually not
a feature: the latent must still wander to one, and it may land on a feature another latent already
covers. In 2 dimensions that is a short walk (no direction is more than 36° from one of the
pentagon's features); in the residual stream of a language model, with d_in in the thousands, a
random direction is nearly orthogonal to every feature. Anthropic's recipe aims the fresh latent
where the SAE is failing: at inputs it reconstructs badly. In the toy model, an input the SAE
reconstructs badly is typically one made of a feature that no live latent covers, so its direction
*is* the missing feature.

The recipe, for each instance k with at least one dead latent:
  1. The SAE's reconstruction loss of every input of a batch h (shape (batch, n_inst, d_in)): given,
     as `l2_loss` of shape (batch, n_inst); instance k's losses are its column k.
  2. Give each input a probability proportional to the *square* of its loss. (Squaring
     concentrates the choice on the worst inputs.) If every loss is 0 there is nothing to fix: leave
     the instance alone.
  3. For each dead latent, draw one input with these probabilities, independently, with replacement:
     several dead latents may get the same input. (`torch.multinomial` draws indices from a vector
     of probabilities; it samples *without* replacement unless told otherwise.)
  4. The latent's new decoder direction W_dec[k, j, :] is that input, centred the way the encoder
     sees it, h - b_dec[k], divided by its norm (+ `sae.weight_normalize_eps`).
  5. Its new encoder direction W_enc[k, :, j] is the same unit vector times the mean norm of the
     *live* latents' encoder directions (the columns W_enc[k, :, j'] of the latents that are not
     dead; 1.0 if every latent is dead) times `resample_scale` (Anthropic use 0.2). A fresh latent
     then starts as sensitive as a typical latent, but a bit weaker, so it doesn't immediately
     disrupt the others.
  6. Its encoder bias b_enc[k, j] becomes 0.

Finding the dead latents is given (`dead_latents`, exercise 19's rule). The number of dead latents
differs between instances, so the loop (given) goes over the instances, and inside it a mask of
shape (d_sae,) or the integer positions of its True entries select instance k's dead latents (a
mask's `.nonzero()` gives those positions as a column of shape (n, 1)). Decoder directions are rows
of W_dec[k]; encoder directions are *columns* of W_enc[k], so they are written (and their norms
taken) along the other dimension.

What to write: the body of the loop in `resample_advanced`. Return the dead mask (given).

Then run this file: it trains SAEs without resampling, with yours from exercise 19 and with this
one, and compares dead latents and features found (see the end of this file).
"""

import torch
from jaxtyping import Bool, Float
from torch import Tensor, nn


def dead_latents(frac_active_in_window: Float[Tensor, "window inst d_sae"]) -> Bool[
    Tensor, "inst d_sae"
]:
    """Exercise 19's rule, solved: a latent is dead if it fired on no input at any step of the
    window."""
    return (frac_active_in_window < 1e-8).all(dim=0)


@torch.no_grad()
def resample_advanced(
    sae: nn.Module,
    h: Float[Tensor, "batch inst d_in"],
    frac_active_in_window: Float[Tensor, "window inst d_sae"],
    resample_scale: float,
) -> Bool[Tensor, "inst d_sae"]:
    """Resample dead latents towards inputs the SAE reconstructs badly (Anthropic's recipe).

    Args:
        sae: a ToySAE (exercise 18), modified in place: W_enc (n_inst, d_in, d_sae), b_enc (n_inst,
            d_sae), b_dec (n_inst, d_in), the property W_dec (n_inst, d_sae, d_in),
            `weight_normalize_eps`, and called as sae(h, sparsity_coeff) -> (loss_dict, loss, acts,
            h_reconstructed).
        h: a batch of the SAE's inputs, (batch, n_inst, d_in).
        frac_active_in_window: (window, n_inst, d_sae), the fraction of each recent batch on which
            each latent fired.
        resample_scale: the fresh encoder's norm, as a fraction of the live encoders' mean norm.

    Returns:
        dead: (n_inst, d_sae) bool, the latents that were dead (resampled, unless their instance's
        reconstruction loss was 0 everywhere).
    """
    dead = dead_latents(frac_active_in_window)

    # The reconstruction loss of every input, for every instance: (batch, inst).
    l2_loss = sae(h, 0.0)[0]["L_reconstruction"]

    for k in range(sae.n_inst):
        # SOLUTION
        dead_k = dead[k].nonzero().squeeze(-1)  # positions of instance k's dead latents
        n_dead = dead_k.numel()
        if n_dead == 0:
            continue  # nothing to resample

        # 2. Probabilities proportional to the squared loss (skip if the SAE is already perfect).
        weights = l2_loss[:, k].pow(2)
        if weights.sum() <= 0:
            continue

        # 3. One input per dead latent, drawn with replacement.
        chosen = torch.multinomial(weights / weights.sum(), n_dead, replacement=True)  # (n_dead,)

        # 4. The centred inputs, normalised: the new decoder directions.
        directions = h[chosen, k] - sae.b_dec[k]  # (n_dead, d_in)
        directions = directions / (directions.norm(dim=-1, keepdim=True) + sae.weight_normalize_eps)

        # 5. The live encoders' mean norm (each latent's encoder direction is a column of W_enc[k]).
        alive = ~dead[k]
        alive_norm = sae.W_enc[k][:, alive].norm(dim=0).mean() if alive.any() else 1.0

        # 4-6. Decoder first, then encoder (as columns: directions.T is (d_in, n_dead)), then bias.
        sae.W_dec[k, dead_k] = directions
        sae.W_enc[k][:, dead_k] = directions.T * alive_norm * resample_scale
        sae.b_enc[k, dead_k] = 0.0
        # END SOLUTION
        # EXERCISE
        # raise NotImplementedError(
        #     "draw inputs with probability ∝ loss²; aim instance k's dead latents at them"
        # )
        # END EXERCISE
    return dead


if __name__ == "__main__":
    # The section's result: dead latents and features found, without resampling, with your simple
    # resampling (exercise 19) and with your loss-weighted resampling (this file).
    #
    # Uses your ToySAE (exercise 18) and training data (17), and your toy model from section 1 to
    # make the pentagon. Writes results/superposition/resampling.png. About 30 s on a laptop.
    from pathlib import Path

    from arena_course.loading import load_sibling
    from arena_course.superposition.toy_sae import (
        feature_recovery,
        independent_decoder_init_,
        plot_resampling,
        toy_model_for_sae,
        train_sae,
    )

    ToySAE = load_sibling(__file__, "sae_forward").ToySAE
    sae_training_data = load_sibling(__file__, "sae_training_data").sae_training_data
    resample_simple = load_sibling(__file__, "resample_simple").resample_simple

    n_inst, n_features, d_hidden, d_sae = 16, 5, 2, 5

    # Fail fast: run both resampling functions once on a throwaway SAE (every latent dead) before
    # spending seconds on the toy model.
    resample_simple(ToySAE(n_inst, d_hidden, d_sae), torch.zeros(2, n_inst, d_sae), 0.5)
    resample_advanced(
        ToySAE(n_inst, d_hidden, d_sae), torch.randn(8, n_inst, d_hidden), torch.zeros(
            2, n_inst, d_sae
        ), 0.2
    )

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

    # The three methods, as the training loop calls them: (sae, frac_active_in_window) -> dead mask.
    methods = {
        "no resampling": None,
        "simple (ex. 16)": lambda sae, frac: resample_simple(sae, frac, resample_scale=0.5),
        "loss-weighted (ex. 17)": lambda sae, frac: resample_advanced(
            sae, data(1024), frac, resample_scale=0.2
        ),
    }

    logs, recovery = {}, {}
    for name, resample in methods.items():
        torch.manual_seed(2)  # the same initial SAEs for every method
        sae = ToySAE(n_inst, d_in=d_hidden, d_sae=d_sae)
        # The decoder drawn independently of the encoder (section 5's bottom row): a reliable way to
        # get dead latents, so that there is something to resample.
        independent_decoder_init_(sae)
        logs[name] = train_sae(
            sae, data, sparsity_coeff=0.2, steps=2500, resample=resample, description=name
        )
        recovery[name] = feature_recovery(sae.W_dec_normalized, model.W)

    path = plot_resampling(logs, recovery, Path("results/superposition/resampling.png"))
    print(f"Wrote {path}")
    for name in methods:
        found = (recovery[name] >= 0.99).sum(-1).float()
        print(f"  {name:24s} features found: {found.mean():.2f} of {n_features} on average; "
              f"dead latents at the end: {int(logs[name].dead.sum())} of {n_inst * d_sae}")
    print(
        "Without resampling, latents die early and stay dead, and "
        "their instances miss features. Both\n"
        "resampling methods revive them and find more features. In "
        "2 dimensions a random direction is\n"
        "never far from a feature, so simple resampling does about "
        "as well as loss-weighted; in a real\n"
        "SAE (d_in in the thousands) a random direction is nearly "
        "orthogonal to every feature, and aiming\n"
        "at badly reconstructed inputs is what makes resampling work."
    )
