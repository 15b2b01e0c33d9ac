"""A latent's direct effect on the logits
======================================

Difficulty: 2/5    Importance: 4/5    Time: ~15 minutes

Source: Bricken et al. 2023, "Towards Monosemanticity"
(https://transformer-circuits.pub/2023/monosemantic-features), whose feature browser lists, for
every latent, the tokens whose logits it raises and lowers most.

Top-activating tokens (the previous exercise) say what makes a latent fire: its *input* side. The
other side is what it *does*. When latent i fires with activation a, the SAE's reconstruction gains
a · W_dec[i]: the latent writes its decoder direction into the residual stream. The simplest
consequence to read off is the **direct effect on the logits**: push W_dec[i] straight through the
unembedding,

    effect = W_dec[i] @ W_U          W_dec[i]: (d_model,)   W_U: (d_model, d_vocab)   effect:
    (d_vocab,)

effect[t] is how much one unit of the latent raises the logit of token t, if nothing in the layers
after the hook changed it. A "capital city" latent might raise " Paris" and " London"; a latent
firing on "(" might raise ")" several tokens later.

Two approximations, both standard: we ignore the later layers (only the direct path), and we ignore
the final LayerNorm. LayerNorm divides the residual stream by its norm, a positive number per token,
which scales every effect equally and so does not change which tokens come top; its learned scale is
folded into W_U in TransformerLens's compatibility mode (which the real run uses). So the order of
the tokens is right, and the values are on the scale of logits up to that factor.

What to return: the k tokens with the largest effect (values and token ids, largest first) and the k
with the most negative effect (values and token ids, most negative first). `topk` gives the k
largest entries of a tensor and their indices, sorted largest first; with `largest=False` it gives
the k smallest, sorted smallest first. `model.W_U` is the unembedding, `sae.W_dec` the decoder (one
row per latent).

Then run this file, the section's result: this section's five exercises on GPT-2 small and a
pretrained SAE on its layer-6 residual stream (SAELens release gpt2-small-res-jb; about 700 MB
downloaded once into the Hugging Face cache; ~1 minute on a laptop CPU), or, with `--tiny`, on a
tiny model trained in a few seconds on a toy language ("the big cat sat on the mat ."), with no
download:

    python exercises/1_superposition/24_latent_logit_effect.py [--tiny]

It writes results/superposition/sae_lm_overview.png (sae_lm_tiny_overview.png with --tiny): how
often the latents fire, and the loss clean / with the SAE / zero-ablated; and sae_lm_latents.png:
for a few latents, their top-activating tokens in context and their logit effects. Without the
weights and without a network connection it says what it needs in one line and stops.
"""

import torch
from jaxtyping import Float, Int
from torch import Tensor

from arena_course.superposition.lm_sae import SAE


def latent_logit_effect(
    model,
    sae: SAE,
    latent: int,
    k: int,
) -> tuple[Float[Tensor, "k"], Int[Tensor, "k"], Float[Tensor, "k"], Int[Tensor, "k"]]:
    """The tokens whose logits the latent's decoder direction raises and lowers most, directly.

    Args:
        model: a TransformerLens model (a `TransformerBridge`); `model.W_U` has shape (d_model,
            d_vocab).
        sae: an SAE writing to the residual stream; `sae.W_dec` has shape (d_sae, d_model).
        latent: which latent.
        k: how many tokens to return at each end.

    Returns:
        (top_values, top_tokens, bottom_values, bottom_tokens), each of shape (k,):
        top_values / top_tokens: the k largest entries of W_dec[latent] @ W_U and their token ids,
            largest first;
        bottom_values / bottom_tokens: the k smallest entries and their token ids, smallest (most
            negative) first.
    """
    raise NotImplementedError(
        "compute W_dec[latent] @ W_U and return its top k and bottom k (values, token ids)"
    )


if __name__ == "__main__":
    # The section's result: your five functions (this section's five exercises, loaded from the
    # files next to this one) on GPT-2 small and a pretrained residual-stream SAE, or with --tiny on
    # a tiny toy-language model and an SAE trained on it in a few seconds. Writes
    # results/superposition/sae_lm_*.png.
    import sys
    from pathlib import Path

    from arena_course.loading import load_sibling
    from arena_course.models import ModelUnavailable
    from arena_course.superposition import lm_sae

    args = lm_sae.result_args()
    try:
        setup = lm_sae.tiny_setup() if args.tiny else lm_sae.pretrained_setup()
    except ModelUnavailable as e:
        print(e, file=sys.stderr)  # one line: what is needed and how to get it
        sys.exit(1)

    summary = lm_sae.run_result(
        setup,
        latent_activation_probability=load_sibling(
            __file__, "latent_activation_probability"
        ).latent_activation_probability,
        sae_reconstruction_loss=load_sibling(
            __file__, "sae_reconstruction_loss"
        ).sae_reconstruction_loss,
        substitution_loss=load_sibling(__file__, "substitution_loss").substitution_loss,
        top_activating_tokens=load_sibling(__file__, "top_activating_tokens").top_activating_tokens,
        latent_logit_effect=latent_logit_effect,
        out_dir=Path("results/superposition"),
        latents=args.latents,
    )
    for path in summary.paths:
        print(f"Wrote {path}")
    clean, with_sae, zero = summary.losses
    print(
        f"Loss: clean {clean:.3f}, with the SAE {with_sae:.3f}, zero-ablated {zero:.3f}: "
        f"{summary.recovered:.1%} recovered; variance unexplained {summary.fvu:.1%}; "
        f"{float(summary.frequency.sum()):.1f} latents fire per token on average."
    )
    print(
        "Overview: most latents should fire on a small fraction of "
        "tokens (a bump on the log scale), and the "
        "SAE should recover most of the loss.\nLatents: the tokens in "
        "[brackets] should have something in "
        "common, and the logit effects should fit them (e.g. a latent on 'five' raising 'six')."
        + ("\n(The tiny toy language is so predictable that ~100% of "
           "the loss is recovered; GPT-2 gives a "
           "more honest number.)" if setup.tiny else "")
        + "\nOther latents: --latents 12 345 678."
    )
