"""Patching h into zero-shot prompts
==================================

Difficulty: 3/5    Importance: 5/5    Time: ~20 minutes

Source: Hendel et al. 2023, "In-Context Learning Creates Task Vectors"
(https://arxiv.org/abs/2310.15916), section 3 (patching the task vector into a prompt with only the
query).

The test of h (exercise 04). Give the model a prompt with no examples, "Q: up\nA:". Without examples
it has no way to know which task you mean: it may repeat the word, or continue with anything. Now
run it again, but when block `layer` has run, overwrite the residual stream at the last position
with h, the mean of that position over ICL prompts of the task:

    resid_L[i, -1]  <-  h            for every zero-shot prompt i

and let the rest of the model run on. If h carries the task, the blocks after `layer` read the task
from the last position and the query from the query's position (which the patch left alone), and the
model answers " down". Hendel et al. find that this works at some middle layers: too early, and h
holds no task yet (it has not been computed from the examples); too late, and the model has already
combined task and query at the last position, so the patch overwrites the query too (everything the
model had computed for this prompt at that position is replaced by the average of other prompts).
Exercise 07 measures that layer by layer.

Two runs of the model: one over the ICL prompts to get h (exercise 04, given solved below), then one
over the zero-shot prompts with the patch (yours). For comparison, the function also runs the
zero-shot prompts without the patch (given), and returns both sets of greedy next tokens: the argmax
of the logits at the last position.

nnsight: exercise 03 scaled a slice of a module's output in place. Assigning a tensor of your own to
a slice works the same way: it is copied in, in place, before the next module reads it, broadcasting
as any PyTorch assignment does. For example, replacing what MLP 0 adds at every prompt's
second-to-last position by a vector v of shape (d_model,):

    model.transformer.h[0].mlp.output[:, -2] = v          # v broadcasts over the batch

leaves the other positions as they were. Your patch is the same kind of assignment on block
`layer`'s output (the residual stream), at every prompt's last position (left padding again: -1 for
all of them). Everything read later in the same trace is computed from the edited activation, so
read the logits after the edit, in the order the model runs. `h` is an ordinary tensor from the
first trace; nnsight sends it along with your code when the trace runs remotely.

What correct looks like: two integer tensors of shape (batch,). On a random model the patched tokens
are just different from the clean ones; on GPT-J-6B, with h from antonym prompts patched at a good
middle layer, zero-shot prompts like "Q: up\nA:" should get their antonyms (exercise 07's result
counts how many).
"""

from jaxtyping import Int
from torch import Tensor


def patch_hidden_state(
    model,
    icl_prompts: list[str],
    zero_shot_prompts: list[str],
    layer: int,
    *,
    remote: bool = False,
) -> tuple[Int[Tensor, "batch"], Int[Tensor, "batch"]]:
    """The zero-shot prompts' next tokens without and with h (from the ICL prompts) patched in at
    `layer`.

    Args:
        model: an nnsight `TransformersModel` with GPT-J's module names (`model.transformer.h[L]`,
            `model.lm_head`).
        icl_prompts: ICL prompts of one task, to compute h from.
        zero_shot_prompts: prompts with only a query ("Q: up\nA:"), to patch h into.
        layer: the block whose output is averaged (for h) and then patched (0-based).
        remote: run on NDIF (True) or locally (False); pass it to every `model.trace`.

    Returns:
        (clean, patched), each (batch,) with batch = len(zero_shot_prompts): the token id with the
        largest logit at the last position, without the patch and with block `layer`'s output at the
        last position replaced by h.
    """
    # Exercise 04, solved: h, the mean over the ICL prompts of block `layer`'s output at the last
    # position.
    with model.trace(icl_prompts, remote=remote):
        h = model.transformer.h[layer].output[:, -1].mean(dim=0).save()

    # The zero-shot prompts as they are: what the model says with no examples.
    with model.trace(zero_shot_prompts, remote=remote):
        clean_logits = model.lm_head.output[:, -1].save()  # (batch, d_vocab)
    clean = clean_logits.argmax(dim=-1)

    # SOLUTION
    with model.trace(zero_shot_prompts, remote=remote):
        # Overwrite the residual stream after block `layer` at the last position of every prompt
        # with h (broadcast over the batch). The earlier positions, the query among them, are
        # untouched.
        model.transformer.h[layer].output[:, -1] = h

        # The blocks after `layer` and the unembedding now run on the patched residual stream.
        patched = model.lm_head.output[:, -1].argmax(dim=-1).save()
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "a trace of the zero-shot prompts that puts h into block `layer`'s "
    #     "output at the last position; save the next tokens"
    # )
    # END EXERCISE

    return clean, patched
