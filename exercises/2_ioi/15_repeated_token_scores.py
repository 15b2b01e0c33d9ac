"""Duplicate-token and induction scores
=====================================

Difficulty: 3/5    Importance: 3/5    Time: ~20 minutes

Source: Wang et al. 2022, "Interpretability in the Wild" (https://arxiv.org/abs/2211.00593), section
3.3 and appendix: the duplicate-token and induction heads of the circuit are *validated* by their
attention on sequences of random tokens repeated twice. Induction heads: Elhage et al. 2021 / Olsson
et al. 2022.

**The circuit this section tests** (GPT-2 small; Wang et al. 2022, Fig. 2): seven classes of heads,
each acting at one position, passing information down the prompt to the end, where the answer is
written:

    S1+1   previous-token heads (2.2, 4.11): write "the token before me was S" at S1+1
             │  read there by the induction heads
             ▼
    S2     induction heads (5.5, 5.8, 5.9, 6.9; they attend from S2 to S1+1) and
           duplicate-token heads (0.1, 0.10, 3.0; from S2 to S1): write "S appeared before" at S2
             │  read by the S-inhibition heads, which attend from the end to S2
             ▼
    end    S-inhibition heads (7.3, 7.9, 8.6, 8.10): write "not S" at the end, where it turns the
           name movers' queries away from S
             │
             ▼
    end    name movers (9.9, 9.6, 10.0): attend to the name that is left, IO, and copy it to the
           logits. Backup name movers (10.10, 10.6, 10.2, 10.1, 11.2, 9.7, 9.0, 11.9) do the same
           when the name movers are knocked out; negative name movers (10.7, 11.10) attend to IO
           too and write against it
             │
             ▼
           logits: IO up, S down

Path patching says which heads matter and through which path; it does not say what a head *does*.
The paper checks each class of heads by how it behaves off-distribution, where its job can be
isolated. For two classes the test is the same input: a sequence of random tokens, then the same
tokens again.

    position:  0     1    2    3   ...  N     N+1   N+2   N+3  ...  2N
    token:     BOS   t1   t2   t3  ...  tN    t1    t2    t3   ...  tN

    duplicate-token head, query t2 at N+2:  attends to position 2   (t2's earlier copy)
    induction head,       query t2 at N+2:  attends to position 3   (t3: the token after that copy)

- A **duplicate-token head** attends from a token to an earlier occurrence of the same token. In
  IOI, such heads at S2 notice that S was already named (at S1). On the repeated sequence: from
  position N + j back to position j.
- An **induction head** attends from a token to the token that *followed* its earlier occurrence (so
  it can predict that the same thing comes next). In IOI, they too notice the repeated S, attending
  from S2 to S1+1. On the repeated sequence: from position N + j to position j + 1.

A head's score is its attention on those positions, averaged over the batch and over the queries in
the second copy:

    duplicate-token score = mean over batch and j = 1..N     of pattern[b, head, N + j, j]
    induction score       = mean over batch and j = 1..N - 1 of pattern[b, head, N + j, j + 1]

(For j = N, position j + 1 = N + 1 is already in the second copy: it is not "the token after the
earlier copy of t_N" in any useful sense, so the induction score leaves it out.) Both scores are
between 0 and 1; a clean duplicate-token or induction head scores close to 1, most heads close to 0.

TransformerLens 4: `run_with_cache` takes a `names_filter`, a function of a hook name that says
which activations to keep; caching only what you need saves memory on long sequences (exercise 11's
`z_caches` keeps only the z's that way). The attention patterns are
`blocks.{layer}.attn.hook_pattern`, also reachable as `cache["pattern", layer]`, shape (batch, head,
query_pos, key_pos): row q holds where query position q attends, and sums to 1. Two index tensors of
the same length in adjacent dimensions pick pairs, as in exercise 1: indexing the (query, key)
dimensions with (q_idx, k_idx) gives one entry per pair i, (batch, head, len(q_idx)).

`repeated_random_tokens` below makes the input: BOS, then `seq_len` distinct random tokens (no
special tokens), then the same `seq_len` tokens again. It is given; section 5's result uses both
functions to check that the heads path patching found behave as their class says.
"""

import torch
from jaxtyping import Float, Int
from torch import Tensor


def repeated_random_tokens(model, seq_len: int, batch: int, seed: int = 0) -> Int[
    Tensor, "batch seq"
]:
    """BOS, then `seq_len` distinct random tokens, then the same `seq_len` tokens again: (batch, 1 +
    2 * seq_len).

    Given. Tokens are drawn without replacement within a row, from the vocabulary minus the
    tokenizer's special tokens, so in each row every token occurs exactly twice (once in each copy)
    and BOS once. Seeded: the same seed gives the same tokens (the global RNG is not used).
    `1 + 2 * seq_len` must fit the model's context (`model.cfg.n_ctx`; 32 for the tiny test models,
    1024 for GPT-2).
    """
    tokenizer = model.tokenizer
    special = set(tokenizer.all_special_ids) if tokenizer is not None else set()
    bos = (
        tokenizer.bos_token_id
        if tokenizer is not None
        and tokenizer.bos_token_id is not None
        else 0
    )
    candidates = torch.tensor([t for t in range(model.cfg.d_vocab) if t not in special])
    if seq_len > len(candidates):
        raise ValueError(
            f"seq_len {seq_len} is more than the {len(candidates)} "
            f"ordinary tokens in the vocabulary"
        )
    if 1 + 2 * seq_len > model.cfg.n_ctx:
        raise ValueError(
            f"1 + 2 * seq_len = {1 + 2 * seq_len} tokens do not fit "
            f"the context of {model.cfg.n_ctx}"
        )
    generator = torch.Generator().manual_seed(seed)
    first = torch.stack(
        [
            candidates[
                torch.randperm(len(candidates), generator=generator)[:seq_len]
            ] for _ in range(batch)
        ]
    )
    return torch.cat([torch.full((batch, 1), bos), first, first], dim=1)


def repeated_token_scores(
    model,
    tokens: Int[Tensor, "batch seq"],
) -> tuple[Float[Tensor, "layer head"], Float[Tensor, "layer head"]]:
    """The duplicate-token score and the induction score of every head, on a repeated random
    sequence.

    Args:
        model: a TransformerLens model (a `TransformerBridge`).
        tokens: (batch, 1 + 2 * N): BOS, N tokens, the same N tokens again (from
            `repeated_random_tokens`).

    Returns:
        (duplicate_scores, induction_scores), each (n_layers, n_heads): duplicate_scores[l, h]: head
        (l, h)'s attention from position N + j to position j (the earlier
            copy of the same token), averaged over the batch and j = 1..N;
        induction_scores[l, h]: its attention from position N + j to position j + 1 (the token after
        the
            earlier copy), averaged over the batch and j = 1..N - 1.
    """
    raise NotImplementedError(
        "cache the attention patterns, then average pattern[N + j, j] "
        "(duplicate) and pattern[N + j, j + 1] (induction)"
    )
