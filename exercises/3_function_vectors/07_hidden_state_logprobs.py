"""The log-probability version
===========================

Difficulty: 3/5    Importance: 4/5    Time: ~15 minutes

Sources: Hendel et al. 2023, "In-Context Learning Creates Task Vectors"
(https://arxiv.org/abs/2310.15916), section 3 (the task vector patched at each layer in turn); Todd
et al. 2023, "Function Vectors in Large Language Models" (https://arxiv.org/abs/2310.15213), section
2 (scoring an intervention by the probability it gives the right answer).

Exercise 05 answered "does h make the model do the task?" with the top token: right or wrong. A
finer measure, and the one the rest of the chapter uses, is how much probability the model gives the
right answer. For each zero-shot prompt i with right answer token a_i (" down" for "Q: up\nA:"),

    log p(a_i) = log_softmax(logits[i, -1])[a_i]

at the last position. It is 0 when the model is sure of the right answer and very negative when it
thinks it unlikely; it moves smoothly with the patch even when the top token doesn't change, and it
can be averaged over prompts. Only the answer's first token is scored (" Paris" is one token for
GPT-J; a longer answer's first token already says which answer the model is heading for), as in
sections 3 and 4.

Which layer? h can be taken from, and patched into, any block. This exercise does it for every block
in turn: for each layer L, h_L from the ICL prompts, patched into the zero-shot prompts at block L,
and the log-probabilities of the right answers. Plotted against L (this section's result), it shows
where in the model the task is carried at the last position: where the curve rises above the
unpatched baseline.

Given: h_L for every block, from one trace over the ICL prompts (exercise 04 at every layer). A
`for` loop appending saved values to a list made before the `with` block brings them all out (a list
comprehension would not: its own scope is not copied back). Yours: the log-probabilities without the
patch, and with h_L patched at block L, for every L. Each is a trace over the zero-shot prompts
(exercise 05's patch); the log-probabilities can be computed inside the trace from the last
position's logits (save only the `(batch,)` result) or after it from saved last-position logits.
Take the log-softmax over the vocabulary, then pick prompt i's log-probability of ITS answer,
`answer_ids[i]`: a `(batch,)` result, one number per prompt. (Indexing the vocabulary axis with
`answer_ids` alone gives `(batch, batch)`: every prompt's log-probability of every prompt's answer.
PyTorch's advanced indexing with two index tensors pairs them up row by row.)

On NDIF each trace is one request: for GPT-J, 28 blocks make 30 requests of a few seconds each.

What correct looks like: `clean` of shape (batch,) and `patched` of shape (n_layers, batch), all <=
0; row L of `patched` is the same measure as `clean` but with h_L patched at block L. At the last
block, the last position's residual stream IS h afterwards, so every prompt gets the same
distribution there.

Then run this file, the section's result: your exercises 05-07 on GPT-J-6B with antonym prompts (10
examples each). It writes results/function_vectors/h_by_layer.png, the mean log-probability of the
right answer by patched block, against no patch and against prompts with examples, and prints (and
writes to h_completions.txt) the zero-shot completions at the best block without h, with h of
antonyms and with h of english_french: the same queries, two different h, two different tasks. GPT-J
runs remotely on NDIF if NDIF_API_KEY is set (a free key from https://login.ndif.us), else locally
if its weights are in the Hugging Face cache; without either it says so in one line. With `--tiny`
it runs on the chapter's tiny GPT-J (trained in about half a minute the first time, then cached in
results/function_vectors), on the words singular_plural and english_french share ("cat" -> "cats" or
"chat"), where only h can tell the model which task is meant. That model was trained to carry the
task at block 1 (a model that small trained on ICL prompts alone forms no h that transfers;
arena_course/function_vectors/hidden_states.py says more), so its curve checks your code rather than
discovering anything; GPT-J's is the real experiment.

    python exercises/3_function_vectors/07_hidden_state_logprobs.py [--tiny] [--task TASK] [--layer
    L]
"""

import torch
from jaxtyping import Float, Int
from torch import Tensor


def hidden_state_logprobs(
    model,
    icl_prompts: list[str],
    zero_shot_prompts: list[str],
    answer_ids: Int[Tensor, "batch"],
    *,
    remote: bool = False,
) -> tuple[Float[Tensor, "batch"], Float[Tensor, "n_layers batch"]]:
    """Log-probability of each zero-shot prompt's right answer, without h and with h_L patched at
    each block L.

    Args:
        model: an nnsight `TransformersModel` with GPT-J's module names (`model.transformer.h[L]`,
            `model.lm_head`).
        icl_prompts: ICL prompts of one task, to compute h_L from.
        zero_shot_prompts: prompts with only a query ("Q: up\nA:").
        answer_ids: for each zero-shot prompt, the token id of its right answer's first token,
            (batch,).
        remote: run on NDIF (True) or locally (False); pass it to every `model.trace`.

    Returns:
        (clean, patched):
        clean: (batch,), log p(answer_ids[i]) at the last position of zero-shot prompt i, unpatched;
        patched: (n_layers, batch), patched[L, i] the same with block L's output at the last
            position replaced by h_L, the mean of the same over the ICL prompts.
    """
    # Exercise 04 at every block, in one trace: h_L for L = 0 .. n_layers - 1.
    hs = []
    with model.trace(icl_prompts, remote=remote):
        for block in model.transformer.h:
            hs.append(block.output[:, -1].mean(dim=0).save())

    raise NotImplementedError(
        "log-probability of each prompt's own answer at the last position: "
        "unpatched, then with hs[L] patched at block L for each L"
    )


if __name__ == "__main__":
    # The section's result: your exercises 04-07 (loaded from the files next to this one) on
    # GPT-J-6B, or with --tiny on the chapter's tiny GPT-J (trained once, then cached). Writes
    # results/function_vectors/h_by_layer.png.
    import sys
    from pathlib import Path

    from arena_course.function_vectors import hidden_states
    from arena_course.loading import load_sibling
    from arena_course.models import ModelUnavailable

    args = hidden_states.result_args()
    try:
        setting = hidden_states.result_setting(args.tiny, task=args.task)
    except ModelUnavailable as e:
        print(e, file=sys.stderr)  # one line: what is needed and how to get it
        sys.exit(1)

    try:
        summary = hidden_states.run_result(
            setting,
            patch_hidden_state=load_sibling(__file__, "patch_hidden_state").patch_hidden_state,
            hidden_state_one_pass=load_sibling(
                __file__, "hidden_state_one_pass"
            ).hidden_state_one_pass,
            hidden_state_logprobs=hidden_state_logprobs,
            out_dir=Path("results/function_vectors"),
            layer=args.layer,
        )
    except hidden_states.LayerOutOfRange as e:  # a --layer the model doesn't have
        print(e, file=sys.stderr)
        sys.exit(2)
    print(summary.report)
