"""Hidden test for exercise 12: generation with `coeff * steering` added to the residual stream entering
block `layer` at the prompt's first `pos` positions, in the prompt's forward pass only; returns the
unsteered and steered completions.

Runs on a tiny random GPT-2 (3 blocks, d_model 32, built in code, weights redrawn at std 0.3) with greedy
decoding, and a steering vector made the reference's way from "I love you" - "I hate" (4 positions). Adding
it at the wrong positions, to the wrong layer, with the wrong sign or scale gives different completions
here, and the test names those mistakes.
"""

import pytest
import torch

from arena_cli.testing import CheckFailed, check
from arena_course.function_vectors.generation import new_token_texts, space_token_id, with_bos
from arena_course.function_vectors.models import tiny_gpt2
from arena_course.function_vectors.testing import call_traced, check_remote_everywhere, matching_mistake, once_per_input
from arena_course.function_vectors.testing import remote_recorded, shared, sharp
from arena_course.testing import check_sequence

N_LAYERS, N_NEW = 3, 5
PROMPT = "I hate the weather today"
LAYER, COEFF = 1, 4.0

_CRASH = (
    "In `with model.generate(max_new_tokens=n, remote=remote, **generate_kwargs) as tracer:`, two `with "
    "tracer.invoke(batch):` blocks; in the second, `model.transformer.h[layer].input[:, :pos] += coeff * "
    "steering` ((n_completions, pos, d_model) += (pos, d_model)). A size error at a later step means the edit ran "
    "at every step (a `tracer.iter` loop): after the prompt each pass has one position, so add it once, with no "
    "loop."
)


def _model():
    return sharp(tiny_gpt2, n_layers=N_LAYERS, std=0.3)


model = shared(_model, "model")


@pytest.fixture(scope="module")
def steering(model):
    """"I love you" - "I hate" entering block LAYER, made the reference's way: (4, d_model)."""
    tok = model.tokenizer
    a, s = with_bos(tok, "I love you"), with_bos(tok, "I hate")
    s = s + [space_token_id(tok)] * (len(a) - len(s))
    with torch.no_grad(), model.trace(torch.tensor([a, s])):
        x = model.transformer.h[LAYER].input.save()
    return (x[0] - x[1]).detach()


@pytest.fixture(scope="module")
def saved(student, model, steering):
    """`saved()`: the student's (unsteered, steered) for PROMPT with COEFF * steering at LAYER, from one call."""
    return once_per_input(_run, student, model, PROMPT, steering, LAYER, COEFF)


def _generate(model, prompt, steering, layer, coeff, *, where="first", site="input", n=1):
    """Greedy completions with the steering added one way or another (the right way by default)."""
    ids = with_bos(model.tokenizer, prompt)
    pos = steering.shape[0]
    with torch.no_grad(), model.generate(max_new_tokens=N_NEW, do_sample=False) as tracer:
        with tracer.invoke(torch.tensor([ids] * n)):
            if coeff is not None:
                block = model.transformer.h[layer]
                value = block.input if site == "input" else block.output
                if where == "first":
                    value[:, :pos] += coeff * steering
                elif where == "last":
                    value[:, -pos:] += coeff * steering
                else:  # "aligned to the end of the BOS-less prompt": positions 1 .. pos
                    value[:, 1:pos + 1] += coeff * steering
            out = tracer.result.save()
    return new_token_texts(model.tokenizer, out, len(ids))


def _mistakes(model, prompt, steering):
    return {
        "Your steered completions are the unsteered ones: the edit changed nothing. Add `coeff * steering` to the "
        "block's INPUT, `model.transformer.h[layer].input[:, :pos]`, inside the second invoke, and return `unsteered, "
        "steered` in that order.": _generate(model, prompt, steering, LAYER, None),
        "You added the steering vector at the LAST positions of the prompt: ActAdd adds it at the first ones, "
        "`[:, :pos]` (BOS on BOS).": _generate(model, prompt, steering, LAYER, COEFF, where="last"),
        "Your steering vector is shifted one position to the right: `[:, :pos]`, from position 0 (BOS) on.":
            _generate(model, prompt, steering, LAYER, COEFF, where="shifted"),
        "You added it to block `layer`'s OUTPUT: the vector was read from the block's INPUT (the stream entering "
        "it), so add it there, `model.transformer.h[layer].input`.":
            _generate(model, prompt, steering, LAYER, COEFF, site="output"),
        "You left out the coefficient: add `coeff * steering`.": _generate(model, prompt, steering, LAYER, 1.0),
        "You subtracted the steering vector: add `coeff * steering`.":
            _generate(model, prompt, steering, LAYER, -COEFF),
    }


