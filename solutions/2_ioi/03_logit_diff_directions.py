"""The logit difference direction
=============================

Difficulty: 1/5    Importance: 4/5    Time: ~10 minutes

Source: Wang et al. 2022, "Interpretability in the Wild" (https://arxiv.org/abs/2211.00593), section
3.1 (direct logit attribution, the "IO - S" direction); Elhage et al. 2021, "A Mathematical
Framework for Transformer Circuits" (https://transformer-circuits.pub/2021/framework/index.html), on
reading the residual stream as a sum of components.

Section 1 measured *what* the model does. This section asks *which parts* of the model do it,
starting from one fact: the logits are a linear function of the final residual stream. Write x for
the residual stream at the end position after the last layer. The model applies the final LayerNorm
and then the unembedding:

    logits = LN(x) @ W_U + b_U          x: (d_model,)   W_U: (d_model, d_vocab)   logits: (d_vocab,)

so the logit of a token t is `LN(x) @ W_U[:, t]` (plus a bias), and the logit difference is

    logit[IO] - logit[S] = LN(x) @ (W_U[:, IO] - W_U[:, S])  +  (b_U[IO] - b_U[S])

a dot product with one vector, the **logit difference direction** W_U[:, IO] - W_U[:, S]. Any piece
of the residual stream (one layer's output, one head's output) can be projected on it: how much that
piece pushes the model towards IO and away from S. That is direct logit attribution, the next two
exercises.

Each prompt has its own names, so each has its own direction: the answer is one d_model vector per
prompt, shape (batch, d_model). The columns of `model.W_U` (d_model, d_vocab) are indexed by token
id; `data.io_tokens` and `data.s_tokens` are (batch,) token ids. (TransformerLens also has
`model.tokens_to_residual_directions(tokens)`, which returns `W_U[:, tokens]` with the token
dimension first: you may use it, but one line of indexing is all it takes.)

In compatibility mode (which the results use) the final LayerNorm's weight is folded into W_U, so
LN(x) is just x centred and divided by its scale: exercise 4 applies that scale. Its bias is folded
into b_U, which is why the bias term b_U[IO] - b_U[S] above is usually not exactly 0 (on the trained
tiny model it is a few tenths at most for one prompt and close to 0 on average; on an untrained
model it is 0).

What to write: `logit_diff_directions`, one row per prompt: W_U[:, IO_i] - W_U[:, S_i]. A correct
answer has shape (batch, d_model), and its dot product with the final LayerNorm's output at each
prompt's end position is that prompt's logit difference minus (b_U[IO] - b_U[S]).
"""

import torch
from jaxtyping import Float
from torch import Tensor

from arena_course.ioi.dataset import IOIDataset


def logit_diff_directions(model, data: IOIDataset) -> Float[Tensor, "batch d_model"]:
    """The direction in the residual stream that the logit difference reads, for each prompt.

    Args:
        model: a TransformerBridge; `model.W_U` has shape (d_model, d_vocab).
        data: the prompts; `data.io_tokens`, `data.s_tokens` are (batch,) token ids.

    Returns:
        (batch, d_model): row i is W_U[:, IO_i] - W_U[:, S_i].
    """
    # SOLUTION
    # Column t of W_U is what token t's logit reads from the (normalised) residual stream. Indexing
    # the columns with a (batch,) tensor gives (d_model, batch): transpose to one row per prompt.
    io_directions = model.W_U[:, data.io_tokens].T  # (batch, d_model)
    s_directions = model.W_U[:, data.s_tokens].T  # (batch, d_model)
    return io_directions - s_directions
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "return W_U[:, IO] - W_U[:, S] for each prompt, shape (batch, d_model)"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # A check on an untrained tiny model: the logit difference is the dot product of the final
    # LayerNorm's output with your directions (b_U is 0 in an untrained model).
    from arena_course.ioi.models import tiny_ioi_model

    model = tiny_ioi_model()
    model.enable_compatibility_mode(disable_warnings=True)
    data = IOIDataset.generate(model.tokenizer, 6)
    with torch.no_grad():
        logits, cache = model.run_with_cache(data.toks)
    batch = torch.arange(len(data))
    normalized = cache["ln_final.hook_normalized"][batch, data.word_idx["end"]]  # (batch, d_model)
    directions = logit_diff_directions(model, data)
    end_logits = logits[batch, data.word_idx["end"]]
    print(
        "from the logits:     ",
        [
            round(v, 4) for v in (
                end_logits[batch, data.io_tokens] - end_logits[batch, data.s_tokens]
            ).tolist()
        ],
    )
    print(
        "LN output · direction:", [round(v, 4) for v in (normalized * directions).sum(-1).tolist()]
    )
