"""Hidden test for exercise 15: the accuracies on a composed task of ICL prompts, zero-shot prompts, and
zero-shot prompts with FV(A -> C) and with FV(A -> B) + FV(B -> C) added at block `layer`'s last position.

Runs on a tiny random GPT-J (3 blocks, d_model 32, built in code, weights redrawn at std 1) with three random
vectors and the composed task "antonym of the first word of a list". A random model rarely gives a task's
answers, so the answers are chosen from its own predictions (a tenth of them from the ICL run, two tenths from
the zero-shot run, three and four tenths from the two FV runs): each run then has its own accuracy, and averaging the two vectors, using one of them, or adding a vector to
the ICL run gives other accuracies, which the test names.
"""

import pytest
import torch

from arena_cli.testing import check
from arena_course.function_vectors.fv_properties import list_pairs
from arena_course.function_vectors.tasks import ICLDataset, answer_token_ids
from arena_course.function_vectors.testing import basics_model, call_traced, check_remote_everywhere, remote_recorded
from arena_course.function_vectors.testing import shared
from arena_course.testing import assert_close_lazily, check_tensor

LAYER, D_MODEL, SIZE = 1, 32, 30

_CRASH = (
    "In `with model.trace(remote=remote) as tracer:`, each `with tracer.invoke(prompts):` runs its own prompts (ICL "
    "prompts and zero-shot prompts can share a trace); `model.transformer.h[layer].output` is (batch, seq, d_model) "
    "and `model.lm_head.output[:, -1]` the last position's logits."
)

model = shared(basics_model, "model")


VECTOR_SEED = 4
RUN_OF_PROMPT = [3, 3, 3, 3, 2, 2, 2, 1, 1, 0]  # prompt i's answer is run RUN_OF_PROMPT[i % 10]'s prediction


@pytest.fixture(scope="module")
def vectors():
    generator = torch.Generator().manual_seed(VECTOR_SEED)
    return [torch.randn(D_MODEL, generator=generator) * 40 for _ in range(3)]  # fv_ac, fv_ab, fv_bc


def _predict(model, prompts, vector=None, layer=LAYER):
    with torch.no_grad(), model.trace(prompts):
        if vector is not None:
            model.transformer.h[layer].output[:, -1] += vector
        tokens = model.lm_head.output[:, -1].argmax(dim=-1).save()
    return tokens


def _composite(model, vectors):
    """ICL prompts of "antonym of the first word", whose answers are the model's own predictions: prompt i's is
    what run RUN_OF_PROMPT[i % 10] predicts, so the four runs have different accuracies (here 23, 43, 30 and 50%)."""
    fv_ac, fv_ab, fv_bc = vectors
    data = ICLDataset(list_pairs("antonyms", 40, then_task=True), SIZE, 2, seed=0)
    zero = data.zero_shot().prompts
    runs = [_predict(model, data.prompts), _predict(model, zero), _predict(model, zero, fv_ac),
            _predict(model, zero, fv_ab + fv_bc)]
    data.answers = [model.tokenizer.convert_ids_to_tokens(int(runs[RUN_OF_PROMPT[i % 10]][i])) for i in range(SIZE)]
    return data


@pytest.fixture(scope="module")
def composite(model, vectors):
    return _composite(model, vectors)


def _accuracies(model, composite, icl_vector, vectors_of_zero_shot, layer=LAYER):
    answers = answer_token_ids(model.tokenizer, composite.completions)
    zero = composite.zero_shot().prompts
    runs = [_predict(model, composite.prompts, icl_vector, layer)] + [_predict(model, zero, v, layer)
                                                                      for v in vectors_of_zero_shot]
    return torch.stack([(p == answers).float().mean() for p in runs])


def _mistakes(model, composite, vectors, layer=LAYER):
    fv_ac, fv_ab, fv_bc = vectors
    return {
        "You averaged the two vectors: vector algebra adds them, FV(A -> B) + FV(B -> C).":
            _accuracies(model, composite, None, [None, fv_ac, (fv_ab + fv_bc) / 2], layer),
        "Your last accuracy used FV(B -> C) alone: add FV(A -> B) + FV(B -> C).":
            _accuracies(model, composite, None, [None, fv_ac, fv_bc], layer),
        "Your last accuracy used FV(A -> B) alone: add FV(A -> B) + FV(B -> C).":
            _accuracies(model, composite, None, [None, fv_ac, fv_ab], layer),
        "You subtracted a vector: the algebra here is FV(A -> B) + FV(B -> C).":
            _accuracies(model, composite, None, [None, fv_ac, fv_ab - fv_bc], layer),
        "The third and fourth accuracies are swapped: the order is [ICL, zero-shot, FV(A -> C), FV(A -> B) + "
        "FV(B -> C)].": _accuracies(model, composite, None, [None, fv_ab + fv_bc, fv_ac], layer),
        "Your ICL run ran the zero-shot prompts: the first invoke runs `composite.prompts`, with examples.":
            torch.cat([_accuracies(model, composite, None, [None], layer)[1:2],
                       _accuracies(model, composite, None, [None, fv_ac, fv_ab + fv_bc], layer)[1:]]),
    }


def _run(student, model, composite, vectors, layer=LAYER, **kwargs):
    with torch.no_grad():
        out = call_traced(student.function_vector_algebra, model, composite, *vectors, layer, diagnosis=_CRASH,
                          **kwargs)
    out = check_tensor(out, "function_vector_algebra", "expected a tensor of the four accuracies",
                       "Return `torch.stack([...])` of the four accuracies.").detach().cpu()
    check(tuple(out.shape) == (4,), f"function_vector_algebra returned shape {tuple(out.shape)}, expected (4,)",
          diagnosis="One accuracy per run (a number: the mean over prompts of right / wrong), four runs.")
    return out.float()


def test_matches_reference(student, reference, model, composite, vectors):
    """The four accuracies match the reference"""
    expected = reference.function_vector_algebra(model, composite, *vectors, LAYER)
    actual = _run(student, model, composite, vectors)
    assert_close_lazily(actual, expected, name="[ICL, zero-shot, FV(A->C), FV(A->B) + FV(B->C)]",
                 mistakes=lambda: _mistakes(model, composite, vectors),
                 diagnosis="Each accuracy: the share of prompts whose argmax of `model.lm_head.output[:, -1]` is the "
                 "answer's first token; only the last two runs add a vector, at block `layer`'s last position.")


def test_other_layer(student, reference, model, composite, vectors):
    """Adds the vectors to the block it is given (here block 0)"""
    expected = reference.function_vector_algebra(model, composite, *vectors, 0)
    actual = _run(student, model, composite, vectors, layer=0)
    assert_close_lazily(actual, expected, name="with layer = 0",
                 mistakes=lambda: _mistakes(model, composite, vectors, layer=0),
                 diagnosis="Use the `layer` argument: `model.transformer.h[layer]`.")


def test_one_trace(student, model, composite, vectors):
    """Runs the four measurements in one trace, passing `remote` on"""
    with remote_recorded(model) as calls:
        _run(student, model, composite, vectors, remote=True)
    check_remote_everywhere(calls, "Write `with model.trace(remote=remote) as tracer:`.")
    check(len(calls) == 1, f"model.trace was called {len(calls)} times",
          diagnosis="One trace with four invokes: `with tracer.invoke(prompts):` inside one `with model.trace(...)` "
          "(on NDIF each trace is a request).")
