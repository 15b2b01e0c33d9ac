"""Hidden test for exercise 07: the log-probability of each zero-shot prompt's right answer, without h and
with h_L patched at each block L in turn.

Runs on a tiny random GPT-J (3 blocks, d_model 64, built in code) whose weights are redrawn at std 1, so the
log-probabilities differ from prompt to prompt, from layer to layer, and between the usual mistakes.
"""

import pytest
import torch

from arena_cli.testing import assert_close, check
from arena_course.function_vectors.tasks import ICLDataset, load_word_pairs
from arena_course.function_vectors.testing import call_traced, hidden_state_model, icl_prompts, once_per_input
from arena_course.function_vectors.testing import reference_once, remote_recorded, shared
from arena_course.testing import check_sequence

N_LAYERS, D_MODEL = 3, 64

_CRASH = (
    "In a trace over the zero-shot prompts, `model.lm_head.output[:, -1]` is (batch, d_vocab); "
    "`.log_softmax(dim=-1)` then `[torch.arange(batch), answer_ids]` picks each prompt's own answer, (batch,). "
    "For the patched rows, set `model.transformer.h[L].output[:, -1] = hs[L]` first, one trace per block."
)


model = shared(hidden_state_model, "model")


@pytest.fixture(scope="module")
def data(model):
    icl = icl_prompts("antonyms", (4, 2, 0), (3, 3, 1))
    zero_shot = ICLDataset(load_word_pairs("antonyms"), 6, 2, seed=2).zero_shot()
    ids = model.tokenizer(zero_shot.completions, add_special_tokens=False)["input_ids"]
    answer_ids = torch.tensor([i[0] for i in ids])
    return icl, zero_shot.prompts, answer_ids


def _hs(model, prompts):
    hs = []
    with model.trace(prompts):
        for block in model.transformer.h:
            hs.append(block.output[:, -1].mean(dim=0).save())
    return hs


def _last_logits(model, prompts, layer=None, vector=None, position=-1):
    """Logits at the last position, unpatched or with `vector` written at `position` of block `layer`'s output."""
    with model.trace(prompts):
        if vector is not None:
            model.transformer.h[layer].output[:, position] = vector
        logits = model.lm_head.output[:, -1].save()
    return logits.detach()


def _pick(values, answer_ids):
    return values[torch.arange(len(answer_ids)), answer_ids]


@pytest.fixture(scope="module")
def truth(model, data):
    icl, zero_shot, answer_ids = data
    with torch.no_grad():
        hs = [h.detach() for h in _hs(model, icl)]
        clean_logits = _last_logits(model, zero_shot)
        patched_logits = [_last_logits(model, zero_shot, L, h) for L, h in enumerate(hs)]
    return dict(hs=hs, clean_logits=clean_logits, patched_logits=patched_logits)


@pytest.fixture(scope="module")
def saved(student, model, data):
    """`saved()`: the student's (clean, patched) for `data`, from one call."""
    return once_per_input(_run, student, model, *data)


@pytest.fixture(scope="module")
def expected(reference, model, data):
    """`expected()`: the reference's (clean, patched) for `data`, from one call."""
    return reference_once(reference.hidden_state_logprobs, model, *data)


def _run(student, model, icl, zero_shot, answer_ids, **kwargs):
    with torch.no_grad():
        out = call_traced(student.hidden_state_logprobs, model, icl, zero_shot, answer_ids, diagnosis=_CRASH,
                          **kwargs)
    clean, patched = check_sequence(out, "hidden_state_logprobs", 2, "two tensors (clean, patched)",
                                    "Return `clean, patched`.")
    check(
        not (isinstance(patched, (list, tuple)) and all(isinstance(p, torch.Tensor) for p in patched)),
        f"patched is a {type(patched).__name__} of tensors, expected one (n_layers, batch) tensor",
        diagnosis="Stack the rows: `torch.stack(rows)`.",
    )
    check(
        isinstance(clean, torch.Tensor) and isinstance(patched, torch.Tensor),
        f"expected two tensors, got {type(clean).__name__} and {type(patched).__name__}",
        diagnosis="Save the log-probabilities inside each trace (`.save()`) and return tensors.",
    )
    return clean.detach(), patched.detach()


def test_shapes(saved, data):
    """Returns clean (batch,) and patched (n_layers, batch) log-probabilities, all <= 0"""
    icl, zero_shot, answer_ids = data
    clean, patched = saved()
    batch = len(zero_shot)
    check(tuple(clean.shape) == (batch,), f"clean has shape {tuple(clean.shape)}, expected ({batch},)",
          diagnosis="One number per prompt: its log-probability of ITS answer, `logprobs[torch.arange(batch), "
          "answer_ids]` (`logprobs[:, answer_ids]` is (batch, batch)).")
    check(
        tuple(patched.shape) == (N_LAYERS, batch),
        f"patched has shape {tuple(patched.shape)}, expected ({N_LAYERS}, {batch}) (n_layers, batch)",
        diagnosis="Stack one (batch,) row per block, in block order: `torch.stack(rows)`."
        if tuple(patched.shape) == (batch, N_LAYERS) else "One row per block (len(model.transformer.h)), one column "
        "per prompt.",
    )
    check(clean.is_floating_point() and patched.is_floating_point(), "expected float log-probabilities")
    check(
        bool((clean <= 1e-5).all() and (patched <= 1e-5).all()),
        f"some values are positive (largest {max(float(clean.max()), float(patched.max())):.3g}): a log-probability "
        "is <= 0",
        diagnosis="Take `log_softmax(dim=-1)` of the logits (over the vocabulary) before picking the answer: the raw "
        "logits are not log-probabilities.",
    )


