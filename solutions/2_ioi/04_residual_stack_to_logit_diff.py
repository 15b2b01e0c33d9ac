"""From a residual stack to logit differences
==========================================

Difficulty: 3/5    Importance: 5/5    Time: ~20 minutes

Source: Wang et al. 2022, "Interpretability in the Wild" (https://arxiv.org/abs/2211.00593), section
3.1; the method is ARENA's "direct logit attribution" (chapter 1.4.1), with TransformerLens's
`ActivationCache.apply_ln_to_stack`.

The residual stream at the end of the model is a sum: the embeddings, plus what every attention
layer and every MLP wrote into it. Exercise 3 showed that the logit difference reads this stream
along one direction. If the readout were linear, each component's share of the logit difference
would simply be its dot product with that direction, and the shares would add up to the whole. One
thing stands in the way: the final LayerNorm.

    LN(x) = (x - mean(x)) / scale(x) * w + b,      scale(x) = sqrt(var(x) + eps)

Centring is linear (the mean of a sum is the sum of the means), and in compatibility mode w is
folded into W_U and b into b_U. But `scale(x)` is computed from the *whole* stream x: it is not a
sum over the components. The standard trick is to **freeze the scale**: read it from the actual
forward pass, one number per prompt and position (`cache["ln_final.hook_scale"]`, shape (batch, seq,
1)), and divide every component by the same number. Then the components' scaled, projected shares
add up exactly to the logit difference (minus the constant b_U[IO] - b_U[S]).

Which number? The scale at the position you read, **each prompt's end position**. With prompts of
one length, HookedTransformer code does it with
`cache.apply_ln_to_stack(stack, layer=-1, pos_slice=-1)`, which centres the stack and divides it by
the scale at position -1. Our prompts have different lengths and are padded on the right, so
position -1 is padding for most of them, and its scale belongs to a different residual vector.
`apply_ln_to_stack` can't take one position per prompt, so do its two steps yourself: centre each
component over d_model, and divide it by prompt i's scale at prompt i's end position (the pairing of
exercise 1's indexing). Keep the scale's trailing dimension of 1: a (batch, 1) scale broadcasts
against (..., batch, d_model), a (batch,) one would line up with d_model instead.

(In compatibility mode every component is already centred, because the weights that write to the
residual stream are; the centring changes nothing there, but it makes the function right without
it.) Forget the division and every attribution is off by that prompt's scale, a factor that differs
from prompt to prompt and grows with the residual stream's norm (large in GPT-2's last layers).

Then project each scaled (centred and divided) component on its prompt's direction and average over
the prompts:

    attribution[...] = mean over i of  scaled[..., i, :] · directions[i, :]

Each prompt's vector meets its own direction only (not a matrix product over the batch).
`einops.einsum` accepts `...` in a pattern for any number of leading dimensions, so one pattern
serves a list of components and a (layer, head) grid alike.

What to write: `residual_stack_to_logit_diff`. `residual_stack` has any number of leading dimensions
(a list of components, or (layer, head)) followed by (batch, d_model): the caller has already taken
each component at each prompt's end position (e.g. from
`cache.accumulated_resid(layer=-1, incl_mid=True)`, shape (component, batch, seq, d_model)). The
answer has the leading dimensions only. A correct answer, given the final residual stream alone
(`cache["resid_post", n_layers - 1]` at the end positions, with a leading dimension of 1), returns
the model's mean logit difference, up to the small b_U term.
"""

import einops
import torch
from jaxtyping import Float
from torch import Tensor

from arena_course.ioi.dataset import IOIDataset


def residual_stack_to_logit_diff(
    residual_stack: Float[Tensor, "... batch d_model"],
    cache,
    data: IOIDataset,
    directions: Float[Tensor, "batch d_model"],
) -> Float[Tensor, "..."]:
    """Each component's direct contribution to the mean logit difference, through the final
    LayerNorm.

    Args:
        residual_stack: components of the residual stream, each at each prompt's end position: any
            leading dimensions, then (batch, d_model).
        cache: the ActivationCache of the run on `data.toks` (for `cache["ln_final.hook_scale"]`,
            shape (batch, seq, 1)).
        data: the prompts (`data.word_idx["end"]`: each prompt's end position).
        directions: (batch, d_model) logit difference directions (exercise 3).

    Returns:
        The leading dimensions of `residual_stack`: for each component, the mean over prompts of
        (centred component / final LayerNorm scale at the end position) · direction.
    """
    # SOLUTION
    batch = torch.arange(len(data), device=residual_stack.device)

    # The final LayerNorm's scale where each prompt is read: its own end position, not position -1
    # (padding for the shorter prompts). One number per prompt, frozen from the actual forward pass.
    scale = cache["ln_final.hook_scale"][batch, data.word_idx["end"]]  # (batch, 1)

    # What LayerNorm does to each component: centre it, then divide by the whole stream's scale.
    centred = residual_stack - residual_stack.mean(dim=-1, keepdim=True)
    scaled = centred / scale  # (..., batch, d_model)

    # Project on each prompt's own direction, then average over the prompts.
    projected = einops.einsum(scaled, directions, "... batch d_model, batch d_model -> ... batch")
    return projected.mean(dim=-1)
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "divide the stack by the final LayerNorm scale at each prompt's end, "
    #     "project on the directions, average over the batch"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # A check on an untrained tiny model (compatibility mode, as the results use): the final
    # residual stream's attribution is the mean logit difference, and the per-layer pieces add up to
    # it.
    from arena_course.ioi.models import tiny_ioi_model
    from arena_course.loading import load_sibling

    ioi_logit_diff = load_sibling(__file__, "ioi_logit_diff").ioi_logit_diff
    logit_diff_directions = load_sibling(__file__, "logit_diff_directions").logit_diff_directions

    model = tiny_ioi_model()
    model.enable_compatibility_mode(disable_warnings=True)
    data = IOIDataset.generate(model.tokenizer, 8)
    with torch.no_grad():
        logits, cache = model.run_with_cache(data.toks)
        directions = logit_diff_directions(model, data)
        batch, end = torch.arange(len(data)), data.word_idx["end"]
        final = cache["resid_post", model.cfg.n_layers - 1][batch, end][None]  # (1, batch, d_model)
        # (component, batch, seq, d_model)
        pieces, labels = cache.decompose_resid(layer=-1, return_labels=True)
        print("mean logit difference:        ", round(float(ioi_logit_diff(logits, data)), 4))
        print(
            "attribution of the final stream:",
            round(float(residual_stack_to_logit_diff(final, cache, data, directions)[0]), 4),
        )
        shares = residual_stack_to_logit_diff(pieces[:, batch, end], cache, data, directions)
        print(
            "per component:",
            {label: round(float(v), 4) for label, v in zip(labels, shares)},
            "sum:",
            round(float(shares.sum()), 4),
        )
