"""The function vector
===================

Difficulty: 3/5    Importance: 5/5    Time: ~20 minutes

Source: Todd et al. 2023, "Function Vectors in Large Language Models"
(https://arxiv.org/abs/2310.15213), section 2 (the function vector: the sum of the mean outputs of
the heads with the largest average indirect effect); their code: `compute_function_vector` in
`src/utils/extract_utils.py` (https://github.com/ericwtodd/function_vectors).

Exercise 08 ranked the heads by causal indirect effect. The few at the top carry the task; Todd et
al. add up what they write into the residual stream and call the sum a **function vector** (FV):

    FV = sum over the top-k heads (layer, h) of  out_proj_layer( ā[layer, h] placed in head h's
    slice )

Step by step, for one head: take its mean output over the clean prompts at the last position,
`ā[layer, h]` of shape (d_head,); put it in an otherwise zero vector of size d_model at head h's
slice `h * d_head:(h + 1) * d_head`; run it through that layer's `attn.out_proj`. What comes out, a
d_model vector, is the head's average contribution to the residual stream (GPT-J's out_proj has no
bias, so it is exactly `W_O[:, head's columns] @ ā[layer, h]`). Sum these over the k heads: the FV,
shape (d_model,). (Todd et al. use k = 10 for GPT-J.)

Why not `out_proj(the whole mean input)`? That would be everything the layer's attention writes, all
heads together; the FV keeps only the chosen heads.

nnsight for this. To run one of the model's own modules on a tensor of your choosing, call the
module inside a trace, as you would call it in PyTorch. The logit lens is the classic use: what
would the model predict if block 3's output at the last position went straight to the unembedding?

    with model.trace(prompts):
        resid = model.transformer.h[3].output[:, -1]                                   # (batch,
        d_model) early_logits = model.lm_head(model.transformer.ln_f(resid)).save()            #
        (batch, d_vocab)

The call runs the module on your tensor away from its place in the forward pass, and inside a trace
it runs where the model is: on NDIF too, where the weights are. This function reads the mean head
outputs itself in the same trace (exercise 08's `mean_head_outputs`, for the layers it needs), so
everything happens in one forward pass. Read the layers in the order the model runs them: sort the
chosen heads by layer, and read each layer's input once.

To pick the heads: `topk` of the flattened effects grid gives indices into the flattened
(n_layers * n_heads) grid, largest first; layer `index // n_heads` and head `index % n_heads` (or
`torch.unravel_index`) turn one back into a (layer, head) pair.

A correct answer has shape (d_model,) and, for k = 1, equals `W_O[:, cols] @ ā` of the single best
head.
"""

import torch
from jaxtyping import Float
from torch import Tensor

from arena_course.function_vectors.tasks import ICLDataset


def function_vector(
    model,
    dataset: ICLDataset,
    effects: Float[Tensor, "n_layers n_heads"],
    k: int,
    *,
    remote: bool = False,
) -> Float[Tensor, "d_model"]:
    """The function vector: the sum, over the k heads with the largest effect, of each head's mean
    output at the last position of the clean prompts, put through its layer's out_proj on its own.

    Args:
        model: an nnsight `TransformersModel` with GPT-J's module names
            (`model.transformer.h[L].attn.out_proj`).
        dataset: the clean ICL prompts of the task (`dataset.prompts`, each ending at position -1).
        effects: (n_layers, n_heads) causal indirect effects (exercise 08); the k largest pick the
            heads.
        k: how many heads.
        remote: run on NDIF (True) or locally (False); pass it to `model.trace`.

    Returns:
        (d_model,): the sum over the top-k heads (layer, h) of out_proj_layer(x), x being zero
        except for head h's slice, which holds the head's output at the last position averaged over
        the prompts.
    """
    n_heads = model.config.n_head
    d_head = model.config.n_embd // n_heads

    raise NotImplementedError(
        "pick the top-k heads; in one trace, layer by layer in order, put each "
        "chosen head's mean output alone through out_proj; sum"
    )
