"""Attribution to every attention head
===================================

Difficulty: 2/5    Importance: 4/5    Time: ~15 minutes

Source: Wang et al. 2022, "Interpretability in the Wild" (https://arxiv.org/abs/2211.00593), section
3.1 and figure 3 (the name mover heads' direct effect on the logit difference).

Exercise 4 attributed the logit difference to whole layers. An attention layer's output is itself a
sum, one term per head (plus the bias b_O):

    attn_out[L] = sum over h of  z[L, h] @ W_O[L, h]  +  b_O[L]
                  z[L, h]: (d_head,), head h's attention-weighted values;   W_O[L, h]: (d_head,
                  d_model)

so the same projection splits a layer's share among its heads. On GPT-2 small this is the plot that
points at the circuit: a few heads in layers 9-10 (9.6, 9.9, 10.0: the paper's **name movers**) push
strongly towards IO, and a few in layers 10-11 (10.7, 11.10: **negative name movers**) push against
it. On the tiny model trained for `--tiny` (3 layers of 4 heads), expect a few heads of its last two
layers to carry most of the logit difference, and one or two to push against it a little.

**Per-head outputs in TransformerLens 4.** The ActivationCache's `stack_head_results` returns the
output z @ W_O of every head in the layers before its `layer` argument (by default all of them),
stacked along a first dimension of n_layers * n_heads, ahead of (batch, seq, d_model). Its order is
layer-major: L0H0, L0H1, ..., L1H0, ... (`return_labels=True` also returns those labels; print them
once). HookedTransformer needed `model.set_use_attn_result(True)` before the run, or
`cache.compute_head_results()`, to have per-head outputs; on a TransformerBridge,
`stack_head_results` computes them from the cached `hook_z` and `W_O` by itself.

Two of its options are traps here. `pos_slice=-1` keeps position -1 for every prompt: padding for
most of ours, as in exercise 4; keep all positions and pick each prompt's own end yourself.
`apply_ln=True` divides by the final LayerNorm's scale, and `residual_stack_to_logit_diff` divides
by it again: every head's share ends up divided by the scale twice, off by a factor 1/scale that
differs from prompt to prompt (on the untrained test model, whose scale at the end positions is
about 0.5, most values come out around twice too large).

Then project with `residual_stack_to_logit_diff` (exercise 4's answer, given below as an import so a
mistake there doesn't hold you up here), and give the (n_layers * n_heads,) result the shape
(layer, head), with the layer as the slow index (`einops.rearrange` names the two factors of a flat
dimension with parentheses).

**What direct attribution misses.** It measures only what a head writes straight to the logits,
through the residual stream and the final LayerNorm (whose scale we froze). A head whose output is
read by later heads (an S-inhibition head telling the name movers what to ignore, a duplicate-token
head feeding them) can be essential and still have a direct attribution near 0; a head whose direct
effect is large may be compensated by later layers when it is removed (the paper's backup name
movers). Direct attribution says where the answer is *written*; activation and path patching
(sections 3 and 4) find what it *depends on*.

What to write: `head_logit_attribution`. A correct answer has shape (n_layers, n_heads); the heads
of a layer add up to that layer's attention output's attribution (exercise 4 on
`cache["attn_out", L]`) minus b_O's (zero in an untrained model).
"""

import einops
import torch
from jaxtyping import Float
from torch import Tensor

from arena_course.ioi.attribution import residual_stack_to_logit_diff  # exercise 4's answer, given
from arena_course.ioi.dataset import IOIDataset


def head_logit_attribution(
    model,
    cache,
    data: IOIDataset,
    directions: Float[Tensor, "batch d_model"],
) -> Float[Tensor, "layer head"]:
    """Each attention head's direct contribution to the mean logit difference.

    Args:
        model: the TransformerBridge that produced `cache` (for `model.cfg.n_layers`, `n_heads`).
        cache: the ActivationCache of the run on `data.toks`.
        data: the prompts (`data.word_idx["end"]`).
        directions: (batch, d_model) logit difference directions (exercise 3).

    Returns:
        (n_layers, n_heads): entry [L, h] is head h of layer L's output, at each prompt's end
        position, through the final LayerNorm's scale, projected on the direction, averaged over the
        prompts.
    """
    # SOLUTION
    batch = torch.arange(len(data))

    # Every head's output z @ W_O, at every position: (layer * head, batch, seq, d_model), L0H0
    # first.
    per_head = cache.stack_head_results(layer=-1)

    # Each prompt's own end position (not -1: padding), then through the final LayerNorm and the
    # direction.
    per_head_at_end = per_head[:, batch, data.word_idx["end"]]  # (layer * head, batch, d_model)
    # (layer * head,)
    attribution = residual_stack_to_logit_diff(per_head_at_end, cache, data, directions)

    return einops.rearrange(attribution, "(layer head) -> layer head", layer=model.cfg.n_layers)
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "stack the heads' outputs, take each prompt's end position, project with "
    #     "residual_stack_to_logit_diff, reshape to (layer, head)"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # The section's result: your exercises 1, 3, 4 and 5 (loaded from the files next to this one) on
    # GPT-2 small, or with --tiny on a tiny model trained on IOI. Writes
    # results/ioi/attribution_*.png.
    import os
    import sys
    from pathlib import Path

    from arena_course.ioi import attribution, results
    from arena_course.loading import load_sibling
    from arena_course.models import ModelUnavailable

    args = results.result_args()
    try:
        setting = results.result_setting(args.tiny, args.prompts)
    except ModelUnavailable as e:
        print(results.offline_message(e, os.path.relpath(__file__)), file=sys.stderr)
        sys.exit(1)

    summary = attribution.run_attribution_result(
        setting,
        ioi_logit_diff=load_sibling(__file__, "ioi_logit_diff").ioi_logit_diff,
        logit_diff_directions=load_sibling(__file__, "logit_diff_directions").logit_diff_directions,
        residual_stack_to_logit_diff=load_sibling(
            __file__, "residual_stack_to_logit_diff"
        ).residual_stack_to_logit_diff,
        head_logit_attribution=head_logit_attribution,
        out_dir=Path("results/ioi"),
    )
    for path in summary.paths:
        print(f"Wrote {path}")
    print(attribution.attribution_report(summary))
    print(
        "Layers: the accumulated line should climb to the model's logit "
        "difference in the last layers, and the "
        "bars say which attention layers write it.\nHeads: a few heads should stand out"
        + (" (on GPT-2 small: name movers 9.6, 9.9, 10.0 positive; "
           "negative name movers 10.7, 11.10)."
           if not setting.tiny else ".")
        + " They are where the answer is written; sections 3 and 4 find the heads they depend on."
    )
