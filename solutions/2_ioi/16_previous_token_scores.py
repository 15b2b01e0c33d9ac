"""Previous-token scores
======================

Difficulty: 2/5    Importance: 3/5    Time: ~10 minutes

Source: Wang et al. 2022, "Interpretability in the Wild" (https://arxiv.org/abs/2211.00593), section
3.3 and appendix: the previous-token heads of the circuit (2.2 and 4.11 in GPT-2 small) are
validated by their attention to the previous token; Olsson et al. 2022 on their role in induction.

**The third class on the same input.** Exercise 15 scored duplicate-token and induction heads on a
random sequence repeated twice. The circuit has one more class that this input can check: the
**previous-token heads**, which act at S1+1, the token right after the subject's first mention, and
attend from it to S1. What they write there ("the token before me was S") is what the induction
heads look for later: an induction head at S2 attends to S1+1 *because* a previous-token head marked
it.

A previous-token head attends from every position to the one just before it, whatever the tokens
are:

    position:  0     1    2    3   ...
    query 3 attends to key 2; query 2 to key 1; query 1 to key 0 (BOS)

so its score is its attention to the previous position, averaged over the batch and over every query
that has a previous position (1 to seq - 1; position 0 has none, and attends to itself):

    previous-token score = mean over batch and q = 1..seq-1 of pattern[b, head, q, q - 1]

Between 0 and 1; a clean previous-token head scores close to 1. Unlike the two scores of exercise
15, it doesn't need the repetition: any tokens will do (the result uses exercise 15's repeated
random tokens anyway, so that the three scores are measured on the same sequences).

`cache["pattern", layer]` is (batch, head, query_pos, key_pos), as before. The entries (q, q - 1) of
a square matrix form one of its diagonals: `torch.diagonal` (or `Tensor.diagonal`) takes an `offset`
and the two dimensions (`dim1`, `dim2`) that hold the rows and columns, and puts the diagonal last.
On another quantity: the entries (q, q + 2) of the last two dimensions of a tensor `m` are
`m.diagonal(offset=2, dim1=-2, dim2=-1)`, shape (..., n - 2).
"""

import torch
from jaxtyping import Float, Int
from torch import Tensor


def previous_token_scores(model, tokens: Int[Tensor, "batch seq"]) -> Float[Tensor, "layer head"]:
    """Every head's attention to the previous position, averaged over the batch and the positions
    1..seq-1.

    Args:
        model: a TransformerLens model (a `TransformerBridge`).
        tokens: (batch, seq) token ids, e.g. exercise 15's repeated random tokens.

    Returns:
        (n_layers, n_heads): scores[l, h] = mean over b and q = 1..seq-1 of pattern_l[b, h, q, q -
        1].
    """
    # SOLUTION
    _, cache = model.run_with_cache(tokens, names_filter=lambda name: name.endswith("hook_pattern"))
    # (layer, batch, head, q, k)
    patterns = torch.stack([cache["pattern", layer] for layer in range(model.cfg.n_layers)])

    # The entries (q, q - 1), for q = 1..seq-1: the diagonal just below the main one.
    previous = patterns.diagonal(offset=-1, dim1=-2, dim2=-1)  # (layer, batch, head, seq - 1)
    return previous.mean(dim=(1, 3))
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "cache the patterns; average pattern[q, q - 1] over the batch and q = 1..seq-1"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # A first look on an untrained tiny model (instant, no download). Section 5's result prints the
    # three scores for the circuit's classes.
    from arena_course.ioi.models import tiny_ioi_model
    from arena_course.loading import load_sibling

    repeated = load_sibling(__file__, "repeated_token_scores")
    model = tiny_ioi_model()
    tokens = repeated.repeated_random_tokens(model, 10, 4)
    with torch.no_grad():
        scores = previous_token_scores(model, tokens)
    for layer, row in enumerate(scores.tolist()):
        print(f"layer {layer}:", " ".join(f"{v:.2f}" for v in row))
