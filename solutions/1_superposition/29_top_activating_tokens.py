"""A latent's top-activating tokens
=================================

Difficulty: 2/5    Importance: 4/5    Time: ~15 minutes

Source: Bricken et al. 2023, "Towards Monosemanticity"
(https://transformer-circuits.pub/2023/monosemantic-features), whose feature browser shows, for
every latent, the dataset examples on which it activates most.

What does a latent mean? The first look, and still the most used one, is at the tokens where it
fires hardest: if latent 1234's top activations are all on " Paris", " Berlin", " Tokyo" in contexts
about travel, it is probably a "capital city" latent. (Only a first look: top activations show what
the latent responds to at its strongest, not everything it does.)

Your function finds, for one latent, the k (batch, position) pairs of a token batch where it is
largest, with those activations, strongest first. The given code in
arena_course/superposition/lm_sae.py (`format_context`) turns each pair into the text around it, and
the section's result prints them.

Shapes and steps:

    cache[hook_name]                  (batch, seq, d_model)
    drop position 0 (BOS, as always)  (batch, seq - 1, d_model)
    the latent's activation           (batch, seq - 1)       one column of the SAE's latents
    flatten, top k                    values (k,), flat indices (k,)
    back to (batch, position)         positions in the *original* tokens: position p of the BOS-less
                                      tensor is position p + 1 of `tokens`

Return `(positions, values)`: positions a long tensor of shape (k, 2), row i = (batch index,
position in `tokens`), and values of shape (k,), sorted in descending order. `tensor.topk(k)`
returns its results sorted, largest first; `torch.unravel_index` (or // and %) turns flat indices
back into (batch, position). A correct answer never returns position 0, and values[i] equals the
latent's activation at tokens[positions[i, 0], positions[i, 1]].
"""

import torch
from jaxtyping import Float, Int
from torch import Tensor

from arena_course.superposition.lm_sae import SAE


def top_activating_tokens(
    model,
    sae: SAE,
    tokens: Int[Tensor, "batch seq"],
    hook_name: str,
    latent: int,
    k: int,
) -> tuple[Int[Tensor, "k 2"], Float[Tensor, "k"]]:
    """The k tokens of `tokens` (BOS excluded) on which `latent` is most active.

    Args:
        model: a TransformerLens model (a `TransformerBridge`).
        sae: an SAE reading the activations at `hook_name`.
        tokens: token ids, shape (batch, seq); position 0 of every row is BOS.
        hook_name: the hook point the SAE reads.
        latent: which latent (an index into the SAE's d_sae latents).
        k: how many tokens to return (at most batch × (seq - 1)).

    Returns:
        (positions, values): positions of shape (k, 2), dtype long, each row (batch index, position
        in `tokens`, never 0); values of shape (k,), the latent's activation there, in descending
        order.
    """
    # SOLUTION
    # The activations without BOS, then this one latent's activation at every token: (batch, seq -
    # 1).
    _, cache = model.run_with_cache(tokens, names_filter=hook_name)
    resid = cache[hook_name][:, 1:]
    activation = sae.encode(resid)[..., latent]

    # The k largest over all tokens at once (topk sorts them, largest first).
    values, flat_indices = activation.flatten().topk(k)

    # Flat index -> (batch, position in the BOS-less tensor) -> position in `tokens` (+1 for BOS).
    batch_index, position = torch.unravel_index(flat_indices, activation.shape)
    positions = torch.stack([batch_index, position + 1], dim=1)
    return positions, values
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "encode the BOS-less activations, take the latent's top k over (batch, "
    #     "position), return positions (k, 2) in `tokens` and values"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # A quick look on an untrained tiny model and a random SAE (so the latent means nothing).
    # The section's result is the section's last exercise's.
    from arena_course.superposition.lm_sae import format_context, quick_setup

    setup = quick_setup()
    with torch.no_grad():
        positions, values = top_activating_tokens(
            setup.model, setup.sae, setup.tokens, setup.hook_name, 0, 5
        )
    for (b, p), v in zip(positions.tolist(), values.tolist()):
        left, token, right = format_context(setup.model, setup.tokens, b, p)
        print(f"{v:6.3f}  {left:>40} [{token.strip()}] {right}")
