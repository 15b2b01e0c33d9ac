"""One head's pattern from run_with_cache
=======================================

TransformerLens 4 wraps a model in a `TransformerBridge`. `model.run_with_cache(tokens)` runs it and
returns `(logits, cache)`, where the cache holds every hook point's activation. The attention pattern of
layer L is `cache["pattern", L]` (the full name is `blocks.L.attn.hook_pattern`), of shape
(batch, head, query_pos, key_pos).

What to write: `head_attention_pattern(model, tokens, layer, head)`, the pattern of one head, of shape
(batch, query_pos, key_pos).
"""

import torch
from torch import Tensor

from bench_models import tiny_bridge


def head_attention_pattern(model, tokens: Tensor, layer: int, head: int) -> Tensor:
    """The attention pattern of head `head` in layer `layer`: (batch, query_pos, key_pos)."""
    raise NotImplementedError("run the model with a cache, then index its pattern for this layer and head")


if __name__ == "__main__":
    model = tiny_bridge(seed=0)
    print(head_attention_pattern(model, torch.tensor([[2, 4, 6, 8, 10]]), layer=1, head=2))
