"""The faithfulness of the circuit
================================

Difficulty: 2/5    Importance: 4/5    Time: ~15 minutes

Source: Wang et al. 2022, "Interpretability in the Wild" (https://arxiv.org/abs/2211.00593), Section
4.1 (faithfulness).

Exercise 19 runs the model with everything outside a circuit C mean-ablated. Is what is left enough
to do the task? The paper measures the behaviour with the average logit difference F:

    F(M) = the full model's average logit difference (IO minus S at the end position)
    F(C) = the same with everything outside C mean-ablated (your exercise 19)

and reports two numbers that answer different questions:

- **F(C) / F(M)**: the fraction of the model's logit difference the circuit keeps. The paper's
  circuit keeps about 87% of GPT-2 small's.
- **|F(M) − F(C)|**: the paper's *faithfulness criterion*: a faithful circuit behaves like the
  model, so this gap should be small. It is an absolute value on purpose: a circuit that does the
  task *better* than the model (F(C) > F(M), a ratio above 100%) is not faithful either. It is
  missing something the model does, e.g. heads that push *against* the answer (GPT-2's negative name
  movers are in the circuit for that reason).

Averages first, then the ratio: F(C) / F(M) is the ratio of two averages over the prompts, not the
average of per-prompt ratios (a prompt where the model's logit difference is near 0 would blow those
up).

`ioi_logit_diff(logits, data, per_prompt=False)` is exercise 01's logit difference, given below
solved: it reads each prompt's logits at its own end position (`data.word_idx["end"]`: prompts are
padded on the right, so that is not always position -1).

Return a `Faithfulness(full, circuit, ratio, gap)` (a named tuple from arena_course/ioi/circuit.py)
of Python floats: F(M), F(C), F(C) / F(M), |F(M) − F(C)|.
"""

import torch
from jaxtyping import Float
from torch import Tensor

from arena_course.ioi.circuit import Faithfulness
from arena_course.ioi.dataset import IOIDataset


# Given: exercise 01, solved. Logit of IO minus logit of S at each prompt's end position.
def ioi_logit_diff(
    logits: Float[Tensor, "batch seq d_vocab"],
    data: IOIDataset,
    per_prompt: bool = False,
) -> Float[Tensor, "batch"] | Float[Tensor, ""]:
    rows = torch.arange(logits.shape[0], device=logits.device)
    end_logits = logits[rows, data.word_idx["end"]]  # (batch, d_vocab): each prompt at its own end
    diff = end_logits[rows, data.io_tokens] - end_logits[rows, data.s_tokens]
    return diff if per_prompt else diff.mean()


def circuit_faithfulness(
    full_logits: Float[Tensor, "batch seq d_vocab"],
    circuit_logits: Float[Tensor, "batch seq d_vocab"],
    data: IOIDataset,
) -> Faithfulness:
    """How much of the model's logit difference the circuit keeps, and how far it is from the
    model's.

    Args:
        full_logits: the full model's logits on `data.toks`.
        circuit_logits: the logits with everything outside the circuit mean-ablated (exercise 19).
        data: the prompts (for each prompt's end position and its IO and S tokens).

    Returns:
        Faithfulness(full=F(M), circuit=F(C), ratio=F(C) / F(M), gap=|F(M) - F(C)|), Python floats,
        where F is the logit difference averaged over the prompts.
    """
    raise NotImplementedError(
        "F(M) and F(C) with ioi_logit_diff, then F(C) / F(M) and |F(M) - F(C)|"
    )
