"""The function vector on prompts it wasn't built from
===================================================

Difficulty: 2/5    Importance: 4/5    Time: ~15 minutes

Source: Todd et al. 2023, "Function Vectors in Large Language Models"
(https://arxiv.org/abs/2310.15213), section 3 (portability: the function vector added to zero-shot
prompts and to natural-text prompts, forms of prompt it was never extracted from, still triggers the
task).

Section 3 built the function vector (FV) from ICL prompts of one form, "Q: x\nA: y\n\n...Q: x\nA:",
and added it to zero-shot prompts of the same form. Is the FV tied to that form, or does it carry
the task itself? Todd et al. test it on prompts that look nothing like the ones it came from:
natural text that ends where the answer should start, such as `The word "hot" means` or `hot :`. If
adding the FV makes the model's next token the task's answer there too, the vector is a portable
trigger for the task.

A template is a string with a `{x}` slot (Python's `str.format`):
`"The word '{x}' means".format(x="hot")`. A task's word pairs `(x, y)` fill the slot with x; the
right answer is y, scored by the first token of " y" (with the leading space, as in exercise 08:
`answer_token_ids` below does it).

The measure. For each prompt, is the model's most likely next token (the argmax of the logits at the
last position) the answer's first token? Once as the model is, and once with the FV added to block
`layer`'s output at the last position (exercise 10's intervention, for one forward pass, no
generation). Todd et al. report this top-1 accuracy for each prompt form, without and with the FV.

One forward pass for both, with two invokes of the same prompts (exercises 06 and 10): the first
plain, the second with the vector added; each invoke saves its own rows' predictions. Prompts filled
with words of different lengths are left-padded, so every prompt's last token is at position -1.

nnsight reminder: a trace given no prompts of its own (`model.trace(remote=remote)`, bound with
`as`) runs whatever its invokes bring; a value read in an invoke is that invoke's rows only, and an
in-place edit made in one invoke touches only its rows. The argmax over the vocabulary of the logits
at position -1 is the top next token, one id per prompt.

What to write: `fv_accuracy`, returning for each pair whether the top next token is the answer,
without and with the FV: two boolean tensors of shape (n_pairs,). (The result averages them into
accuracies.)

Then run the section's result from exercise 15's file: your exercises 13-15 (with 08-09 to build the
FVs) on GPT-J-6B, or with --tiny on the chapter's tiny GPT-J: `python
exercises/3_function_vectors/15_function_vector_algebra.py [--tiny]`.
"""

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from arena_course.function_vectors.tasks import answer_token_ids


def fv_accuracy(
    model,
    template: str,
    pairs: list[tuple[str, str]],
    fv: Float[Tensor, "d_model"],
    layer: int,
    *,
    remote: bool = False,
) -> tuple[Bool[Tensor, "n_pairs"], Bool[Tensor, "n_pairs"]]:
    """For each pair (x, y), whether the model's top next token after `template` filled with x is
    y's first token, without and with the function vector added to block `layer`'s output at the
    last position.

    Args:
        model: an nnsight `TransformersModel` with GPT-J's module names (`model.transformer.h[L]`,
            `model.lm_head`).
        template: a prompt with a `{x}` slot, e.g. "Q: {x}\\nA:" or "The word '{x}' means".
        pairs: the task's (x, y) word pairs.
        fv: the function vector, (d_model,).
        layer: the block whose output (at the last position) the vector is added to.
        remote: run on NDIF (True) or locally (False); pass it to `model.trace`.

    Returns:
        (correct_without, correct_with): two boolean tensors (n_pairs,), True where the argmax of
        the logits at the last position is the first token of " y".
    """
    answers = answer_token_ids(model.tokenizer, [" " + y for _, y in pairs])  # (n_pairs,)

    # SOLUTION
    prompts = [template.format(x=x) for x, _ in pairs]

    with model.trace(remote=remote) as tracer:
        # The model as it is.
        with tracer.invoke(prompts):
            without = model.lm_head.output[:, -1].argmax(dim=-1).save()  # (n_pairs,)

        # The same prompts, the function vector added to block `layer`'s output at the last
        # position.
        with tracer.invoke(prompts):
            model.transformer.h[layer].output[:, -1] += fv
            with_fv = model.lm_head.output[:, -1].argmax(dim=-1).save()  # (n_pairs,)

    return without.cpu() == answers, with_fv.cpu() == answers
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "fill the template with each x; one trace, two invokes (plain; fv added at the last "
    #     "position of block `layer`); compare each top next token with the answer"
    # )
    # END EXERCISE
