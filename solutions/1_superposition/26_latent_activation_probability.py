"""How often each latent fires
============================

Difficulty: 2/5    Importance: 3/5    Time: ~10 minutes

Source: Bricken et al. 2023, "Towards Monosemanticity: Decomposing Language Models With Dictionary
Learning" (https://transformer-circuits.pub/2023/monosemantic-features), its feature-density
histograms; Cunningham et al. 2023 (https://arxiv.org/abs/2309.08600) for SAEs on the residual
stream.

So far the SAEs in this chapter ran on a toy model whose true features we knew. From here on, an SAE
reads a *language model's* residual stream: at one hook point (e.g. "blocks.6.hook_resid_pre", the
residual stream entering layer 6) the model's activation at every token is a vector of size d_model,
and the SAE rewrites it as a sparse combination of d_sae >> d_model latent directions:

    latents = ReLU((x - b_dec) @ W_enc + b_enc)      x: (..., d_model)   latents: (..., d_sae)
    x̂       = latents @ W_dec + b_dec

`sae.encode(x)` computes the first line, `sae.decode(latents)` the second (the SAE class is in
arena_course/superposition/lm_sae.py; SAELens' pretrained SAEs have the same attributes and
methods).

The first thing to look at in a trained SAE is how often each latent fires: its *activation
probability* (or "density"), the fraction of tokens on which it is > 0. A latent that never fires is
dead (wasted capacity); one that fires on half of all tokens is hardly sparse and rarely
interpretable. On a log scale, a healthy SAE's densities form a bump around 10⁻⁴ to 10⁻² — the
histogram this section's result draws.

The recipe, with the shapes:

    tokens   (batch, seq)              every row starts with the BOS token
    cache[hook_name]  (batch, seq, d_model)    run the model with a cache
    drop position 0   (batch, seq - 1, d_model)
    sae.encode        (batch, seq - 1, d_sae)
    fraction > 0, over batch and positions  ->  (d_sae,)

**BOS is left out** of every statistic in this section (see arena_course/superposition/lm_sae.py):
the residual stream at the first position is unlike any other (in GPT-2 its norm is many times
larger) and would distort the counts. So a correct answer is a float tensor of shape (d_sae,), every
value in [0, 1] and a multiple of 1 / (batch × (seq - 1)).

Running with a cache, on another activation: `logits, cache = model.run_with_cache(tokens,
names_filter="blocks.0.hook_mlp_out")` runs the model and keeps only the activations whose names
pass the filter (a name, a list of names, or a function of the name);
`cache["blocks.0.hook_mlp_out"]` is then layer 0's MLP output, (batch, seq, d_model). Filter to the
one activation you need: without a filter, GPT-2 caches every hook point (gigabytes on a large
batch).
"""

import torch
from jaxtyping import Float, Int
from torch import Tensor

from arena_course.superposition.lm_sae import SAE


def latent_activation_probability(
    model,
    sae: SAE,
    tokens: Int[Tensor, "batch seq"],
    hook_name: str,
) -> Float[Tensor, "d_sae"]:
    """The fraction of (non-BOS) tokens on which each SAE latent fires.

    Args:
        model: a TransformerLens model (a `TransformerBridge`).
        sae: an SAE reading the activations at `hook_name`; `sae.encode(x)` gives the latents.
        tokens: token ids, shape (batch, seq); position 0 of every row is BOS.
        hook_name: the hook point the SAE reads, e.g. "blocks.6.hook_resid_pre".

    Returns:
        Shape (d_sae,): for each latent, the fraction of the batch × (seq - 1) non-BOS tokens on
            which
        its activation is > 0.
    """
    # SOLUTION
    # Run the model, caching only the activation the SAE reads.
    _, cache = model.run_with_cache(tokens, names_filter=hook_name)

    # The residual stream at every position but BOS (position 0): (batch, seq - 1, d_model).
    resid = cache[hook_name][:, 1:]

    # The SAE's latents: ReLU((x - b_dec) @ W_enc + b_enc), shape (batch, seq - 1, d_sae).
    latents = sae.encode(resid)

    # Fires = strictly positive (after the ReLU, the others are exactly 0). Average over the batch
    # and the positions, keep the latents.
    return (latents > 0).float().mean(dim=(0, 1))
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "cache the activation at hook_name, drop BOS, encode it, and return "
    #     "the fraction of tokens where each latent > 0"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # A quick look on an untrained tiny model and a random SAE. The section's result is the
    # section's last exercise's.
    from arena_course.superposition.lm_sae import quick_setup

    setup = quick_setup()
    with torch.no_grad():
        probability = latent_activation_probability(
            setup.model, setup.sae, setup.tokens, setup.hook_name
        )
    print(
        "tokens:", tuple(setup.tokens.shape), " activation probabilities:", tuple(probability.shape)
    )
    print("the first 8:", [round(p, 3) for p in probability[:8].tolist()])
