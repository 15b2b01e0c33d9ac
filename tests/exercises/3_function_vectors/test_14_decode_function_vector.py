"""Hidden test for exercise 14: the k tokens with the largest logits in lm_head(ln_f(fv)), and those logits.

Runs on a tiny random GPT-J (3 blocks, d_model 32, built in code, weights redrawn at std 1) whose final
layer norm has random gains and biases (at their initial 1 and 0 a missing layer norm would hardly show),
with a random vector. Skipping the layer norm, decoding with the embedding matrix, taking the smallest
logits or returning probabilities give other values, which the test names.
"""

import pytest
import torch

from arena_cli.testing import assert_close, check
from arena_course.function_vectors.testing import basics_model, call_traced, check_remote_everywhere, once_per_input
from arena_course.function_vectors.testing import remote_recorded, shared
from arena_course.testing import check_sequence

D_MODEL, K = 32, 6

_CRASH = (
    "Inside `with model.trace(<a short prompt>, remote=remote):`, `model.transformer.ln_f(x)` and `model.lm_head(x)` "
    "run the final layer norm and the unembedding on a (d_model,) tensor x of yours; save what you need."
)


def _model():
    model = basics_model()
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        ln_f = model._module.transformer.ln_f
        ln_f.weight.copy_(torch.rand(D_MODEL, generator=generator) * 2 + 0.1)
        ln_f.bias.copy_(torch.randn(D_MODEL, generator=generator))
    return model


model = shared(_model, "model")


@pytest.fixture(scope="module")
def fv():
    return torch.randn(D_MODEL, generator=torch.Generator().manual_seed(2)) * 3


@pytest.fixture(scope="module")
def saved(student, model, fv):
    """`saved(k)`: the student's (ids, logits) for the module's vector, one call per k."""
    return once_per_input(_run, student, model, fv)


@pytest.fixture(scope="module")
def expected(reference, model, fv):
    """`expected(k)`: the reference's (ids, logits) for the module's vector, one call per k."""
    return once_per_input(reference.decode_function_vector, model, fv)


def _top(logits, k=K, largest=True):
    top = logits.topk(k, largest=largest)
    return top.indices, top.values


def _mistakes(model, fv):
    hf = model._module
    with torch.no_grad():
        right = hf.lm_head(hf.transformer.ln_f(fv))
        no_ln = hf.lm_head(fv)
        embedding = hf.transformer.wte.weight @ hf.transformer.ln_f(fv)
    return {
        "You skipped the final layer norm: decode `model.lm_head(model.transformer.ln_f(fv))`.": _top(no_ln),
        "You decoded with the EMBEDDING matrix (`wte`): the unembedding is `model.lm_head`.": _top(embedding),
        "You took the SMALLEST logits: `.topk(k)` gives the largest, largest first.": _top(right, largest=False),
        "You returned probabilities: return the logits themselves (what lm_head outputs).":
            (_top(right)[0], _top(right.softmax(-1))[1]),
    }


def _run(student, model, fv, k=K, **kwargs):
    with torch.no_grad():
        out = call_traced(student.decode_function_vector, model, fv, k, diagnosis=_CRASH, **kwargs)
    ids, logits = check_sequence(out, "decode_function_vector", 2, "two tensors (ids, logits)",
                                 "Return `ids, logits`: `.topk(k)` gives `.indices` and `.values`.")
    check(isinstance(ids, torch.Tensor) and isinstance(logits, torch.Tensor),
          f"expected two tensors, got {type(ids).__name__} and {type(logits).__name__}",
          diagnosis="Return the tensors `.indices` and `.values` of the top k.")
    return ids.detach().cpu(), logits.detach().cpu()


def test_ids(saved, expected, model, fv):
    """The k token ids with the largest decoded logits, largest first"""
    ids, _ = saved(K)
    assert_close(ids.long(), expected(K)[0], name=f"the top {K} token ids", mistakes={d: v[0] for d, v in _mistakes(model, fv).items()},
                 decode=lambda i: model.tokenizer.convert_ids_to_tokens(i),
                 diagnosis="Decode with `model.lm_head(model.transformer.ln_f(fv))` and take `.topk(k)`.")


def test_logits(saved, expected, model, fv):
    """The logits of those tokens"""
    _, logits = saved(K)
    assert_close(logits, expected(K)[1], name=f"the top {K} logits", atol=1e-4, check_dtype=False,
                 mistakes={d: v[1] for d, v in _mistakes(model, fv).items()})


def test_other_k(student, reference, model, fv):
    """Uses k: with k = 2 it returns two ids"""
    expected, _ = reference.decode_function_vector(model, fv, 2)
    ids, _ = _run(student, model, fv, 2)
    assert_close(ids.long(), expected, name="the top 2 token ids", diagnosis="Take `.topk(k)` with the k you are given.")


def test_passes_remote_on(student, model, fv):
    """Passes `remote` on to model.trace"""
    with remote_recorded(model) as calls:
        _run(student, model, fv, remote=True)
    check_remote_everywhere(calls, "Write `with model.trace(<a short prompt>, remote=remote):` and call the modules "
                            "inside it (on NDIF the weights are on the server).")
