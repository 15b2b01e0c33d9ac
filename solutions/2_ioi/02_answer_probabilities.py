"""Probabilities of the right and wrong names
==========================================

Difficulty: 2/5    Importance: 3/5    Time: ~10 minutes

Source: Wang et al. 2022, "Interpretability in the Wild" (https://arxiv.org/abs/2211.00593), section
2; ARENA's IOI chapter (1.4.1) reports the same numbers.

The logit difference (exercise 1) is the right metric for interventions, but it doesn't say how sure
the model is in plain terms. The probabilities do: at each prompt's end position, apply the softmax
over the **vocabulary** and read the entries of the two names:

    probs = softmax(logits[i, end_i, :])       (d_vocab,), sums to 1
    p_io[i] = probs[IO_i]      p_s[i] = probs[S_i]

Two facts to check your answer against. Their ratio is the exponential of the logit difference, p_io
/ p_s = exp(logit_diff), because the softmax's normaliser cancels. And p_io + p_s is less than 1:
the rest of the probability goes to every other token (" the", " them", other names...). A model can
have a large logit difference and still a small p_io, if it is unsure whether a name comes next at
all: that is why the paper's metric is the difference, and why these probabilities are the readable
summary.

The softmax runs over the whole vocabulary, the last dimension of the logits. A softmax over the two
names' logits only (a 2-way softmax) would give p_io + p_s = 1: the model's choice between the two
names, not its probability of either.

Then run this file: it is the section's result. Your exercises 1 and 2 on GPT-2 small (50 prompts;
the model is ~550 MB, downloaded once into the Hugging Face cache) or, with `--tiny`, on a tiny
model trained on IOI in under a minute (cached in results/ioi/ after the first run; no download):

    python exercises/2_ioi/02_answer_probabilities.py [--tiny] [--prompts N]

It prints the mean logit difference, the mean probabilities of the right and wrong names, and the
prompts with the smallest logit difference; and writes results/ioi/logit_diff.png
(logit_diff_tiny.png with --tiny): a histogram of the logit difference, and P(IO) and P(S) for every
prompt, BABA prompts against ABBA. Look for: every prompt (or nearly) to the right of 0, and whether
one order is easier than the other. Without the weights and without a network connection, it says in
one line what it needs and stops.
"""

import torch
from jaxtyping import Float
from torch import Tensor

from arena_course.ioi.dataset import IOIDataset


def answer_probabilities(
    logits: Float[Tensor, "batch seq d_vocab"],
    data: IOIDataset,
) -> tuple[Float[Tensor, "batch"], Float[Tensor, "batch"]]:
    """The model's probability of the right name (IO) and of the wrong one (S), at each prompt's
    end.

    Args:
        logits: the model's output on `data.toks`, shape (batch, seq, d_vocab).
        data: the prompts (`data.word_idx["end"]`, `data.io_tokens`, `data.s_tokens`).

    Returns:
        (p_io, p_s), each of shape (batch,): entries of the softmax over the vocabulary at the end
        position.
    """
    # SOLUTION
    batch = torch.arange(logits.shape[0], device=logits.device)

    # The next-token distribution at each prompt's end: softmax over the vocabulary (the last
    # dimension).
    probs = logits[batch, data.word_idx["end"]].softmax(dim=-1)  # (batch, d_vocab)

    return probs[batch, data.io_tokens], probs[batch, data.s_tokens]
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "softmax the logits at each prompt's end over the vocabulary; return (p_io, p_s)"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # The section's result: your exercises 1 and 2 (exercise 1 loaded from the file next to this
    # one) on GPT-2 small, or with --tiny on a tiny model trained on IOI. Writes
    # results/ioi/logit_diff*.png.
    import os
    import sys
    from pathlib import Path

    from arena_course.ioi import attribution, results
    from arena_course.loading import load_sibling
    from arena_course.models import ModelUnavailable

    args = results.result_args()
    try:
        setting = results.result_setting(args.tiny, args.prompts)
    except ModelUnavailable as e:
        print(results.offline_message(e, os.path.relpath(__file__)), file=sys.stderr)
        sys.exit(1)

    summary = attribution.run_task_result(
        setting,
        ioi_logit_diff=load_sibling(__file__, "ioi_logit_diff").ioi_logit_diff,
        answer_probabilities=answer_probabilities,
        out_dir=Path("results/ioi"),
    )
    for path in summary.paths:
        print(f"Wrote {path}")
    print(f"{setting.model_name}, {len(setting.clean)} prompts.")
    print(attribution.task_report(summary))
    print(
        "Look for: nearly every prompt right of 0 in the plot, and "
        "P(IO) far above P(S); in the worst prompts, "
        "which templates they come from and whether the model's top "
        "prediction ('top') is still the right name."
        + (" GPT-2 small: Wang et al. report a mean logit difference of 3.56 on their templates."
           if not setting.tiny else " (The tiny model was trained on exactly this task: "
                                    "expect it to be very sure.)")
    )
