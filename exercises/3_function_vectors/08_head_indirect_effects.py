"""Each head's causal indirect effect
===================================

Difficulty: 4/5    Importance: 5/5    Time: ~35 minutes

Source: Todd et al. 2023, "Function Vectors in Large Language Models"
(https://arxiv.org/abs/2310.15213), section 2 (causal mediation analysis: the average indirect
effect of each attention head); their code computes it in `src/compute_indirect_effect.py`
(https://github.com/ericwtodd/function_vectors).

Section 2 found the task in the residual stream at one layer: a whole d_model vector. Todd et al.
ask a sharper question: which *attention heads* carry the task to the last position? Their answer
comes from causal mediation, one head at a time:

1. **Mean head outputs.** Run the clean ICL prompts of a task and record, at the last position, what
   each head writes: its output *before* the output projection. For GPT-J that is the input of
   `attn.out_proj`: a `(batch, seq, d_model)` tensor that is the n_heads head outputs side by side
   (`d_model = n_heads * d_head`; head h is the slice `h * d_head : (h + 1) * d_head`). Reshape it
   to `(batch, seq, n_heads, d_head)`, take position -1, and average over the prompts:
   `ā[layer, head]`, of shape `(d_head,)`, for every layer and head.
2. **Corrupted prompts.** `dataset.corrupted()` has the same queries, with the example answers
   shuffled ("Q: hot\nA: up\n\nQ: big\nA: cold\n\n..."): the examples no longer show the task, and
   the model's probability of the right answer drops.
3. **Patch one head.** Run the corrupted prompts again, but replace head (layer, h)'s output at the
   last position by `ā[layer, h]`. If that head carries the task, the right answer's probability
   comes back. The **causal indirect effect** of the head is how much it rises:

       CIE(layer, h) = mean over prompts of  P(answer | corrupted, head patched) - P(answer |
       corrupted)

   where P is the softmax probability of the answer's first token at the last position. Todd et al.
   average it over tasks to pick the heads of the function vector (next exercise); we use one task.

Why the input of `out_proj`, not its output? `out_proj` mixes the heads: its output at one position
is `W_O @ concat(heads)`, a single d_model vector in which the heads are summed, so no slice of it
is "head h". Only its input is split by head. (The next exercise puts a head's slice back through
`out_proj`.)

nnsight for this. A module's `.input` (its first positional argument) is read and edited exactly
like its `.output`: a real tensor inside the trace, edited in place by an indexed assignment, and
the module then runs on the edited value. For example, zeroing the first 16 coordinates of what
block 2's MLP reads at the last position:

    mlp_in = model.transformer.h[2].mlp.input      # (batch, seq, d_model)
    mlp_in[:, -1, :16] = 0                          # the MLP runs on the edited input

Thinking of out_proj's input as `(batch, seq, n_heads, d_head)` is a `.view(...)` away; a view
shares the tensor's memory, so assigning into a view edits the tensor (a reshape that copies, or
`.clone()`, does not reach the model). `model.config` has the sizes: `n_layer`, `n_head`, `n_embd`
(= d_model).

Efficiency. n_layers * n_heads patched runs (448 for GPT-J) is a lot of forward passes, and on NDIF
every trace is a request. Batch them with the invokes of exercise 06: one trace per layer, and in it
one invoke of the corrupted prompts per head, each patching its own head (an edit in an invoke
touches only its own rows). Each invoke saves its own measurement into a list made before the `with`
(a list built inside the trace doesn't come back). The mean head outputs come from a separate trace
on the clean prompts before the loop, so they are ordinary tensors by the time the invokes use them:
no barrier needed.

What to write: `mean_head_outputs` (step 1) and `head_indirect_effects` (steps 2-3, using it). A
correct `head_indirect_effects` returns a `(n_layers, n_heads)` grid of probability differences: on
GPT-J most are near 0 and a handful of heads in the early-middle layers stand out, as Todd et al.
found; on the tiny random model of the tests they are small numbers of both signs.

Then run the section's result from exercise 10's file (the heatmap of this grid and generation with
the function vector): `python exercises/3_function_vectors/10_generate_with_function_vector.py
[--tiny]`.
"""

import torch
from jaxtyping import Float
from torch import Tensor

from arena_course.function_vectors.tasks import ICLDataset, answer_token_ids


def mean_head_outputs(
    model,
    prompts: list[str],
    *,
    remote: bool = False,
) -> Float[Tensor, "n_layers n_heads d_head"]:
    """Each head's output at the last position, averaged over the prompts.

    Args:
        model: an nnsight `TransformersModel` with GPT-J's module names
            (`model.transformer.h[L].attn.out_proj`).
        prompts: the clean ICL prompts (left-padded in the batch: each ends at position -1).
        remote: run on NDIF (True) or locally (False); pass it to `model.trace`.

    Returns:
        (n_layers, n_heads, d_head): entry [layer, h] is head h of block `layer`'s output (the input
        of that block's `attn.out_proj`, split into heads) at the last position, averaged over the
        prompts.
    """
    raise NotImplementedError(
        "one trace of the prompts; for each layer, the heads' outputs at the last position "
        "(out_proj's input, split by head), averaged over the prompts"
    )


def head_indirect_effects(
    model,
    dataset: ICLDataset,
    *,
    remote: bool = False,
) -> Float[Tensor, "n_layers n_heads"]:
    """The causal indirect effect of every attention head (Todd et al.): patch its mean output over
    the clean prompts into the corrupted prompts, at the last position, and measure how much the
    right answer's probability rises.

    Args:
        model: an nnsight `TransformersModel` with GPT-J's module names.
        dataset: the clean ICL prompts of one task; `dataset.corrupted()` gives the same prompts
            with the example answers shuffled, `dataset.completions` the right answers (" cold").
        remote: run on NDIF (True) or locally (False); pass it to every `model.trace`.

    Returns:
        (n_layers, n_heads): entry [layer, h] is the mean over prompts of P(answer | corrupted
        prompt, head h of `layer` patched with its clean mean) - P(answer | corrupted prompt), P
        being the softmax probability of the answer's first token at the last position.
    """
    n_layers, n_heads = model.config.n_layer, model.config.n_head
    d_head = model.config.n_embd // n_heads
    corrupted = dataset.corrupted()

    # The right answer's first token for each prompt, and the batch rows to index the probabilities
    # with.
    answers = answer_token_ids(model.tokenizer, dataset.completions)  # (batch,)
    rows = torch.arange(len(dataset))

    raise NotImplementedError(
        "baseline P(answer) on the corrupted prompts; per layer, one trace with one invoke per "
        "head patching its clean mean at the last position; return the mean rise"
    )
