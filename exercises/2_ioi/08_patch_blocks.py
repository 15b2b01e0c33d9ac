"""Patching by block: residual stream, attention and MLP outputs
=============================================================

Difficulty: 2/5    Importance: 4/5    Time: ~15 minutes

Source: the ARENA replication of Wang et al. 2022 (https://arxiv.org/abs/2211.00593), "Activation
patching"; the same sweep as `transformer_lens.patching.get_act_patch_block_every`.

**The question.** Exercise 7 found *where* the information sits: at S2 in the first layers, at the
end in the last ones. It doesn't say *which component* moved it. Every block adds two things to the
residual stream, the attention layer's output and then the MLP's:

    resid_mid  = resid_pre + attn_out        (blocks.L.hook_attn_out: what the 12 heads write)
    resid_post = resid_mid + mlp_out         (blocks.L.hook_mlp_out)

Patch each of them, one layer and one position at a time, and you learn what each component's output
carries. The two kinds of components differ in one way that decides what you will see: an MLP works
on each position on its own, while attention moves information *between* positions. So a jump in the
residual-stream map from S2 to the end at layer L must be the work of attention; an MLP can only
rewrite, in place, what is already at its position.

**What to compute.** Three grids, stacked into one (3, n_layers, seq) tensor in this order:

    [0]  blocks.L.hook_resid_pre   the residual stream at the start of block L (exercise 7's grid)
    [1]  blocks.L.hook_attn_out    the output of block L's attention layer
    [2]  blocks.L.hook_mlp_out     the output of block L's MLP

All three are (batch, seq, d_model), so one hook fits them all: the same hook as exercise 7, run on
three hook points. Entry [c, L, p] is the metric of the corrupted run with component c of layer L at
position p (every prompt at once) replaced by its clean value. As before, clean values go INTO the
corrupted run and `clean_cache` is only read. That is 3 * n_layers * seq forward passes.

What correct looks like: row [0] is exercise 7's grid, value for value. At a position where nothing
before it differs between the two runs (every position before S2, since attention only looks back),
the clean and corrupted activations are equal and patching gives exactly 0, in all three grids. And
the grids of attention and MLP output hold no information that the residual stream doesn't: patching
resid_pre of layer L + 1 at p is patching *everything* layer L and earlier wrote there. Your result
should match `transformer_lens.patching.get_act_patch_block_every(model, corrupted_tokens,
clean_cache, metric)`, which you may use to check yourself, after writing your own. The section's
result plots the three grids side by side (results/ioi/patch_blocks.png).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import torch
from jaxtyping import Float, Int
from torch import Tensor

if TYPE_CHECKING:  # for the annotations only
    from transformer_lens.ActivationCache import ActivationCache

# The three components of a block, in the order of the returned grid's first dimension.
BLOCK_COMPONENTS: tuple[str, ...] = ("resid_pre", "attn_out", "mlp_out")


def patch_blocks(
    model,
    corrupted_tokens: Int[Tensor, "batch seq"],
    clean_cache: ActivationCache,
    metric: Callable[[Float[Tensor, "batch seq d_vocab"]], Float[Tensor, ""]],
) -> Float[Tensor, "component layer pos"]:
    """Patch the clean residual stream, attention output and MLP output of every block, one position
    at a time, into the corrupted run, and measure the metric of each patched run.

    Args:
        model: a TransformerLens model (a `TransformerBridge`).
        corrupted_tokens: the corrupted prompts, shape (batch, seq).
        clean_cache: the activations of the clean run, from `run_with_cache`.
        metric: the logits of a run -> a 0-dimensional tensor.

    Returns:
        (3, n_layers, seq) float tensor: [c, L, p] is the metric of the corrupted run with
        `blocks.L.hook_{BLOCK_COMPONENTS[c]}` at position p replaced by its clean value (all
        prompts).
    """
    raise NotImplementedError(
        "exercise 7's sweep on blocks.L.hook_resid_pre, hook_attn_out "
        "and hook_mlp_out, stacked in that order"
    )


if __name__ == "__main__":
    # A first look on an untrained tiny model (instant, no download). The section's result (exercise
    # 10's file) plots the three grids on GPT-2 small or, with --tiny, on a model trained on IOI.
    from arena_course.ioi.dataset import BABA_TEMPLATES, IOIDataset
    from arena_course.ioi.models import tiny_ioi_model
    from arena_course.loading import load_sibling

    metrics = load_sibling(__file__, "ioi_metric")
    model = tiny_ioi_model()
    clean = IOIDataset.generate(model.tokenizer, 8, templates=BABA_TEMPLATES[:1])
    corrupted = clean.flipped()
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(clean.toks)
        corrupted_logits = model(corrupted.toks)
    metric = partial(
        metrics.ioi_metric,
        data=clean,
        clean_logit_diff=float(metrics.ioi_logit_diff(clean_logits, clean)),
        corrupted_logit_diff=float(metrics.ioi_logit_diff(corrupted_logits, clean)),
    )
    grid = patch_blocks(model, corrupted.toks, clean_cache, metric)
    print("tokens:", " ".join(model.to_str_tokens(clean.toks[0])))
    for component, rows in zip(BLOCK_COMPONENTS, grid):
        for layer, row in enumerate(rows.tolist()):
            print(f"{component:>9} layer {layer}:", " ".join(f"{v:5.2f}" for v in row))
