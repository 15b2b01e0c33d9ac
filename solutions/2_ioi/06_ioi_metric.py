"""The IOI metric: 0 corrupted, 1 clean
====================================

Difficulty: 1/5    Importance: 4/5    Time: ~10 minutes

Sources: activation patching comes from Meng et al. 2022, "Locating and Editing Factual Associations
in GPT" (https://arxiv.org/abs/2202.05262, causal tracing); Wang et al. 2022, "Interpretability in
the Wild" (https://arxiv.org/abs/2211.00593) find the IOI circuit with interventions of this kind
(its path patching is section 4 of this chapter); Heimersheim & Nanda 2024, "How to use and
interpret activation patching" (https://arxiv.org/abs/2404.15255) discuss the direction and the
metric. The section follows the ARENA replication of the paper.

**Why patching.** Direct logit attribution (section 2) sees only what a head writes straight into
the logits. A head that finds the repeated name and passes that on to a later head has no direct
effect at all, yet the circuit needs it. To find such heads we intervene: change one activation and
watch what the output does.

**Two runs.** The *clean* run is the model on the IOI prompts; the *corrupted* run is the model on
prompts that differ in exactly the information we study. Here that is `data.flipped()`: the same
sentences with the repeated name (S2) replaced by the other name,

    clean      "Then, John and Mary went to the store. John gave a drink to"   -> " Mary"
    corrupted  "Then, John and Mary went to the store. Mary gave a drink to"   -> " John"

One token differs, so positions line up and any difference between the runs starts at S2; the
corrupted prompt is still a good IOI prompt, whose right answer is the clean prompt's wrong one.

**Patching.** Run the model on one input, but at one place (the residual stream of layer 3 at
position S2, the output of head 9.6, ...) replace the activation with the value it had in the
*other* run, let the rest of the forward pass compute as usual, and read the metric. There are two
directions:

- **Denoising** (clean into corrupted): run the corrupted prompt, patch in one *clean* activation.
  If the model goes back to the clean answer, that activation alone carried enough of the
  information to restore the behaviour: patching finds what is **sufficient**.
- **Noising** (corrupted into clean): run the clean prompt, patch in one *corrupted* activation. If
  the behaviour breaks, that activation was **necessary**.

They disagree exactly where circuits are interesting. Components that work like an AND (each needed)
all light up under noising but each is too little alone to restore anything when denoising;
redundant components that work like an OR (backups) light up under denoising but not under noising,
because the others compensate when one is broken. GPT-2 has such backups for IOI: noise a name mover
head and "backup name movers" take over. This section denoises, as `transformer_lens.patching` does:
every function patches CLEAN activations INTO the CORRUPTED run.

**The metric.** We measure the average logit difference LD with the **clean** prompts' answers (IO
minus S of the clean prompt) on every run, and rescale it linearly so that the two reference runs
land on fixed points: LD_corrupted on 0, LD_clean on 1. The two reference values are measured once:

    LD_clean     = ioi_logit_diff(clean_logits, clean_data)       (positive: the model prefers IO)
    LD_corrupted = ioi_logit_diff(corrupted_logits, clean_data)   (negative, near -LD_clean: the
                                                                   corrupted run prefers the clean
                                                                   S, its own IO)

So 0 means "no better than the corrupted run", 1 means "fully restored to the clean run". Values
outside [0, 1] happen and mean something: above 1, the patch made the model more confident than the
clean run; below 0, it pushed the wrong way. Note that `LD_corrupted` is computed with `clean_data`:
with the flipped data's own answers it would be about as positive as LD_clean, and the metric would
divide by almost zero. Because the logit difference is linear in the logits (a probability is not),
effects of components that write to the logits add up on this scale.

What to write: `ioi_metric`, for one batch of logits. It is a plain function of its four arguments;
the patching functions of the next exercises take a metric of the logits alone, which you make with
`functools.partial(ioi_metric, data=clean_data, clean_logit_diff=..., corrupted_logit_diff=...)`.
`ioi_logit_diff` (exercise 1) is given below, solved. Return a 0-dimensional tensor (not a Python
float: keep `.item()` out of it, so the metric can also be differentiated later).
"""

import torch
from jaxtyping import Float
from torch import Tensor

from arena_course.ioi.dataset import IOIDataset


# Given (exercise 1, solved): the logit difference at each prompt's end position.
def ioi_logit_diff(
    logits: Float[Tensor, "batch seq d_vocab"],
    data: IOIDataset,
    per_prompt: bool = False,
) -> Float[Tensor, "batch"] | Float[Tensor, ""]:
    """The logit of the indirect object minus the logit of the subject, at each prompt's end
    position: (batch,) if `per_prompt`, else the mean (a 0-dimensional tensor)."""
    batch = torch.arange(logits.shape[0], device=logits.device)
    end_logits = logits[batch, data.word_idx["end"]]  # (batch, d_vocab): where each prompt predicts
    diff = end_logits[batch, data.io_tokens] - end_logits[batch, data.s_tokens]  # (batch,)
    return diff if per_prompt else diff.mean()


def ioi_metric(
    logits: Float[Tensor, "batch seq d_vocab"],
    data: IOIDataset,
    clean_logit_diff: float,
    corrupted_logit_diff: float,
) -> Float[Tensor, ""]:
    """The average logit difference of `logits`, rescaled so the corrupted run scores 0 and the
    clean run scores 1.

    Args:
        logits: the model's output on a (possibly patched) run, shape (batch, seq, d_vocab).
        data: the CLEAN prompts: their answers (`io_tokens`, `s_tokens`) and end positions are the
            ones measured, whatever run the logits come from.
        clean_logit_diff: the average logit difference of the clean run (measured with `data`).
        corrupted_logit_diff: the average logit difference of the corrupted run, measured with the
            same clean `data`.

    Returns:
        A 0-dimensional tensor: 0 when the logit difference equals `corrupted_logit_diff`, 1 when it
        equals `clean_logit_diff`, linear in between (and beyond).
    """
    # SOLUTION
    # The average logit difference of this run, with the clean prompts' answers.
    logit_diff = ioi_logit_diff(logits, data)

    # Shift so the corrupted run is 0, scale so the clean run is 1.
    return (logit_diff - corrupted_logit_diff) / (clean_logit_diff - corrupted_logit_diff)
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "rescale the mean logit difference linearly: "
    #     "corrupted_logit_diff -> 0, clean_logit_diff -> 1"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # A first look on an untrained tiny model (no download, instant): the metric of the clean and
    # the corrupted run, which must be exactly 1 and 0. The section's result is exercise 10's file.
    from functools import partial

    from arena_course.ioi.models import tiny_ioi_model

    model = tiny_ioi_model()
    clean = IOIDataset.generate(model.tokenizer, 8)
    corrupted = clean.flipped()
    with torch.no_grad():
        clean_logits, corrupted_logits = model(clean.toks), model(corrupted.toks)
    clean_ld = float(ioi_logit_diff(clean_logits, clean))
    # the clean answers, on the corrupted run
    corrupted_ld = float(ioi_logit_diff(corrupted_logits, clean))
    metric = partial(
        ioi_metric, data=clean, clean_logit_diff=clean_ld, corrupted_logit_diff=corrupted_ld
    )
    print(
        f"logit difference: clean {clean_ld:.4f}, corrupted "
        f"{corrupted_ld:.4f} (an untrained model: both near 0)"
    )
    print(f"metric: clean run {float(metric(clean_logits)):.3f} (should be 1), "
          f"corrupted run {float(metric(corrupted_logits)):.3f} (should be 0)")
