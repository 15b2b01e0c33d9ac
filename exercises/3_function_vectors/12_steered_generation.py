"""Steered generation
==================

Difficulty: 3/5    Importance: 4/5    Time: ~25 minutes

Source: Turner et al. 2023, "Activation Addition: Steering Language Models Without Optimization"
(https://arxiv.org/abs/2308.10248): adding the steering vector to the front of the prompt's residual
stream, and their GPT-2 XL examples ("Love" - "Hate" at layer 6 with coefficient 5 on "I hate you
because"; "Anger" - "Calm" at layer 20).

The steering vector of exercise 11 has one row per position of the prompt pair: `(pos, d_model)`.
ActAdd adds `coeff * steering` to the residual stream entering block `layer`, at the FIRST `pos`
positions of the user's prompt (which also starts with BOS, so BOS lines up with BOS), and lets the
model generate:

    prompt:     [BOS, I,           hate, you, because]     residual stream entering block 6
    steering:   [0,   Love - Hate]                          (2, d_model), times coeff, added to
    positions 0, 1

The prompt must be at least `pos` tokens long (the code below checks).

When to add it. Only in the prompt's forward pass. During generation the first pass runs the whole
prompt; every later pass runs one new token, with the prompt's positions read from the cache, where
the steered values already are. So the edit belongs to the first visit of the module, which is what
a line in a `model.generate` block does when it is not in a `tracer.iter` loop (exercise 10 looped
because the function vector went in at every step; here a loop would add `coeff * steering` to each
new token as well, and at one position the `[:, :pos]` slice no longer fits).

nnsight, as in exercise 10, but simpler: one `model.generate` (pass it `max_new_tokens`, `remote`
and `**generate_kwargs`, which carry the sampling settings), with two invokes of the same `batch`,
the second one steered. Here each invoke can save its own `tracer.result`, which inside an invoke is
that invoke's rows: with no loop in either invoke, nothing can be cut short, so no third invoke is
needed.

`batch` is the prompt's token ids (with BOS) repeated `n_completions` times, a
`(n_completions, seq)` tensor: with sampling (Turner et al. sample at temperature 1, top_p 0.3) each
row is a different completion; with greedy decoding (the default here, and what the tests use) the
rows are the same. The edit is on `model.transformer.h[layer].input`, the residual stream entering
the block (exercise 11's tensor), at its first `pos` positions; the `(pos, d_model)` steering vector
times `coeff` broadcasts over the rows, and an augmented assignment (`+=`) on that slice edits it in
place.

What to write: the generation, then the new tokens of each invoke decoded with `new_token_texts`:
every row is the same prompt, so no padding, and the new tokens start at `len(prompt_ids)`. Return
(unsteered, steered), as exercise 10 returned (without, with).

Then run this file, the section's result: your exercises 11 and 12 on GPT-2 XL (NDIF with
NDIF_API_KEY, or the weights in your Hugging Face cache: 6 GB, runs on a CPU), or with `--tiny` on a
tiny GPT-2 trained in seconds on a toy language where "I love ..." and "I hate ..." sentences end
differently:

    python exercises/3_function_vectors/12_steered_generation.py [--tiny]

It prints steered vs unsteered completions of a few prompts and writes them to
results/function_vectors/steering.txt (steering_tiny.txt with --tiny). Without a model it prints one
line saying what it needs and stops.
"""

import torch
from jaxtyping import Float
from torch import Tensor

from arena_course.function_vectors.generation import new_token_texts, with_bos


def steered_generation(
    model,
    prompt: str,
    steering: Float[Tensor, "pos d_model"],
    layer: int,
    coeff: float,
    max_new_tokens: int,
    *,
    n_completions: int = 1,
    remote: bool = False,
    **generate_kwargs,
) -> tuple[list[str], list[str]]:
    """Generate from the prompt with and without `coeff * steering` added to the residual stream
    entering block `layer` at the prompt's first `pos` positions, in the prompt's forward pass only.

    Args:
        model: an nnsight `TransformersModel` with GPT-2's module names (`model.transformer.h[L]`).
        prompt: the text to continue ("I hate you because"); BOS is put in front, as for the
            steering vector.
        steering: (pos, d_model), from `steering_vector` (exercise 11).
        layer: the block whose input the steering is added to (the same layer it was read from).
        coeff: how much of the steering vector to add.
        max_new_tokens: how many tokens to generate.
        n_completions: how many completions of each kind (rows of the batch).
        remote: run on NDIF (True) or locally (False); pass it to `model.generate`.
        **generate_kwargs: passed to `model.generate` (e.g. `do_sample=True, top_p=0.3`); greedy by
            default.

    Returns:
        (unsteered, steered): `n_completions` generated texts each (new tokens only).
    """
    generate_kwargs.setdefault("do_sample", False)
    prompt_ids = with_bos(model.tokenizer, prompt)
    pos = steering.shape[0]
    if len(prompt_ids) < pos:
        raise ValueError(
            f"the prompt has {len(prompt_ids)} tokens (with BOS), "
            f"fewer than the steering vector's {pos}"
        )
    batch = torch.tensor([prompt_ids] * n_completions)  # (n_completions, seq)

    raise NotImplementedError(
        "one generation with two invokes of `batch`, the second steered in the "
        "prompt's pass only; each saves its own result"
    )


if __name__ == "__main__":
    # The section's result: your functions from exercises 11-12 (loaded from the files next to this
    # one) on GPT-2 XL, or with --tiny on a tiny GPT-2 trained in seconds on a toy language. Prints
    # steered vs unsteered completions and writes them to
    # results/function_vectors/steering[_tiny].txt.
    import sys
    from pathlib import Path

    from arena_course.function_vectors import steering
    from arena_course.loading import load_sibling
    from arena_course.models import ModelUnavailable

    args = steering.steering_args()
    try:
        setup = steering.steering_setup(args)
    except ModelUnavailable as e:
        print(e, file=sys.stderr)  # one line: what is needed and how to get it
        sys.exit(1)

    summary = steering.run_steering_result(
        setup,
        steering_vector=load_sibling(__file__, "steering_vector").steering_vector,
        steered_generation=steered_generation,
        out_dir=Path("results/function_vectors"),
    )
    print(summary.report)
    print(f"Wrote {summary.path}")
