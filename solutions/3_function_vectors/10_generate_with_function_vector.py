"""Generating with the function vector
===================================

Difficulty: 4/5    Importance: 4/5    Time: ~20 minutes

Source: Todd et al. 2023, "Function Vectors in Large Language Models"
(https://arxiv.org/abs/2310.15213), section 3 (adding the function vector to zero-shot and
natural-text prompts); their code: `fv_intervention_natural_text` in
`src/utils/intervention_utils.py` (https://github.com/ericwtodd/function_vectors).

The payoff. A zero-shot prompt, "Q: hot\nA:", shows no task: GPT-J continues it with whatever seems
likely (often the word again, or something unrelated). Add the antonym function vector to the
residual stream at one layer, at the last position, and the model answers " cold". Todd et al. add
it to the output of layer 9 of GPT-J's 28 (about a third of the way in) and generate several tokens,
adding it at every step.

Generation in nnsight 0.8. `model.generate` traces a whole generation, in a `with` block like
`model.trace` (it takes `max_new_tokens`, `do_sample` and `remote`, and binds the tracer with `as`):
the first forward pass runs the prompt (step 0), then each further pass runs only the newly
generated token (steps 1, 2, ...; the earlier positions are cached). A module is reached once per
step, and by default what you write in the block applies to its FIRST visit only, the prompt's
forward pass. To intervene at several steps, loop over them. For example, halving MLP 0's output at
the newest position of every pass:

    with model.generate(["The Eiffel Tower is in"], max_new_tokens=5, do_sample=False) as tracer:
        for step in tracer.iter[:5]:
            model.transformer.h[0].mlp.output[:, -1] *= 0.5

- `for step in tracer.iter[:n]:` runs the body once per step, each time bound to that step's visit
  of the module; `tracer.iter[2]`, `tracer.iter[[0, 2]]` select steps; `tracer.all()` is every step
  with no end given. (`with tracer.all():` and `.next()` on a module, from older nnsight, are
  deprecated or gone in 0.8.)
- At step 0, position -1 is the prompt's last token; at step s > 0 the pass has one position, the
  token generated at step s - 1, so `[:, -1]` is "the newest token" every time. That is Todd et
  al.'s
  intervention: the vector at the last position of every forward pass.
- Invokes work as in a trace (exercise 06): each `tracer.invoke(...)` adds its prompts to the batch,
  and an edit in one invoke touches only its rows. An invoke given no prompts at all sees the whole
  batch.
- `tracer.result` is the generated ids, prompts included, `(rows, prompt width + new tokens)`: an
  invoke's own rows inside it, every row of the batch in an invoke given no prompts. Like any value,
  it survives the block only if saved. Read it in an invoke of its own, given no prompts: if the
  generation stops early (every row produced the end-of-text token), a loop's last steps never come,
  nnsight cuts the loop short with a warning, and any line after the loop in the same invoke does
  not run.
- The block output is a tensor in transformers 5 (no `[0]`), and `+=` on a slice of it edits the
  residual stream in place.

With two invokes of the same prompts, one plain and one with the vector, the batch has rows
`0 .. batch-1` without the vector and `batch .. 2*batch-1` with it. `new_token_texts` and
`prompt_width` (imported below) decode only the new tokens of each row.

What to write: `generate_with_function_vector`, greedy (`do_sample=False`), returning the
completions without and with the function vector, as lists of strings.

Then run this file, the section's result: your exercises 08-10 on GPT-J-6B (NDIF with NDIF_API_KEY,
or a local copy), or with `--tiny` on the chapter's tiny GPT-J, trained on its five tasks (about
a minute the first time, then cached in results/function_vectors):

    python exercises/3_function_vectors/10_generate_with_function_vector.py [--tiny] [--task
    antonyms]

It writes results/function_vectors/head_effects.png (head_effects_tiny.png with --tiny), the layer x
head heatmap of causal indirect effects with the function vector's heads outlined, and prints
zero-shot completions without and with the function vector. On GPT-J a handful of heads stand out
(Todd et al. find them in the early-middle layers) and many zero-shot answers become the task's. The
tiny model was trained to answer "." when the examples' answers are shuffled, so a few of its heads
show clear effects too; but they carry "the examples are consistent", not the task, and their vector
does not give the task to its zero-shot queries (the printout explains). Without a model it prints
one line saying what it needs and stops.
"""

from jaxtyping import Float
from torch import Tensor

from arena_course.function_vectors.generation import new_token_texts, prompt_width


def generate_with_function_vector(
    model,
    prompts: list[str],
    fv: Float[Tensor, "d_model"],
    layer: int,
    max_new_tokens: int,
    *,
    remote: bool = False,
) -> tuple[list[str], list[str]]:
    """Greedy generation from the prompts, without and with the function vector added to block
    `layer`'s output at the last position of every forward pass (the prompt's last token, then each
    new token).

    Args:
        model: an nnsight `TransformersModel` with GPT-J's module names.
        prompts: the prompts (zero-shot ones, "Q: hot\nA:"), of any lengths (left-padded).
        fv: the function vector, (d_model,).
        layer: the block whose output (the residual stream after it) the vector is added to.
        max_new_tokens: how many tokens to generate.
        remote: run on NDIF (True) or locally (False); pass it to `model.generate`.

    Returns:
        (without, with_fv): for each prompt, the generated text (new tokens only) without and with
        the function vector.
    """
    # SOLUTION
    with model.generate(max_new_tokens=max_new_tokens, do_sample=False, remote=remote) as tracer:
        # Rows 0 .. batch-1: the model as it is.
        with tracer.invoke(prompts):
            pass

        # Rows batch .. 2*batch-1: the vector added at the last position of every step's forward
        # pass.
        with tracer.invoke(prompts):
            for step in tracer.iter[:max_new_tokens]:
                model.transformer.h[layer].output[:, -1] += fv

        # The generated ids of the whole batch, read in an invoke of their own (see above).
        with tracer.invoke():
            ids = tracer.result.save()

    texts = new_token_texts(model.tokenizer, ids, prompt_width(model.tokenizer, prompts))
    return texts[: len(prompts)], texts[len(prompts):]
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "one greedy generation with two invokes of the prompts (plain; fv "
    #     "added at every step) and the result read in a third"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # The section's result: your functions from exercises 08-10 (loaded from the files next to this
    # one) on GPT-J-6B, or with --tiny on the chapter's tiny GPT-J (trained once, then cached).
    # Writes results/function_vectors/head_effects[_tiny].png and prints the completions.
    import sys
    from pathlib import Path

    from arena_course.function_vectors import vectors
    from arena_course.loading import load_sibling
    from arena_course.models import ModelUnavailable

    args = vectors.function_vector_args()
    try:
        setup = vectors.function_vector_setup(args)
    except ModelUnavailable as e:
        print(e, file=sys.stderr)  # one line: what is needed and how to get it
        sys.exit(1)

    effects_module = load_sibling(__file__, "head_indirect_effects")
    summary = vectors.run_function_vector_result(
        setup,
        head_indirect_effects=effects_module.head_indirect_effects,
        function_vector=load_sibling(__file__, "function_vector").function_vector,
        generate_with_function_vector=generate_with_function_vector,
        out_dir=Path("results/function_vectors"),
    )
    print(summary.report)
    print(f"Wrote {summary.path}")
