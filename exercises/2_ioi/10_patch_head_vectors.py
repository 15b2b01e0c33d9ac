"""Patching queries, keys, values and patterns
===========================================

Difficulty: 3/5    Importance: 3/5    Time: ~20 minutes

Source: the ARENA replication of Wang et al. 2022 (https://arxiv.org/abs/2211.00593), "Activation
patching"; the same sweeps as
`transformer_lens.patching.get_act_patch_attn_head_{q,k,v,pattern}_all_pos`.

**Why split a head.** A head's output (exercise 9) depends on two things: *where* it looks (its
attention pattern, made from its queries and keys) and *what* it moves from there (its values).
Patch them separately and you learn which one carries the information:

- **values** (`hook_v`): the head looks at the same places in both runs, but moves clean information
  from them. A head that copies the name it attends to is restored by its values when the names
  differ.
- **queries** (`hook_q`) / **keys** (`hook_k`): change where the head looks, from the destination's
  side (what it searches for) or the source's side (what each position advertises).
- **pattern** (`hook_pattern`): the whole clean attention pattern, i.e. queries and keys together.

Our corruption changes one token, S2, so think about what each kind of head sees differently. A head
at S2 that looks for an earlier copy of its own token (a duplicate-token head) finds S1 in the clean
run and IO in the corrupted one: its queries (and so its pattern) carry the difference, not its
keys. A head at the end that copies the name it attends to (a name mover) attends to a different
name when it is told a different name is the repeated one: its queries and pattern matter. A head
that carries "this name is repeated" from S2 to the end (an S-inhibition head) attends from the end
to the same positions in both runs, but what it reads at S2 differs: its values matter. The result
of this section shows all five grids side by side; read a head's row across them.

**The one new thing: where the head dimension is.** Queries, keys and values are per position and
per head, like z:

    blocks.{L}.attn.hook_q / hook_k / hook_v    (batch, seq, n_heads, d_head)     head = dim 2
    blocks.{L}.attn.hook_pattern                (batch, n_heads, q_pos, k_pos)    head = dim 1

so one indexing does not fit all: the third dimension of a pattern is the query position, and
indexing it with a head number patches one query position of *every* head. Patch the whole of head
h's slice (all positions, all prompts) in each case.

**The function.** `patch_head_vectors(model, corrupted_tokens, clean_cache, metric, activation)`
does the sweep of exercise 9 for the hook named by `activation` ("q", "k", "v" or "pattern"),
returning an (n_layers, n_heads) grid. Compare with
`transformer_lens.patching.get_act_patch_attn_head_q_all_pos` (and `_k_`, `_v_`, `_pattern_`), which
do the same.

Then run this file, the section's result: your exercises 6-10 on GPT-2 small (~550 MB, downloaded
once into the Hugging Face cache; a few minutes on a laptop CPU: about 200 + 600 + 720 forward
passes), or, with `--tiny`, on a 3-layer model trained on IOI the first time you run it (under a
minute on a laptop, then cached in results/ioi/; no download):

    python exercises/2_ioi/10_patch_head_vectors.py [--tiny] [--prompts N]

It writes results/ioi/patch_resid.png (patch_resid_tiny.png with --tiny): the layer x position map
of residual-stream patching, on prompts of one template so that positions line up, with each
position labelled by its role (S1, IO, S2, end) or token; results/ioi/patch_blocks.png: the same map
for each block's residual stream, attention output and MLP output (exercise 8); and
results/ioi/patch_heads.png: layer x head maps for head outputs, queries, keys, values and patterns,
on one colour scale. It prints the heads that matter most. Without GPT-2 and without a network
connection it says what it needs in one line and stops.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

# for the annotations only: the result's offline message needn't wait for TransformerLens
if TYPE_CHECKING:
    from transformer_lens.ActivationCache import ActivationCache


def patch_head_vectors(
    model,
    corrupted_tokens: Int[Tensor, "batch seq"],
    clean_cache: ActivationCache,
    metric: Callable[[Float[Tensor, "batch seq d_vocab"]], Float[Tensor, ""]],
    activation: Literal["q", "k", "v", "pattern"],
) -> Float[Tensor, "layer head"]:
    """Patch one head's clean queries, keys, values or attention pattern (all positions) into the
    corrupted run, one head at a time, and measure the metric of each patched run.

    Args:
        model: a TransformerLens model (a `TransformerBridge`).
        corrupted_tokens: the corrupted prompts, shape (batch, seq).
        clean_cache: the activations of the clean run, from `run_with_cache`.
        metric: the logits of a run -> a 0-dimensional tensor.
        activation: which hook to patch: "q", "k", "v" (`blocks.L.attn.hook_q` etc., shape (batch,
            seq, n_heads, d_head)) or "pattern" (`blocks.L.attn.hook_pattern`, shape (batch,
            n_heads, q_pos, k_pos)).

    Returns:
        (n_layers, n_heads) float tensor: [L, h] is the metric of the corrupted run with head h's
        `activation` in layer L replaced by its clean value.
    """
    raise NotImplementedError(
        "like exercise 9, on blocks.L.attn.hook_{activation}: the head "
        "is dim 2 of q/k/v but dim 1 of the pattern"
    )


if __name__ == "__main__":
    # The section's result: your exercises 6-10 (loaded from the files next to this one) on GPT-2
    # small, or with --tiny on a small model trained on IOI. Writes results/ioi/patch_resid*.png,
    # patch_blocks*.png and patch_heads*.png.
    import os
    import sys
    from pathlib import Path

    from arena_course.ioi import patching, results
    from arena_course.loading import load_sibling
    from arena_course.models import ModelUnavailable

    args = results.result_args()
    try:
        setting = results.result_setting(args.tiny, args.prompts)
    except ModelUnavailable as e:
        print(results.offline_message(e, os.path.relpath(__file__)), file=sys.stderr)  # one line
        sys.exit(1)

    metrics = load_sibling(__file__, "ioi_metric")
    summary = patching.run_result(
        setting,
        ioi_logit_diff=metrics.ioi_logit_diff,
        ioi_metric=metrics.ioi_metric,
        patch_residual_stream=load_sibling(__file__, "patch_residual_stream").patch_residual_stream,
        patch_blocks=load_sibling(__file__, "patch_blocks").patch_blocks,
        patch_head_outputs=load_sibling(__file__, "patch_head_outputs").patch_head_outputs,
        patch_head_vectors=patch_head_vectors,
        out_dir=Path("results/ioi"),
    )
    print("\n".join(patching.describe(summary)))
