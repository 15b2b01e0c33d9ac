"""The task-encoding hidden state h
=================================

Difficulty: 2/5    Importance: 5/5    Time: ~15 minutes

Sources: Hendel et al. 2023, "In-Context Learning Creates Task Vectors"
(https://arxiv.org/abs/2310.15916), sections 2-3 (the task vector and how to test it by patching);
Todd et al. 2023, "Function Vectors in Large Language Models" (https://arxiv.org/abs/2310.15213),
section 2 (averaging activations over ICL prompts of one task), which starts from the same question.

Where does the model keep the task? Hendel et al. propose a simple picture of in-context learning.
Given examples S ("hot -> cold, big -> small") and a query x ("up"), the model works in two steps:
up to some middle layer L, it compresses the examples into one vector at the last position, a task
vector θ(S) that does not depend on the query; after layer L, it applies the task to the query,
reading θ from that position and x from the query's position. If the picture is right, you can take
θ out of ICL prompts and put it into a prompt with no examples ("Q: up\nA:") at the same place, and
the model will do the task. This section does exactly that, and the next one (Todd et al.'s function
vectors) finds which attention heads write θ.

This exercise computes the vector. One ICL prompt's residual stream at the last position mixes the
task with everything else about that prompt (its query, its examples). Average it over many prompts
of the same task and what they don't share washes out; what stays is what every prompt of the task
has in common, the task, plus what the last position of any "Q: x\nA:" prompt has. Write

    h = (1/N) Σ_i  resid_L[i, -1]            resid_L = the output of block L: (N, seq, d_model)

the mean over the N prompts of block `layer`'s output (the residual stream after it) at the last
position. h has shape (d_model,): 4096 numbers for GPT-J-6B.

The last position is -1 for every prompt: nnsight pads a batch on the left (exercise 01), so the
prompts of a batch all end there whatever their lengths.

nnsight: you can compute with a module's output inside the trace, not only save it whole: slice it,
reduce it with any tensor method, and save only the result. For example, the size of what the MLP of
block 0 adds at each prompt's second-to-last token, one number per prompt:

    with model.trace(prompts):
        mlp_norms = model.transformer.h[0].mlp.output[:, -2].norm(dim=-1).save()    # (batch,)

Reducing inside the block matters remotely: on NDIF only saved values travel back, and a saved
`(batch, seq, d_model)` output of GPT-J is hundreds of times bigger than the vector you need. As in
exercise 01, `.save()` the value you keep (the reduced one, not the output you took it from), and
pass `remote` on to the trace.

What correct looks like: a float tensor of shape (d_model,); for a batch of one prompt, h is that
prompt's block-`layer` output at its last position.
"""

from jaxtyping import Float
from torch import Tensor


def mean_task_hidden_state(
    model,
    prompts: list[str],
    layer: int,
    *,
    remote: bool = False,
) -> Float[Tensor, "d_model"]:
    """The mean, over ICL prompts, of block `layer`'s output at the last position: the task vector
    h.

    Args:
        model: an nnsight `TransformersModel` with GPT-J's module names (`model.transformer.h[L]`).
        prompts: ICL prompts of one task (any lengths: the batch is left-padded, so each ends at
            -1).
        layer: which block's output (0-based).
        remote: run on NDIF (True) or locally (False); pass it to `model.trace`.

    Returns:
        h, shape (d_model,): the average over the prompts of
        `model.transformer.h[layer].output[i, -1]`.
    """
    # SOLUTION
    with model.trace(prompts, remote=remote):
        # Block `layer`'s output is (batch, seq, d_model); keep the last position of every prompt,
        # (batch, d_model), and average over the prompts. Only this vector is saved (and, remotely,
        # sent back).
        h = model.transformer.h[layer].output[:, -1].mean(dim=0).save()

    return h
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "one trace: save the mean over the prompts of block `layer`'s output at the last position"
    # )
    # END EXERCISE
