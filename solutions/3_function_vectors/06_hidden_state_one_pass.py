"""Both runs in one forward pass
=============================

Difficulty: 4/5    Importance: 3/5    Time: ~20 minutes

Source: Fiotto-Kaufman et al. 2024, "NNsight and NDIF: Democratizing Access to Foundation Model
Internals" (https://arxiv.org/abs/2407.14561): several inputs in one trace; the patch is exercise
05's (Hendel et al. 2023, https://arxiv.org/abs/2310.15916).

Exercise 05 ran the model twice for the patch: once over the ICL prompts to get h, once over the
zero-shot prompts to patch it in. The zero-shot run doesn't need the ICL run to have *finished*,
only to have got as far as block `layer`: both can be one forward pass over one batch, ICL prompts
and zero-shot prompts together, with h computed from the ICL rows and written into the zero-shot
rows of the same activation, on its way to block `layer + 1`. Half the passes; and remotely, one
request to NDIF instead of two, with h never leaving the server.

    exercise 05: two forward passes

      pass 1   ICL prompts       ──► blocks 0 … L: h taken at L (the rest unused)
                                                  │ h, saved and brought back
      pass 2   zero-shot prompts ──► blocks 0 … L: h written at -1 ──► blocks L+1 …

    this exercise: one forward pass over one batch, each invoke its own rows

      invoke 1 (ICL rows)       ──► blocks 0 … L: h from these rows ──► barrier
                                                                           │ h, inside the trace
      invoke 2 (zero-shot rows) ──► blocks 0 … L: waits at the barrier ──► h written at -1 ──►
      blocks L+1 …

Invokes. A trace can hold several inputs, each in its own `invoke` block: `model.trace(...)` is then
called without prompts (but still with `remote=...`) and binds the tracer with `as tracer`, and each
`tracer.invoke(...)` block inside it (a `with` block, given a list of prompts) brings one set of
prompts. nnsight puts all the invokes' prompts into one batch (left-padded together, so -1 is still
every prompt's last token) and runs the model once. Inside an invoke, a module's `.output` is that
invoke's rows only: for block `layer`, `(len(icl_prompts), seq, d_model)` in an invoke of the ICL
prompts, `(len(zero_shot_prompts), seq, d_model)` in one of the zero-shot prompts; an edit in an
invoke touches only its own rows.

The barrier. Each invoke's code runs in step with the forward pass, pausing wherever it waits for a
module the model has not reached yet. The invokes are not run one after the other: they take turns,
and nothing tells one to wait for a value another computes. If both read block `layer`, and the
second uses a value the first computes there, the second gets to that line while the first is still
waiting for block `layer`: the value does not exist yet, and Python stops with NameError.

A barrier is a meeting point for invokes. `tracer.barrier(n)`, made in the trace before the invokes,
returns a function; each of the n invokes that meet there calls it (no arguments) at its meeting
point. Each call waits until all n have arrived; the last to arrive releases them all. So everything
above the call in one invoke happens before anything below it in another, within the same forward
pass. For example, copying what MLP 1 adds at the second-to-last position in one invoke into another
invoke's rows (two lists of prompts of the same length):

    with model.trace() as tracer:
        meet = tracer.barrier(2)
        with tracer.invoke(english):
            first = model.transformer.h[1].mlp.output[:, -2]
            meet()                                # `first` exists from here on
        with tracer.invoke(french):
            meet()                                # waits for the english invoke to get here
            model.transformer.h[1].mlp.output[:, -2] = first

The count must be the number of invokes that call it: with `tracer.barrier(1)` the first arrival
releases itself and the NameError is back; with 3 the meeting never completes and nnsight stops with
"A barrier was never reached by every block it waits for". When the second invoke goes on to edit
block `layer`'s output, the model is still at that block, and the edit reaches block `layer + 1`.

A value that moves between invokes inside the trace doesn't need `.save()`; save only what you
return, the zero-shot prompts' next tokens.

What correct looks like: exactly the tokens of exercise 05's patched run (the test compares them
token for token), from one call of the model. The logits behind them can differ in the last digits,
because the zero-shot rows are padded to the ICL prompts' length here; on the test's model that is
far too little to change a token.
"""

from jaxtyping import Int
from torch import Tensor


def hidden_state_one_pass(
    model,
    icl_prompts: list[str],
    zero_shot_prompts: list[str],
    layer: int,
    *,
    remote: bool = False,
) -> Int[Tensor, "batch"]:
    """Exercise 05's patch in one forward pass: h from the ICL prompts, patched into the zero-shot
    prompts.

    Args:
        model: an nnsight `TransformersModel` with GPT-J's module names (`model.transformer.h[L]`,
            `model.lm_head`).
        icl_prompts: ICL prompts of one task, to compute h from (the first invoke).
        zero_shot_prompts: prompts with only a query, to patch h into (the second invoke).
        layer: the block whose output is averaged (for h) and then patched (0-based).
        remote: run on NDIF (True) or locally (False); pass it to `model.trace`.

    Returns:
        patched, (batch,) with batch = len(zero_shot_prompts): the token id with the largest logit
        at the last position of each zero-shot prompt, with block `layer`'s output at the last
        position replaced by h, the mean of the same over the ICL prompts.
    """
    # SOLUTION
    with model.trace(remote=remote) as tracer:
        # One meeting point for the two invokes: the first computes h before it, the second uses h
        # after it.
        barrier = tracer.barrier(2)

        with tracer.invoke(icl_prompts):
            # The ICL rows only: their mean last-position output of block `layer` (exercise 04).
            h = model.transformer.h[layer].output[:, -1].mean(dim=0)
            barrier()

        with tracer.invoke(zero_shot_prompts):
            # Wait for h, then write it into the zero-shot rows' last position, still at block
            # `layer`.
            barrier()
            model.transformer.h[layer].output[:, -1] = h
            patched = model.lm_head.output[:, -1].argmax(dim=-1).save()

    return patched
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "one trace, two invokes (ICL prompts, then zero-shot prompts) and a "
    #     "barrier: compute h in the first, patch it in the second"
    # )
    # END EXERCISE