def test_clean_matches_reference(saved, expected, model, data, truth):
    """The unpatched log-probabilities match the reference"""
    icl, zero_shot, answer_ids = data
    with torch.no_grad():
        logits = truth["clean_logits"]
        first = _pick(_first_position_logits(model, zero_shot).log_softmax(-1), answer_ids)
    mistakes = {
        "Those are probabilities: take the log (`log_softmax`, not `softmax`).": _pick(logits.softmax(-1), answer_ids),
        "Those are raw logits: the measure is `log_softmax(dim=-1)` of them.": _pick(logits, answer_ids),
        "You normalised over the batch: `log_softmax(dim=-1)`, over the vocabulary.":
            _pick(logits.log_softmax(0), answer_ids),
        "That is every prompt's log-probability of every answer: `logprobs[:, answer_ids]` is (batch, batch). "
        "Use `logprobs[torch.arange(batch), answer_ids]`.": logits.log_softmax(-1)[:, answer_ids],
        "That is the log-probability of the model's top token: score the RIGHT answer, `answer_ids`.":
            logits.log_softmax(-1).max(-1).values,
        "You averaged over the prompts: return one value per prompt.": _pick(logits.log_softmax(-1), answer_ids).mean(),
        "Those are scored at position 0: the answer comes after the last token, `lm_head.output[:, -1]`.": first,
    }
    clean, _ = saved()
    assert_close(clean, expected()[0], name="clean", mistakes=mistakes, atol=1e-4, check_dtype=False)


def _first_position_logits(model, prompts):
    with model.trace(prompts):
        logits = model.lm_head.output[:, 0].save()
    return logits.detach()


def test_patched_matches_reference(saved, expected, model, data, truth):
    """The patched log-probabilities match the reference, block by block"""
    icl, zero_shot, answer_ids = data
    expected = expected()[1]
    with torch.no_grad():
        lp = lambda logits: _pick(logits.log_softmax(-1), answer_ids)  # noqa: E731
        hs, clean = truth["hs"], lp(truth["clean_logits"])
        shifted = torch.stack([lp(_last_logits(model, zero_shot, min(L + 1, N_LAYERS - 1), h)) for L, h in enumerate(hs)])
        first = torch.stack([lp(_last_logits(model, zero_shot, L, h, position=0)) for L, h in enumerate(hs)])
    mistakes = {
        "Every row is the unpatched one: the patch didn't happen. In each trace, assign "
        "`model.transformer.h[L].output[:, -1] = hs[L]` before reading `model.lm_head.output`.":
            clean.expand(N_LAYERS, -1),
        "Rows and columns are swapped: patched is (n_layers, batch), one row per block.": expected.T,
        "hs[L] was patched at block L + 1: h_L goes back to block L, where it was taken.": shifted,
        "You patched position 0: h goes to the last position, `output[:, -1]`.": first,
        "Those are probabilities: take the log (`log_softmax`).": expected.exp(),
    }
    _, patched = saved()
    assert_close(patched, expected, name="patched", mistakes=mistakes, atol=1e-4, check_dtype=False)


def test_last_block_is_h_alone(saved, model, data, truth):
    """Patched at the last block, every prompt's distribution is lm_head(ln_f(h)) (worked out by hand)"""
    icl, zero_shot, answer_ids = data
    hf = model._module
    with torch.no_grad():
        logprobs = hf.lm_head(hf.transformer.ln_f(truth["hs"][-1])).log_softmax(-1)  # (d_vocab,)
    _, patched = saved()
    check(tuple(patched.shape) == (N_LAYERS, len(zero_shot)), f"patched has shape {tuple(patched.shape)}")
    assert_close(patched[-1], logprobs[answer_ids], name=f"patched[{N_LAYERS - 1}] (the last block)", atol=1e-4,
                 check_dtype=False,
                 diagnosis="After the last block, the last position's residual stream is h itself, so the logits are "
                 "lm_head(ln_f(h)) for every prompt; score each prompt's answer in them.")


def test_passes_remote_on(student, model, data):
    """Passes `remote` on to every model.trace"""
    icl, zero_shot, answer_ids = data
    with remote_recorded(model) as calls:
        _run(student, model, icl[:2], zero_shot[:2], answer_ids[:2], remote=True)
    check(
        len(calls) >= 2 and all(c is True for c in calls),
        f"model.trace was called with remote={calls!r} when hidden_state_logprobs was given remote=True",
        diagnosis="Write `with model.trace(zero_shot_prompts, remote=remote):` for every trace.",
    )