def _run(student, model, prompt, steering, layer, coeff, **kwargs):
    with torch.no_grad():
        out = call_traced(student.steered_generation, model, prompt, steering, layer, coeff, N_NEW,
                          diagnosis=_CRASH, **kwargs)
    check_sequence(out, "steered_generation", 2, "two lists of strings (unsteered, steered)", "Return `unsteered, steered`.")
    n = kwargs.get("n_completions", 1)
    for name, texts in zip(("unsteered", "steered"), out):
        check(
            isinstance(texts, (list, tuple)) and len(texts) == n and all(isinstance(t, str) for t in texts),
            f"{name} should be a list of {n} strings (n_completions={n}); got {type(texts).__name__}"
            + (f" of length {len(texts)}" if isinstance(texts, (list, tuple)) else ""),
            diagnosis="Decode each invoke's saved ids with `new_token_texts(model.tokenizer, ids, len(prompt_ids))`.",
        )
    return list(out[0]), list(out[1])


def _compare(name, actual, expected, mistakes):
    """The completions are the expected ones; else which mistake gives them (`mistakes` computed only then: each
    is a generation)."""
    if actual != expected:
        raise CheckFailed(f"{name}: expected {expected!r}, got {actual!r}", diagnosis=matching_mistake(actual, mistakes))


def test_unsteered_is_plain_generation(saved, model, steering):
    """The unsteered completions are the model's plain greedy completions of [BOS] + prompt"""
    unsteered, _ = saved()
    _compare("unsteered", unsteered, _generate(model, PROMPT, steering, LAYER, None), lambda: {
        "Your unsteered completions are steered: add the steering vector in the second invoke only (and return "
        "`unsteered, steered` in that order).": _generate(model, PROMPT, steering, LAYER, COEFF),
    })


def test_steered_matches_reference(saved, reference, model, steering):
    """The steered completions match the reference (coeff * steering added at the first positions entering block
    `layer`)"""
    with torch.no_grad():
        expected = reference.steered_generation(model, PROMPT, steering, LAYER, COEFF, N_NEW)[1]
    _, steered = saved()
    _compare("steered", steered, expected, lambda: _mistakes(model, PROMPT, steering))


def test_zero_coefficient_changes_nothing(student, model, steering):
    """With coeff = 0 the steered completions are the unsteered ones; with a large coeff they differ"""
    unsteered, steered = _run(student, model, PROMPT, steering, LAYER, 0.0)
    check(steered == unsteered, f"with coeff = 0, steered {steered!r} differs from unsteered {unsteered!r}",
          diagnosis="Add `coeff * steering` to the residual stream: with coeff 0 nothing should change.")
    unsteered, steered = _run(student, model, PROMPT, steering, LAYER, 20.0)
    check(steered != unsteered, f"with coeff = 20 the steered completions are the unsteered ones: {steered!r}",
          diagnosis="Edit `model.transformer.h[layer].input[:, :pos]` in place (`+=`) inside the second invoke, "
          "before `tracer.result` is read.")


def test_several_completions(student, reference, model, steering):
    """Returns n_completions completions of each kind, and steers a longer prompt at its first positions"""
    prompt = "I hate the city and the weather today"
    with torch.no_grad():
        expected = reference.steered_generation(model, prompt, steering, LAYER, COEFF, N_NEW,
                                                n_completions=3)
    unsteered, steered = _run(student, model, prompt, steering, LAYER, COEFF, n_completions=3)
    _compare("unsteered (n_completions=3)", unsteered, list(expected[0]), {})
    _compare("steered (n_completions=3)", steered[:1], list(expected[1])[:1], lambda: _mistakes(model, prompt, steering))
    check(steered == steered[:1] * 3 and unsteered == unsteered[:1] * 3,
          "with greedy decoding the 3 completions of each kind should be the same",
          diagnosis="Repeat the prompt's ids `n_completions` times in the batch (given as `batch`) and invoke both "
          "with it.")


def test_passes_remote_on(student, model, steering):
    """Passes `remote` on to model.generate"""
    with remote_recorded(model, methods=("trace",)) as calls:  # model.generate opens its trace through model.trace
        _run(student, model, PROMPT, steering, LAYER, COEFF, remote=True)
    check_remote_everywhere(calls, "Write `model.generate(max_new_tokens=max_new_tokens, remote=remote, "
                            "**generate_kwargs)`.", what="model.generate")
