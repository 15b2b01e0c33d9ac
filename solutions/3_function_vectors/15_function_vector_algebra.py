"""Bonus: adding function vectors
==============================

Difficulty: 3/5    Importance: 2/5    Time: ~20 minutes

Source: Todd et al. 2023, "Function Vectors in Large Language Models"
(https://arxiv.org/abs/2310.15213), the vector-algebra experiment (the FV of a composed task
compared with the sum of the FVs of its two parts, by zero-shot accuracy, beside ICL on the composed
task).

Word2vec made "king - man + woman = queen" famous. Todd et al. ask the same of tasks. Take two tasks
that chain: A -> B, "the last word of a list" ("hot, big, up" -> "up"), and B -> C, antonyms ("up"
-> "down"). Their composition A -> C is "the antonym of the last word" ("hot, big, up" -> "down").
Three function vectors:

- FV(A -> C), extracted (exercises 08-09) from ICL prompts of the composed task itself;
- FV(A -> B) and FV(B -> C), extracted from ICL prompts of each part, never shown the composition.

If FVs behave like vectors of tasks, FV(A -> B) + FV(B -> C) should do the composed task on
zero-shot prompts, perhaps as well as FV(A -> C). Todd et al. compare four accuracies on the
composed task: ICL (prompts with examples, nothing added), zero-shot (nothing added), zero-shot with
FV(A -> C), and zero-shot with the sum.

All four come out of ONE forward pass: four invokes in one trace, each with its own prompts (the ICL
prompts are longer than the zero-shot ones; left padding puts every prompt's last token at position
-1), each saving its own predictions, and the two FV invokes adding their vector to block `layer`'s
output at the last position. `composite.prompts` are the ICL prompts,
`composite.zero_shot().prompts` the same queries without examples, `composite.completions` the
answers (" down"). Accuracy is exercise 13's: the share of prompts whose top next token is the
answer's first token.

(The section's result builds the three FVs with your exercises 08-09. Todd et al. report that summed
FVs can trigger a composed task; the result shows how close the sum comes to FV(A -> C) on GPT-J,
and the printout says what the tiny model, never trained on lists, does.)

What to write: `function_vector_algebra`, returning the four accuracies as a tensor, in the order
above.
"""

import torch
from jaxtyping import Float
from torch import Tensor

from arena_course.function_vectors.tasks import ICLDataset, answer_token_ids


def function_vector_algebra(
    model,
    composite: ICLDataset,
    fv_ac: Float[Tensor, "d_model"],
    fv_ab: Float[Tensor, "d_model"],
    fv_bc: Float[Tensor, "d_model"],
    layer: int,
    *,
    remote: bool = False,
) -> Float[Tensor, "4"]:
    """Top-1 accuracy on the composed task A -> C of: ICL prompts; zero-shot prompts; zero-shot
    prompts with FV(A -> C); zero-shot prompts with FV(A -> B) + FV(B -> C). The vectors are added
    to block `layer`'s output at the last position.

    Args:
        model: an nnsight `TransformersModel` with GPT-J's module names.
        composite: ICL prompts of the composed task (`.prompts`); `.zero_shot()` gives its zero-shot
            prompts and `.completions` the answers.
        fv_ac: the FV extracted from the composed task's ICL prompts, (d_model,).
        fv_ab, fv_bc: the FVs of its two parts, (d_model,) each.
        layer: the block whose output (at the last position) the vectors are added to.
        remote: run on NDIF (True) or locally (False); pass it to `model.trace`.

    Returns:
        (4,): the accuracies [ICL, zero-shot, zero-shot + FV(A -> C), zero-shot + FV(A -> B) + FV(B
        -> C)], each the share of prompts whose top next token is the answer's first token.
    """
    answers = answer_token_ids(model.tokenizer, composite.completions)  # (batch,)
    zero_shot = composite.zero_shot().prompts

    # SOLUTION
    # The vector each invoke adds (None: nothing), in the order of the returned accuracies.
    runs = [
        (composite.prompts, None), (zero_shot, None), (zero_shot, fv_ac), (zero_shot, fv_ab + fv_bc)
    ]

    predictions = []  # made before the trace: each invoke saves its own rows' predictions into it
    with model.trace(remote=remote) as tracer:
        for prompts, vector in runs:
            with tracer.invoke(prompts):
                if vector is not None:
                    model.transformer.h[layer].output[:, -1] += vector
                predictions.append(model.lm_head.output[:, -1].argmax(dim=-1).save())  # (batch,)

    return torch.stack([(p.cpu() == answers).float().mean() for p in predictions])
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "one trace, four invokes (ICL; zero-shot; zero-shot + fv_ac; zero-shot + fv_ab + fv_bc); "
    #     "each prompt's top next token against the answer; the four accuracies"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # The section's result: your functions from exercises 08-09 and 13-15 (loaded from the files
    # next to this one) on GPT-J-6B, or with --tiny on the chapter's tiny GPT-J (trained once, then
    # cached). Writes results/function_vectors/fv_portability[_tiny].png and prints the three
    # tables.
    import sys
    from pathlib import Path

    from arena_course.function_vectors import fv_properties
    from arena_course.loading import load_sibling
    from arena_course.models import ModelUnavailable

    args = fv_properties.fv_properties_args()
    try:
        setup = fv_properties.fv_properties_setup(args)
    except ModelUnavailable as e:
        print(e, file=sys.stderr)  # one line: what is needed and how to get it
        sys.exit(1)

    summary = fv_properties.run_fv_properties_result(
        setup,
        head_indirect_effects=load_sibling(__file__, "head_indirect_effects").head_indirect_effects,
        function_vector=load_sibling(__file__, "function_vector").function_vector,
        fv_accuracy=load_sibling(__file__, "fv_accuracy").fv_accuracy,
        decode_function_vector=load_sibling(
            __file__, "decode_function_vector"
        ).decode_function_vector,
        function_vector_algebra=function_vector_algebra,
        out_dir=Path("results/function_vectors"),
    )
    print(summary.report)
    print(f"Wrote {summary.path}")
