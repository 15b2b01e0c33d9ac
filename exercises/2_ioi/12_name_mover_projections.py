"""Name movers write the name they attend to
==========================================

Difficulty: 3/5    Importance: 4/5    Time: ~20 minutes

Source: Wang et al. 2022, "Interpretability in the Wild" (https://arxiv.org/abs/2211.00593), section
3.1 and Fig. 3: for a name mover head, the attention probability from the end to a name against the
projection of the head's output on that name's unembedding, one dot per prompt.

**The claim to test.** Exercise 11 found the heads whose direct path carries the answer: the name
movers. The paper's explanation of what they do has two halves: they *attend* to the indirect object
(their QK circuit picks it), and they *copy* whatever name they attend to into the logits (their OV
circuit). If both hold, then across prompts, the more a name mover attends to a name, the more its
output points towards that name's logit. Plot one against the other, prompt by prompt, and a copying
head draws a rising line; a head that writes something fixed draws a flat cloud.

**The two numbers, for one head (L, H) and one prompt, at the prompt's end position:**

    attention    the head's attention probability from the end to the name's position
                 (blocks.L.attn.hook_pattern, (batch, head, query_pos, key_pos))
    projection   the head's output at the end, z[end] @ W_O[L, H] (a d_model vector: what this head
                 adds to the residual stream there), dotted with the name's unembedding direction,
                 the column W_U[:, name] (W_U is (d_model, d_vocab))

Both for two names: the indirect object (at `word_idx["IO"]`, token `io_tokens`) and the subject at
its first mention (`word_idx["S1"]`, token `s_tokens`), so the same head gives two clouds: a name
mover attends to the IO and writes it, and attends little to S.

The projection is the head's *direct* push on the name's logit, before the final LayerNorm's scale
(the paper plots the same: what matters is the trend, and the scale is shared by all heads of a
prompt). `cache["z", L]` is (batch, seq, head, d_head), `model.W_O[L, H]` is (d_head, d_model).
Prompts have different lengths, padded on the right: "the end" is each prompt's own
`word_idx["end"]`, not position -1. Pick one entry per prompt with a batch index beside a position
index, as in exercise 1.

**What correct looks like.** Two (2, batch) tensors: row 0 for the IO, row 1 for S. Attentions are
between 0 and 1; a head whose W_O is zero has every projection 0 whatever it attends to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from jaxtyping import Float
from torch import Tensor

from arena_course.ioi.dataset import IOIDataset

if TYPE_CHECKING:  # for the annotations only
    from transformer_lens.ActivationCache import ActivationCache


def name_mover_projections(
    model,
    cache: ActivationCache,
    data: IOIDataset,
    head: tuple[int, int],
) -> tuple[Float[Tensor, "name batch"], Float[Tensor, "name batch"]]:
    """For one head and every prompt: its attention from the end to the IO and to S1, and the
    projection of its output at the end on the IO's and on S's unembedding.

    Args:
        model: a TransformerLens model (a `TransformerBridge`).
        cache: the cache of `model.run_with_cache(data.toks)`.
        data: the prompts (their positions `word_idx` and answer tokens `io_tokens`, `s_tokens`).
        head: (layer, head index).

    Returns:
        (attention, projection), each (2, batch): row 0 for the IO, row 1 for S. attention[0, b] =
        pattern[b, head, end_b, IO_b] and attention[1, b] = pattern[b, head, end_b, S1_b];
        projection[0, b] = (z[b, end_b, head] @ W_O[layer, head]) . W_U[:, io_token_b], and row 1
        the same with s_token_b.
    """
    raise NotImplementedError(
        "attention: pattern[batch, head, end, IO / S1]; projection: "
        "(z[batch, end, head] @ W_O) . W_U[:, name]"
    )


if __name__ == "__main__":
    # A first look on an untrained tiny model (instant, no download): the numbers for one head. The
    # section's result (exercise 14's file) plots them for the name movers path patching finds.
    from arena_course.ioi.models import tiny_ioi_model

    model = tiny_ioi_model()
    data = IOIDataset.generate(model.tokenizer, 6)
    with torch.no_grad():
        _, cache = model.run_with_cache(data.toks)
        attention, projection = name_mover_projections(model, cache, data, (1, 0))
    for b in range(len(data)):
        print(f"IO: attention {float(attention[0, b]):.2f}, projection "
              f"{float(projection[0, b]):+.3f}   "
              f"S: attention {float(attention[1, b]):.2f}, projection "
              f"{float(projection[1, b]):+.3f}")
