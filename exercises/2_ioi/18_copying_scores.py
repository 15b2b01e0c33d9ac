"""Copying scores of the OV circuit
================================

Difficulty: 3/5    Importance: 3/5    Time: ~20 minutes

Source: Wang et al. 2022, "Interpretability in the Wild" (https://arxiv.org/abs/2211.00593), section
3.1 (name mover heads "copy" the name they attend to) and its appendix on the copying score; the OV
circuit is from Elhage et al. 2021, "A Mathematical Framework for Transformer Circuits".

Name mover heads attend from the end of the prompt to the indirect object and raise its logit. That
is two claims: where the head *looks* (its QK circuit, visible in its attention pattern) and what it
*does* with what it sees (its OV circuit). The copying score tests the second one alone, with no
prompt at all: if the head attended perfectly to a name, would the name come out at the top of the
logits?

A head's output, when it attends fully to one position, is that position's residual stream x times
its OV matrix, W_OV = W_V @ W_O (d_model x d_model; biases left out). The paper's recipe, for each
name:

    x        the name's embedding plus what the first MLP (after its LayerNorm) adds to it: GPT-2's
             MLP0 acts as an extension of the embedding, so this is "the name" as later layers see
             it
    out      x times the head's W_OV: what the head would write if it attended to that name
    logits   out through the final LayerNorm and the unembedding, straight to the logits
    copied?  is the name's own token among the k largest of those logits (k = 5: above almost all)?

The copying score of a head is the fraction of names it copies. Name movers score high
(in GPT-2 small, the paper's name movers copy the large majority of names); most heads score near 0.
With `negative=True` the output is negated *before* the final LayerNorm and the unembedding
(`out = -x @ W_OV`): a high score then means the head writes *minus* the name it attends to, as the
paper's negative name movers (10.7, 11.10) do. Negate `out`, not the logits: the unembedding adds a
bias b_U, and -(logits) would negate it too.

Simplifications, as in the paper and the ARENA replication: no positional embedding and no attention
layer 0. The LayerNorm of the head's own layer (ln1) is not applied before W_V either; in
compatibility mode that changes nothing: its weights are folded into W_V, W_V is centred so ln1's
centring has no effect, and its scale factor is undone by the final LayerNorm.

TransformerLens 4: the bridge's components are modules you can call on any tensor whose last
dimension is d_model (any leading dimensions), e.g. `model.blocks[1].ln1(x)` applies block 1's first
LayerNorm. The ones this needs: `model.embed` (token ids -> W_E rows); in a block, `ln2` (the
LayerNorm before the MLP; `ln1` is the one before attention) and `mlp`; then `model.ln_final` and
`model.unembed` (x @ W_U + b_U). `model.W_V` is (n_layers, n_heads, d_model, d_head) and `model.W_O`
(n_layers, n_heads, d_head, d_model): `@` on tensors with leading dimensions multiplies the last two
and broadcasts the rest, so every head's W_OV comes out at once. `torch.topk` returns the largest
values and their `.indices` along a dimension.
"""

import torch
from jaxtyping import Float, Int
from torch import Tensor


def copying_scores(
    model,
    name_tokens: Int[Tensor, "n_names"],
    k: int = 5,
    negative: bool = False,
) -> Float[Tensor, "layer head"]:
    """The fraction of names each head's OV circuit copies into its top-k logits.

    Args:
        model: a TransformerLens model (a `TransformerBridge`, in compatibility mode for GPT-2).
        name_tokens: (n_names,) token ids of the names (" Mary", " John", ...: with the leading
            space).
        k: a name counts as copied when it is among the k largest logits.
        negative: score -W_OV instead of W_OV (the negative copying score).

    Returns:
        (n_layers, n_heads): for each head, the fraction of names whose own token is among the top k
        logits of unembed(ln_final(±(W_E[name] + MLP0(LN(W_E[name]))) @ W_V[l, h] @ W_O[l, h])).
    """
    raise NotImplementedError(
        "names after MLP0 -> every head's OV -> final LayerNorm and "
        "unembedding; score: fraction of names in their own top k"
    )
