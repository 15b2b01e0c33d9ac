"""A trace: hidden states and logits
==================================

Difficulty: 2/5    Importance: 5/5    Time: ~15 minutes

Sources: Todd et al. 2023, "Function Vectors in Large Language Models"
(https://arxiv.org/abs/2310.15213), section 2 (the in-context-learning prompts); Fiotto-Kaufman et
al. 2024, "NNsight and NDIF: Democratizing Access to Foundation Model Internals"
(https://arxiv.org/abs/2407.14561), section 3 (the tracing model).

This chapter is about in-context learning (ICL). Show a language model a few examples of a task and
a query, and it does the task on the query:

    Q: hot\nA: cold\n\nQ: big\nA: small\n\nQ: up\nA:            ->  " down"

Nobody told it the task is "antonyms": it inferred that from the examples. Todd et al. found where
the task is held inside GPT-J-6B (a few attention heads, whose summed output they call a function
vector), and that adding that vector to a prompt with no examples at all makes the model do the
task. We will replicate that. The tool is nnsight, which lets you read and edit any activation of a
PyTorch model from a few lines of ordinary code, on your own machine or remotely on NDIF's servers
for models too big for it.

The prompts. `arena_course.function_vectors.tasks` has five word-pair tasks (`task_names()`:
antonyms, country_capital, english_french, present_past, singular_plural) and `ICLDataset`, which
builds batches of ICL prompts from them:

    data = ICLDataset(load_word_pairs("antonyms"), size=8, n_prepended=2, seed=0)
    data.prompts[0]       # "Q: give\nA: take\n\nQ: north\nA: south\n\nQ: inside\nA:"
    data.completions[0]   # " outside": the right answer, with the leading space GPT-J's tokens have

Each prompt ends in "A:", so the model's prediction at the last position is its answer.

The model. nnsight 0.8 wraps a Hugging Face model in `TransformersModel` (`LanguageModel`, from
older tutorials, still works but is deprecated in 0.8 and warns). The wrapper looks like the model
it wraps: `print(model)` shows GPT-J's module tree; `model.transformer.wte` is the token embedding,
`model.transformer.h[5]` is block 5, its `.attn` and `.mlp` the attention and MLP inside it,
`model.lm_head` the unembedding, and `model.tokenizer` the tokenizer. The chapter's functions take
such a model: the hidden tests pass `tiny_gptj()`, a tiny random GPT-J with the same module names,
and the results pass GPT-J-6B from `load_fv_model()`.

A trace. Everything happens inside a `with model.trace(...)` block, given the prompts (a string or a
list of strings). Inside it, every module has an `.output` (and an `.input`); for example, reading
the token embeddings and one block's MLP output on a single prompt:

    with model.trace("The Eiffel Tower is in the city of"):
        embeddings = model.transformer.wte.output.save()      # (1, seq, d_model)
        mlp_out = model.transformer.h[2].mlp.output.save()    # (1, seq, d_model): what MLP 2 adds

The block's body does not run when Python reaches it. nnsight reads its source, and when the block
ends it tokenizes the prompts, runs the model, and runs your code alongside the forward pass:
reading a module's `.output` waits until that module has run and gives you its output, a real tensor
(you can slice it, index it, do arithmetic on it, even print its shape inside the block). So read
modules in the order the model runs them, or nnsight says the model "already ran past it"
(OutOfOrderError).

Why values vanish. Your code runs in a scratch namespace, not in your function. When the block ends,
nnsight copies back only the values you marked with `.save()`; anything else assigned in the block
is not there afterwards (UnboundLocalError in a function, NameError at the top level). `.save()`
marks the object you call it on, so save the value you bind. A value computed from a saved one later
in the block is a new object: save it too, or compute it after the block from the saved value.

Remote. With `remote=True` the same block runs on NDIF (the National Deep Inference Fabric), next to
a copy of the model already loaded on its GPUs; your code travels there, and only the saved values
come back over the network (so save what you need, not whole activations you will slice later).
nnsight reads your API key from the environment variable NDIF_API_KEY (a free key from
https://login.ndif.us); `nnsight.status()` lists the models NDIF is serving right now, and
`nnsight.is_model_running( "EleutherAI/gpt-j-6b")` says whether GPT-J is one of them. For a remote
run, `load_fv_model()` loads only GPT-J's config and tokenizer: the local object tells nnsight the
module names, and the weights stay on NDIF. Without an API key it loads the real weights from the
Hugging Face cache and the trace runs on your machine. Every function in this chapter takes `remote`
and hands it to `model.trace` as the keyword argument of the same name.

Shapes in transformers 5. A GPT-J block returns a tensor `(batch, seq, d_model)`: the residual
stream after the block. (In transformers 4 it returned a tuple whose element 0 was that tensor, so
old code indexes `[0]` into a block's output; today that silently gives you batch row 0.)
`lm_head`'s output is the logits, `(batch, seq, d_vocab)`. A batch of prompts of different lengths
is padded on the LEFT (nnsight sets this for models that generate, and corrects the position ids),
so every prompt's last token is at position -1.

What to write: `trace_and_save`, one trace over a batch of prompts that saves block `layer`'s output
(every position) and the logits at the last position only (where the answer is predicted), and
returns them with the token the model predicts next for each prompt: the index of the largest of
those logits. Slice the logits inside the trace: GPT-J's are (batch, seq, 50400), tens of megabytes
for a batch, and remotely every saved byte crosses the network. A correct answer has shapes
`(batch, seq, d_model)`, `(batch, d_vocab)` and `(batch,)`, the predictions are integer token ids,
and `model.tokenizer.decode(predictions[i])` is prompt i's predicted next word.
"""

from jaxtyping import Float, Int
from torch import Tensor


def trace_and_save(
    model,
    prompts: list[str],
    layer: int,
    *,
    remote: bool = False,
) -> tuple[
    Float[Tensor, "batch seq d_model"], Float[Tensor, "batch d_vocab"], Int[Tensor, "batch"]
]:
    """Run the model on a batch of prompts and save a block's output, the last logits and the
    predictions.

    Args:
        model: an nnsight `TransformersModel` with GPT-J's module names (`model.transformer.h[L]`,
            `model.lm_head`).
        prompts: the prompts (of any lengths: the batch is left-padded, so each ends at position
            -1).
        layer: which block's output to save (0-based).
        remote: run on NDIF (True) or locally (False); pass it to `model.trace`.

    Returns:
        (hidden, logits, predictions):
        hidden: the output of block `layer` (the residual stream after it), (batch, seq, d_model);
        logits: the output of `model.lm_head` at the last position, (batch, d_vocab);
        predictions: for each prompt, the token id with the largest of those logits, (batch,).
    """
    raise NotImplementedError(
        "one trace: save block `layer`'s output, the logits at "
        "the last position, and their argmax"
    )
