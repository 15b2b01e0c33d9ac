"""A causal attention pattern in plain torch
==========================================

Given each position's query and key vectors for every head, the attention pattern of head h is

    pattern[b, h, i, j] = softmax_j( q[b, i, h] · k[b, j, h] / sqrt(d_head) )   for j <= i,
    pattern[b, h, i, j] = 0                                                       for j > i

(a position only attends to itself and earlier positions: the scores of later positions are set to
-inf before the softmax). Every row of the pattern sums to 1.

What to write: `attention_pattern(q, k)` with q, k of shape (batch, pos, head, d_head), returning
(batch, head, query_pos, key_pos).
"""

import torch
from torch import Tensor


def attention_pattern(q: Tensor, k: Tensor) -> Tensor:
    """Causal softmax of q·k / sqrt(d_head). q, k: (batch, pos, head, d_head) -> (batch, head, q, k)."""
    raise NotImplementedError("scores = q·k / sqrt(d_head), mask the future with -inf, softmax over keys")


if __name__ == "__main__":
    torch.manual_seed(0)
    q, k = torch.randn(2, 1, 5, 3, 8).unbind(0)
    print(attention_pattern(q, k)[0, 0])
