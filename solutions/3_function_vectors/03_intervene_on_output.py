"""An intervention: editing a layer's output
==========================================

Difficulty: 2/5    Importance: 4/5    Time: ~15 minutes

Sources: Fiotto-Kaufman et al. 2024, "NNsight and NDIF: Democratizing Access to Foundation Model
Internals" (https://arxiv.org/abs/2407.14561), section 3 (interventions: setting a module's output
inside the trace); Todd et al. 2023, "Function Vectors in Large Language Models"
(https://arxiv.org/abs/2310.15213), whose every experiment is such an edit.

Reading activations tells you what is there; editing them tells you what it does. Everything in the
rest of this chapter is an edit made during the forward pass: replacing the last position's hidden
state with a task's mean (section 2), patching one head's output (section 3), adding a vector to the
residual stream (section 4). Here is the simplest one: scale the output of one MLP at the last
position, and see the prediction change. With `scale = 0` this is a zero-ablation: what does the
model predict without that MLP's contribution to the last token?

Editing in place. Inside a trace, a module's `.output` is the real tensor the module just returned,
and the model has not yet used it: what you do to it, the rest of the forward pass sees. Edit it in
place, with an indexed assignment. For example, doubling the token embedding at every prompt's
second-to-last position:

    emb = model.transformer.wte.output          # (batch, seq, d_model)
    emb[:, -2] = emb[:, -2] * 2                  # in place: block 0 reads the doubled embedding

Rebinding a name (`emb = emb * 2`) makes a new tensor that the model never sees: the run is
unchanged. (Assigning a whole new tensor to the module's output,
`model.transformer.wte.output = new`, works too.) In GPT-J a block computes
`x + attn(ln_1(x)) + mlp(ln_1(x))`: the attention and the MLP read the same input in parallel, and
the block adds both outputs to the residual stream. Scaling the MLP's output at the last position
changes only what the block adds there, and, the model being causal, only the last position's later
computation: the logits there.

Saving before an edit. `.save()` keeps a reference to the object you call it on, not a copy. A slice
such as `emb[:, -2]` is a view of the module's output tensor: save it, then edit the output in
place, and the saved value holds the edited numbers too. To keep the value from before the edit,
save a copy (`.clone()`) taken before the edit. This mistake is silent (no error, just a "before"
equal to the "after"), which is why the function below returns both.

What to write: `intervene_on_output`, one trace that (1) saves a copy of block `layer`'s MLP output
at the last position, (2) multiplies that slice by `scale` in place, (3) saves the MLP output at the
last position again (now edited) and the logits at the last position. A correct answer has
`after == scale * before` and, for `scale = 1`, the same logits as a clean run (exercise 01's).

Then run this file: the section's result. It runs your exercises 01-03 on GPT-J-6B and prints its
predictions on ICL prompts of the five tasks, how much each block's MLP output at the last position
matters to the answer (zeroed one block at a time, with the predictions without the one that matters
most), and draws the last block's attention at the last position:
results/function_vectors/attention.png. GPT-J runs remotely on NDIF if NDIF_API_KEY is set (a free
key from https://login.ndif.us), else locally if its weights (24 GB in float32) are in the Hugging
Face cache. With `--tiny` it runs the same code on the chapter's tiny GPT-J (3 blocks), trained on
its ICL prompts in about half a minute the first time, then cached in results/function_vectors
(every section's --tiny result uses it), and writes attention_tiny.png. Without a model it says what
it needs in one line.

    python exercises/3_function_vectors/03_intervene_on_output.py [--tiny]
"""

from jaxtyping import Float
from torch import Tensor


def intervene_on_output(
    model,
    prompts: list[str],
    layer: int,
    scale: float,
    *,
    remote: bool = False,
) -> tuple[
    Float[Tensor, "batch d_model"], Float[Tensor, "batch d_model"], Float[Tensor, "batch d_vocab"]
]:
    """Scale block `layer`'s MLP output at the last position by `scale` during the forward pass.

    Args:
        model: an nnsight `TransformersModel` with GPT-J's module names
            (`model.transformer.h[L].mlp`).
        prompts: the prompts (left-padded in the batch: each ends at position -1).
        layer: whose MLP to edit (0-based).
        scale: the factor (0 zero-ablates the MLP's output at the last position; 1 changes nothing).
        remote: run on NDIF (True) or locally (False); pass it to `model.trace`.

    Returns:
        (before, after, logits):
        before: the MLP's output at the last position before the edit, (batch, d_model);
        after: the same slice after the edit (scale * before), (batch, d_model);
        logits: the logits at the last position of the edited run, (batch, d_vocab).
    """
    # SOLUTION
    with model.trace(prompts, remote=remote):
        # (batch, seq, d_model): the tensor the block will add
        out = model.transformer.h[layer].mlp.output

        # A copy: `.save()` alone would keep a view of `out`, which the next line overwrites.
        before = out[:, -1].clone().save()

        # The edit, in place: the rest of the forward pass sees the scaled output.
        out[:, -1] = out[:, -1] * scale

        after = out[:, -1].save()
        logits = model.lm_head.output[:, -1].save()

    return before, after, logits
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "one trace: save a copy of the MLP output at the last position, scale "
    #     "it in place, save it again and the last logits"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # The section's result: your exercises 01-03 (loaded from the files next to this one) on
    # GPT-J-6B (NDIF or a local copy), or with --tiny on a tiny GPT-J trained on the chapter's ICL
    # prompts.
    import sys

    from arena_course.function_vectors import nnsight_basics
    from arena_course.loading import load_sibling
    from arena_course.models import ModelUnavailable

    args = nnsight_basics.result_args()
    try:
        setting = nnsight_basics.result_setting(tiny=args.tiny)
    except ModelUnavailable as e:
        print(e, file=sys.stderr)  # one line: what is needed and how to get it
        sys.exit(1)

    nnsight_basics.run_result(
        setting,
        trace_and_save=load_sibling(__file__, "trace_and_save").trace_and_save,
        attention_patterns=load_sibling(__file__, "attention_patterns").attention_patterns,
        intervene_on_output=intervene_on_output,
        n_per_task=args.prompts,
    )
