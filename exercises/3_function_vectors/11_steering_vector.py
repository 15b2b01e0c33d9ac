"""A steering vector from a prompt pair
====================================

Difficulty: 2/5    Importance: 4/5    Time: ~15 minutes

Source: Turner et al. 2023, "Activation Addition: Steering Language Models Without Optimization"
(https://arxiv.org/abs/2308.10248): the ActAdd method, and their code's `get_x_vector(prompt1,
prompt2, coeff, act_name, pad_method="tokens_right")`, which pads with GPT-2's " " token.

A function vector comes from many prompts and a search over heads. Turner et al. get a steering
vector from just two prompts. Run GPT-2 XL on "Love" and on "Hate", take the residual streams
entering block 6, and subtract: the difference, position by position, is the **steering vector**
"Love" - "Hate". Added (times a coefficient, say 5) to the first positions of another prompt's
residual stream, it makes the model write as if that prompt were about love: "I hate you because"
continues "...you are so beautiful".

The recipe, exactly:

1. Tokenize both prompts with the BOS token in front, as Turner et al. run GPT-2 (TransformerLens
   prepends it): `with_bos(model.tokenizer, "Love")` is `[BOS, Love]`. (BOS at position 0 also means
   the two residual streams are identical there: the difference at position 0 is exactly zero.)
2. If one prompt has more tokens, pad the shorter one **on the right** with the space token
   (`space_token_id(model.tokenizer)`, GPT-2's " "), so both have the same length `pos` and position
   i of one lines up with position i of the other (the two prompts of a pair such as "I talk about
   weddings constantly" / "I do not talk about weddings constantly" differ in length).
3. Run both through the model in one trace (a batch of two rows, no padding needed now: pass the
   token ids as a `(2, pos)` tensor) and take the residual stream **entering** block `layer`, which
   is the block's input: `model.transformer.h[layer].input`, `(2, pos, d_model)`. (Turner et al.'s
   "layer 6" is TransformerLens's `blocks.6.hook_resid_pre`, the same tensor.)
4. The steering vector is row 0 minus row 1: `(pos, d_model)`, one vector per position.

`.input` works as in exercise 08 (out_proj's input): like `.output`, a value you read (and can save
or edit) inside a trace. For a GPT-2 block it is the hidden-state tensor the block receives, the
previous block's output (for block 0, the embeddings). Read it before anything later in the model,
as always.

The tiny GPT-2 of the tests has GPT-2's module names (`model.transformer.h[L]`) and a word-level
tokenizer with no token for a lone space: `space_token_id` gives its padding token instead.

A correct answer has shape (pos, d_model) with pos the longer prompt's token count plus one (BOS),
and row 0 equal to zero.
"""

import torch
from jaxtyping import Float
from torch import Tensor

from arena_course.function_vectors.generation import space_token_id, with_bos


def steering_vector(
    model,
    prompt_add: str,
    prompt_sub: str,
    layer: int,
    *,
    remote: bool = False,
) -> Float[Tensor, "pos d_model"]:
    """Turner et al.'s steering vector: the residual stream entering block `layer` on `prompt_add`
    minus that on `prompt_sub`, position by position (both with BOS in front, the shorter padded on
    the right with the space token).

    Args:
        model: an nnsight `TransformersModel` with GPT-2's module names (`model.transformer.h[L]`).
        prompt_add: the prompt whose activations are added ("Love").
        prompt_sub: the prompt whose activations are subtracted ("Hate").
        layer: the block whose input (the residual stream before it) is read.
        remote: run on NDIF (True) or locally (False); pass it to `model.trace`.

    Returns:
        (pos, d_model), pos = 1 + the longer prompt's number of tokens: `h[layer].input` on
        [BOS, prompt_add, spaces] minus on [BOS, prompt_sub, spaces].
    """
    tokenizer = model.tokenizer
    add_ids, sub_ids = with_bos(tokenizer, prompt_add), with_bos(tokenizer, prompt_sub)

    raise NotImplementedError(
        "pad the shorter token list on the right with space_token_id; "
        "one trace of both; h[layer].input[0] - [1]"
    )
