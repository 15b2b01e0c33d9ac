"""What the previous-token heads do for the induction heads
=========================================================

Difficulty: 3/5    Importance: 3/5    Time: ~20 minutes

Source: Wang et al. 2022, "Interpretability in the Wild" (https://arxiv.org/abs/2211.00593), section
3.3 (previous-token heads feed the induction heads through their keys); Elhage et al. 2021, "A
Mathematical Framework for Transformer Circuits" (K-composition); Olsson et al. 2022, "In-context
Learning and Induction Heads".

**From a score to a role.** Exercise 16 found heads that attend to the previous token. That they
*do* so is an attention pattern; that the induction heads *need* them is a causal claim, and it
needs an intervention: take the previous-token heads out and watch the induction scores.

Why would it work? An induction head at the second copy of token t_j wants the position *after*
t_j's first copy, position j + 1. Nothing in the token at j + 1 says "I come after t_j"; a
previous-token head at j + 1 writes it there (it attends to j and copies t_j). The induction head's
keys read that (the previous-token head's output is part of the residual stream its keys are
computed from: K- composition), and its queries ask for "a position preceded by t_j". Remove what
the previous-token head writes and the induction head has nothing to match: its score should fall.

**Mean ablation.** "Remove" means replace the head's output by its average, which keeps the typical
size and direction of what it writes but none of the information that varies with the input: for
each ablated head, its z (`blocks.L.attn.hook_z`, (batch, seq, head, d_head)) at every position of
every sequence is replaced by the mean of its z over the batch and the positions, taken from an
unablated run on the same tokens. (Zero ablation would also remove the constant part, and with it
things later layers rely on that have nothing to do with the previous token.)

**TransformerLens 4: hooks during a cached run.** `model.hooks(fwd_hooks=[...])` is a context
manager: inside the `with` block, every run of the model, `run_with_cache` included, runs with those
hooks, and they are removed when the block ends (even on an error). So a function that measures
something with its own runs, such as exercise 15's `repeated_token_scores` (given below, solved),
measures it on the ablated model when called inside the block. Example, on another intervention
(doubling block 0's MLP output), not this exercise's:

    with model.hooks(fwd_hooks=[("blocks.0.hook_mlp_out", lambda out, hook: 2 * out)]):
        logits = model(tokens)          # this run has the MLP output doubled

**What to compute.** The induction scores (exercise 15's) of every head, with the given heads mean-
ablated; (n_layers, n_heads). With no heads given, exactly exercise 15's induction scores. Heads in
the ablated heads' layer or earlier can't be affected (they run before the ablated output exists),
so their scores stay as they were. The section's result prints, for the model's strongest induction
heads, their score before and after ablating the previous-token heads.
"""

import torch
from jaxtyping import Float, Int
from torch import Tensor


def repeated_token_scores(model, tokens: Int[Tensor, "batch seq"]) -> tuple[Tensor, Tensor]:
    """Given (exercise 15, solved): (duplicate-token scores, induction scores), each (n_layers,
    n_heads), on BOS + N tokens + the same N tokens."""
    n = (tokens.shape[1] - 1) // 2
    _, cache = model.run_with_cache(tokens, names_filter=lambda name: name.endswith("hook_pattern"))
    patterns = torch.stack([cache["pattern", layer] for layer in range(model.cfg.n_layers)])
    j = torch.arange(1, n + 1)
    duplicate = patterns[:, :, :, n + j, j]
    induction = patterns[:, :, :, n + j[:-1], j[:-1] + 1]
    return duplicate.mean(dim=(1, 3)), induction.mean(dim=(1, 3))


def induction_without_previous_token(
    model,
    tokens: Int[Tensor, "batch seq"],
    heads: list[tuple[int, int]],
) -> Float[Tensor, "layer head"]:
    """The induction score of every head with the given heads mean-ablated.

    Args:
        model: a TransformerLens model (a `TransformerBridge`).
        tokens: (batch, 1 + 2 * N): BOS, N tokens, the same N tokens again (exercise 15's input).
        heads: the heads to ablate, (layer, head) pairs (e.g. the previous-token heads).

    Returns:
        (n_layers, n_heads): `repeated_token_scores(model, tokens)[1]` measured on the model whose
        given heads have their z, at every position of every sequence, replaced by their mean z over
        the batch and positions (from an unablated run on `tokens`).
    """
    # SOLUTION
    # Each ablated head's mean output, from an unablated run.
    _, cache = model.run_with_cache(tokens, names_filter=lambda name: name.endswith("attn.hook_z"))
    # (d_head,)
    means = {(layer, head): cache["z", layer][:, :, head].mean(dim=(0, 1)) for layer, head in heads}

    def ablate(z: Tensor, hook, layer: int) -> Tensor:
        for (head_layer, head), mean in means.items():
            if head_layer == layer:
                z[:, :, head] = mean
        return z

    hooks = [(f"blocks.{layer}.attn.hook_z", lambda z, hook, layer=layer: ablate(z, hook, layer))
             for layer in sorted({layer for layer, _ in heads})]
    with model.hooks(fwd_hooks=hooks):
        _, induction = repeated_token_scores(model, tokens)
    return induction
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "mean of each head's z over batch and positions; then repeated_token_scores "
    #     "inside `with model.hooks(...)` replacing those heads' z by it"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # A first look on an untrained tiny model (instant, no download): induction scores before and
    # after ablating the heads of layer 0. Section 5's result does it for the model's previous-token
    # heads.
    from arena_course.ioi.models import tiny_ioi_model
    from arena_course.loading import load_sibling

    model = tiny_ioi_model()
    tokens = load_sibling(__file__, "repeated_token_scores").repeated_random_tokens(model, 10, 4)
    with torch.no_grad():
        before = repeated_token_scores(model, tokens)[1]
        after = induction_without_previous_token(
            model, tokens, [(0, h) for h in range(model.cfg.n_heads)]
        )
    print("induction scores before:", [[round(v, 3) for v in row] for row in before.tolist()])
    print("after ablating layer 0: ", [[round(v, 3) for v in row] for row in after.tolist()])
