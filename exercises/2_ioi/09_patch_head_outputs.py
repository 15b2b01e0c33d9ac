"""Patching each head's output
===========================

Difficulty: 3/5    Importance: 4/5    Time: ~20 minutes

Source: the ARENA replication of Wang et al. 2022 (https://arxiv.org/abs/2211.00593), "Activation
patching"; the same sweep as `transformer_lens.patching.get_act_patch_attn_head_out_all_pos`.

**From positions to heads.** The residual-stream map (exercise 7) says *where* the information is,
layer by layer. To say *which components* put it there, patch them one by one. An attention head
writes

    head output = z @ W_O[layer, head]        z: (batch, seq, d_head), W_O[layer, head]: (d_head,
    d_model)

into the residual stream, where z is the head's attention-weighted sum of values. Patching a head's
z from the clean run into the corrupted one, at every position, is patching its output: every later
component then sees what this head wrote on the clean prompt, and nothing else changed. A head whose
clean output restores much of the metric carries the information that tells IO from S. On GPT-2
small expect the name mover heads of the paper (9.6, 9.9, 10.0) to stand out positive, the negative
name movers (10.7, 11.10) negative, and earlier heads of the circuit weaker.

**The activation.** `blocks.{L}.attn.hook_z` holds z for all the heads of layer L at once, shape
(batch, seq, n_heads, d_head): the head is the third dimension. (HookedTransformer also had
`hook_result`, each head's output after W_O, but only when `use_attn_result` was on, because it is
n_heads times bigger than the layer's output; z is always there. TL 4's
`get_act_patch_attn_head_out_all_pos` patches z too.)

**The sweep.** For each layer L and head h: run the corrupted tokens with a hook on
`blocks.{L}.attn.hook_z` that copies the clean z of head h, at all positions and for all prompts,
into the activation; store the metric at [L, h]. n_layers * n_heads forward passes. As before, the
hook writes clean values into the corrupted activation and leaves `clean_cache` untouched, and the
other heads of the layer keep their corrupted values.

What correct looks like: shape (n_layers, n_heads). Patching every head of a layer at once would
give the same number as patching the layer's attention output: one head at a time gives a different
number per head. Your grid should match
`transformer_lens.patching.get_act_patch_attn_head_out_all_pos(model, corrupted_tokens, clean_cache,
metric)`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import torch
from jaxtyping import Float, Int
from torch import Tensor

# for the annotations only: the result's offline message needn't wait for TransformerLens
if TYPE_CHECKING:
    from transformer_lens.ActivationCache import ActivationCache


def patch_head_outputs(
    model,
    corrupted_tokens: Int[Tensor, "batch seq"],
    clean_cache: ActivationCache,
    metric: Callable[[Float[Tensor, "batch seq d_vocab"]], Float[Tensor, ""]],
) -> Float[Tensor, "layer head"]:
    """Patch each head's clean output (its z, at every position) into the corrupted run, one head at
    a time, and measure the metric of each patched run.

    Args:
        model: a TransformerLens model (a `TransformerBridge`).
        corrupted_tokens: the corrupted prompts, shape (batch, seq).
        clean_cache: the activations of the clean run, from `run_with_cache`.
        metric: the logits of a run -> a 0-dimensional tensor.

    Returns:
        (n_layers, n_heads) float tensor: [L, h] is the metric of the corrupted run with head h of
        layer L's `hook_z` replaced by its clean value at all positions.
    """
    raise NotImplementedError(
        "for each layer and head, run the corrupted tokens with a hook copying the clean "
        "hook_z of that head (all positions) in; store metric(logits)"
    )


if __name__ == "__main__":
    # A first look on an untrained tiny model (instant, no download). The section's result, on GPT-2
    # small or a tiny model trained on IOI, is exercise 10's file.
    from arena_course.ioi.dataset import IOIDataset
    from arena_course.ioi.models import tiny_ioi_model
    from arena_course.loading import load_sibling

    metrics = load_sibling(__file__, "ioi_metric")
    model = tiny_ioi_model()
    clean = IOIDataset.generate(model.tokenizer, 8)
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
    grid = patch_head_outputs(model, corrupted.toks, clean_cache, metric)
    for layer, row in enumerate(grid.tolist()):
        print(f"layer {layer}:", " ".join(f"{v:6.2f}" for v in row))
