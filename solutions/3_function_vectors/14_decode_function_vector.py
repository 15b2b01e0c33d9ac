"""What the function vector says: its decoded vocabulary
=====================================================

Difficulty: 2/5    Importance: 4/5    Time: ~15 minutes

Source: Todd et al. 2023, "Function Vectors in Large Language Models"
(https://arxiv.org/abs/2310.15213), the section on what function vectors encode (the FV read through
the model's decoder, the final layer norm and the unembedding, and the table of each task's top
tokens).

The function vector is a d_model vector added to the residual stream, and the residual stream is
what the model's decoder turns into next-token logits: the final layer norm `ln_f`, then the
unembedding `lm_head`. So one can ask the decoder what the FV alone would say, as if it were the
whole residual stream at the last position:

    decoded = lm_head(ln_f(FV))          # (d_vocab,) logits

and read the tokens with the largest logits. For GPT-J, Todd et al. find that for many tasks these
top tokens belong to the task's output space (for a country-capital task, city names; for a
translation task, words of the target language). The FV is not only "the answer to this query": it
says what kind of answer the task wants, and the query supplies which one.

Why the layer norm? The unembedding was trained on the residual stream *after* `ln_f`, which centres
each vector and rescales it by learnt gains. Skipping it reads the FV through a decoder that never
saw a vector like it, and the top tokens can change.

nnsight for this, as in exercise 09: calling one of the model's modules on a tensor of your own runs
it inside a trace, where the model is (on NDIF too). The trace needs some input to run; any short
prompt will do, since nothing here depends on it. For example, the embedding vector of token 42 read
back through the MLP of block 0:

    with model.trace("Q", remote=remote):
        mlp_out = model.transformer.h[0].mlp(model.transformer.wte.weight[42]).save()   # (d_model,)

(`wte` is the token embedding, `(d_vocab, d_model)`; the unembedding is a different matrix in GPT-J,
`lm_head`, with a bias.)

What to write: `decode_function_vector`, returning the k token ids with the largest decoded logits,
largest first, and those logits. (The result turns the ids into strings with the tokenizer.)

Before running the section's result (exercise 15's file), answer question 14q: what do you expect
the country_capital FV to decode to?
"""

from jaxtyping import Float, Int
from torch import Tensor


def decode_function_vector(
    model,
    fv: Float[Tensor, "d_model"],
    k: int,
    *,
    remote: bool = False,
) -> tuple[Int[Tensor, "k"], Float[Tensor, "k"]]:
    """The k tokens the model's decoder (final layer norm, then unembedding) ranks highest for the
    function vector on its own.

    Args:
        model: an nnsight `TransformersModel` with GPT-J's module names (`model.transformer.ln_f`,
            `model.lm_head`).
        fv: the function vector, (d_model,).
        k: how many tokens.
        remote: run on NDIF (True) or locally (False); pass it to `model.trace`.

    Returns:
        (ids, logits): the k token ids with the largest logits in lm_head(ln_f(fv)), largest first,
        and those logits, each a tensor of shape (k,).
    """
    # SOLUTION
    # any input: only the modules are used
    with model.trace(model.tokenizer.bos_token, remote=remote):
        decoded = model.lm_head(model.transformer.ln_f(fv)).save()  # (d_vocab,) logits

    top = decoded.detach().cpu().topk(k)
    return top.indices, top.values
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "in a trace (any short input), put the fv through ln_f then "
    #     "lm_head; return the top-k ids and logits"
    # )
    # END EXERCISE
