"""Hidden test for exercise 13: for each pair, whether the top next token after the filled template is the
answer, without and with the function vector added to block `layer`'s output at the last position.

Runs on a tiny random GPT-J (3 blocks, d_model 32, built in code, weights redrawn at std 1) with a random
vector large enough to change its predictions. The answers are chosen so that the result says something:
for half the pairs the model's plain prediction, for the other half its prediction with the vector added
the right way, so the two tensors differ, and adding the vector at every position, replacing the hidden
state, or editing the wrong block gives other tensors, which the test names. The queries have one to three
words, so the batch is left-padded.
"""

import pytest
import torch

from arena_cli.testing import check
from arena_course.function_vectors.tasks import answer_token_ids
from arena_course.function_vectors.testing import basics_model, call_traced, check_remote_everywhere, remote_recorded
from arena_course.function_vectors.testing import shared
from arena_course.testing import assert_close_lazily, check_sequence

LAYER, D_MODEL = 1, 32
TEMPLATE = "I think the {x} is"
QUERIES = ["hot", "big , small", "dog", "France , Spain , Italy", "cat", "go , went", "tree", "up"]

_CRASH = (
    "Fill the prompts with `template.format(x=x)`; in `with model.trace(remote=remote) as tracer:` each "
    "`with tracer.invoke(prompts):` runs the prompts once; `model.transformer.h[layer].output` is (batch, seq, "
    "d_model) and `model.lm_head.output[:, -1]` the last position's logits (batch, d_vocab)."
)

model = shared(basics_model, "model")


@pytest.fixture(scope="module")
def fv():
    return torch.randn(D_MODEL, generator=torch.Generator().manual_seed(2)) * 8


def _predictions(model, prompts, fv, layer, how="right"):
    """The top next tokens (plain, with the vector added one way or another)."""
    with torch.no_grad(), model.trace(prompts):
        block = model.transformer.h[layer]
        if how == "right":
            block.output[:, -1] += fv
        elif how == "every position":
            block.output[:] += fv
        elif how == "replaced":
            block.output[:, -1] = fv
        elif how == "input":
            block.input[:, -1] += fv
        tokens = model.lm_head.output[:, -1].argmax(dim=-1).save()
    return tokens


def _pairs(model, fv, layer=LAYER):
    """Pairs whose answer is the plain prediction (even rows) or the prediction with the vector (odd rows)."""
    prompts = [TEMPLATE.format(x=x) for x in QUERIES]
    plain = _predictions(model, prompts, fv, layer, how="none")
    steered = _predictions(model, prompts, fv, layer)
    chosen = [int(p if i % 2 == 0 else s) for i, (p, s) in enumerate(zip(plain, steered))]
    return [(x, model.tokenizer.convert_ids_to_tokens(t)) for x, t in zip(QUERIES, chosen)]


def _as_table(without, with_fv):
    return torch.stack([torch.as_tensor(without), torch.as_tensor(with_fv)]).float()


def _mistakes(model, pairs, fv, layer):
    prompts = [TEMPLATE.format(x=x) for x, _ in pairs]
    answers = answer_token_ids(model.tokenizer, [" " + y for _, y in pairs])
    plain = _predictions(model, prompts, fv, layer, how="none") == answers
    found = {}
    for how, diagnosis in (
        ("every position", "You added the vector at every position: add it at the last one only (`[:, -1]`), the "
         "position whose next token is scored."),
        ("replaced", "You replaced the last position's hidden state with the vector: add it (`+=`), keeping the "
         "residual stream that carries the query."),
        ("input", "You added the vector to the block's INPUT (the residual stream after block layer - 1): add it to "
         "`model.transformer.h[layer].output`."),
    ):
        found[diagnosis] = _as_table(plain, _predictions(model, prompts, fv, layer, how=how) == answers)
    right = _predictions(model, prompts, fv, layer) == answers
    found["Your 'without' is the run WITH the vector: add the vector only in the second invoke."] = _as_table(right, right)
    found["Your 'with' is the run without the vector: add it in the second invoke, before reading the logits."] = (
        _as_table(plain, plain))
    found["Your two tensors are swapped: return (correct_without, correct_with)."] = _as_table(right, plain)
    return found


def _run(student, model, pairs, fv, layer=LAYER, **kwargs):
    with torch.no_grad():
        out = call_traced(student.fv_accuracy, model, TEMPLATE, pairs, fv, layer, diagnosis=_CRASH, **kwargs)
    without, with_fv = check_sequence(out, "fv_accuracy", 2, "two boolean tensors (correct_without, correct_with)",
                                      "Return `correct_without, correct_with`.")
    for name, value in (("correct_without", without), ("correct_with", with_fv)):
        check(isinstance(value, torch.Tensor) and value.dtype == torch.bool and tuple(value.shape) == (len(pairs),),
              f"{name} should be a boolean tensor of shape ({len(pairs)},); got "
              + (f"{value.dtype} of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__),
              diagnosis="Compare the predicted token ids with the answers' (`predictions == answers`): that is a "
              "boolean tensor, one entry per pair.")
    return without, with_fv


def test_matches_reference(student, reference, model, fv):
    """On a left-padded batch, which prompts are right without and with the vector matches the reference"""
    pairs = _pairs(model, fv)
    with torch.no_grad():
        expected = _as_table(*reference.fv_accuracy(model, TEMPLATE, pairs, fv, LAYER))
    actual = _as_table(*_run(student, model, pairs, fv))
    assert_close_lazily(actual, expected, name="(correct_without, correct_with) as rows",
                 mistakes=lambda: _mistakes(model, pairs, fv, LAYER),
                 diagnosis="Each row: the argmax of `model.lm_head.output[:, -1]` compared with the answers' first "
                 "tokens; the second run adds the vector to block `layer`'s output at position -1.")


def test_other_layer(student, reference, model, fv):
    """Adds the vector to the block it is given (here block 0)"""
    pairs = _pairs(model, fv, layer=0)
    with torch.no_grad():
        expected = _as_table(*reference.fv_accuracy(model, TEMPLATE, pairs, fv, 0))
    actual = _as_table(*_run(student, model, pairs, fv, layer=0))
    assert_close_lazily(actual, expected, name="with layer = 0", mistakes=lambda: _mistakes(model, pairs, fv, 0),
                 diagnosis="Use the `layer` argument: `model.transformer.h[layer]`.")


def test_zero_vector_changes_nothing(student, model, fv):
    """With a zero vector, the two tensors are the same"""
    pairs = _pairs(model, fv)
    without, with_fv = _run(student, model, pairs, torch.zeros(D_MODEL))
    check(torch.equal(without, with_fv), "a zero vector changed which prompts are right",
          diagnosis="Add the vector to the hidden state (`+=`), don't replace the hidden state with it.")


def test_passes_remote_on(student, model, fv):
    """Passes `remote` on to model.trace"""
    pairs = _pairs(model, fv)
    with remote_recorded(model) as calls:
        _run(student, model, pairs, fv, remote=True)
    check_remote_everywhere(calls, "Write `with model.trace(remote=remote) as tracer:`.")
