"""Hidden test for exercise 10: greedy generation without and with the function vector, added to block
`layer`'s output at the last position of every forward pass (the prompt's, then each new token's).

Runs on a tiny random GPT-J (2 blocks, d_model 32, built in code, weights redrawn at std 0.3) with a
random vector large enough to change its greedy completions, on zero-shot and few-shot prompts (a
left-padded batch). Adding the vector at the prompt's step only, at the wrong position or to the wrong
layer gives different completions here, and the test names those mistakes.
"""

import pytest
import torch

from arena_cli.testing import CheckFailed, check
from arena_course.function_vectors.generation import new_token_texts, prompt_width
from arena_course.function_vectors.models import tiny_gptj
from arena_course.function_vectors.tasks import ICLDataset, load_word_pairs
from arena_course.function_vectors.testing import call_traced, check_remote_everywhere, matching_mistake, once_per_input
from arena_course.function_vectors.testing import remote_recorded, shared, sharp
from arena_course.testing import check_sequence

N_LAYERS, D_MODEL, N_NEW = 2, 32, 4

_CRASH = (
    "In `with model.generate(max_new_tokens=n, do_sample=False, remote=remote) as tracer:`, each "
    "`with tracer.invoke(prompts):` is a share of the batch; `for step in tracer.iter[:n]:` repeats its body at "
    "every step; `model.transformer.h[layer].output` is (batch, seq, d_model) (seq is 1 after the first step)."
)


def _model(seed=0):
    return sharp(tiny_gptj, seed, n_layers=N_LAYERS, std=0.3)


model = shared(_model, "model")


@pytest.fixture(scope="module")
def prompts():
    pairs = load_word_pairs("antonyms")
    return ICLDataset(pairs, 4, 2, seed=1).zero_shot().prompts + ICLDataset(pairs, 2, 1, seed=3).prompts


@pytest.fixture(scope="module")
def fv():
    return torch.randn(D_MODEL, generator=torch.Generator().manual_seed(0)) * 3


@pytest.fixture(scope="module")
def saved(student, model, prompts, fv):
    """`saved(layer)`: the student's (without, with_fv) for the module's prompts and vector, one call per block."""
    return once_per_input(_run, student, model, prompts, fv)


def _generate(model, prompts, fv, layer, *, steps="every", position=-1, site="output", sign=1.0):
    """Greedy completions with the vector added one way or another (the right way by default)."""
    chosen = list(range(N_NEW)) if steps == "every" else [0]
    with torch.no_grad(), model.generate(max_new_tokens=N_NEW, do_sample=False) as tracer:
        with tracer.invoke(prompts):
            for step in tracer.iter[chosen]:
                block = model.transformer.h[layer]
                value = block.output if site == "output" else block.input
                if position == "all":
                    value[:] += sign * fv
                else:
                    value[:, position] += sign * fv
            ids = tracer.result.save()
    return new_token_texts(model.tokenizer, ids, prompt_width(model.tokenizer, prompts))


def _plain(model, prompts):
    with torch.no_grad(), model.generate(prompts, max_new_tokens=N_NEW, do_sample=False) as tracer:
        ids = tracer.result.save()
    return new_token_texts(model.tokenizer, ids, prompt_width(model.tokenizer, prompts))


def _run(student, model, prompts, fv, layer, **kwargs):
    with torch.no_grad():
        out = call_traced(student.generate_with_function_vector, model, prompts, fv, layer, N_NEW,
                          diagnosis=_CRASH, **kwargs)
    without, with_fv = check_sequence(out, "generate_with_function_vector", 2, "two lists of strings (without, "
                                      "with_fv)", "Return `without, with_fv`.")
    for name, texts in (("without", without), ("with_fv", with_fv)):
        check(
            isinstance(texts, (list, tuple)) and len(texts) == len(prompts) and all(isinstance(t, str) for t in texts),
            f"{name} should be a list of {len(prompts)} strings, one per prompt; got {type(texts).__name__}"
            + (f" of length {len(texts)}" if isinstance(texts, (list, tuple)) else ""),
            diagnosis="The two invokes make rows 0..batch-1 (no vector) and batch..2*batch-1 (with it); decode each "
            "half with `new_token_texts(model.tokenizer, ids, prompt_width(model.tokenizer, prompts))`.",
        )
    return list(without), list(with_fv)


def _show(texts):
    return "[" + ", ".join(repr(t) for t in texts[:3]) + (", ..." if len(texts) > 3 else "") + "]"


def _compare(name, actual, expected, mistakes):
    """The completions are the expected ones; else which mistake gives them (`mistakes` computed only then: each
    is a generation)."""
    if actual != expected:
        wrong = sum(a != e for a, e in zip(actual, expected))
        raise CheckFailed(f"{name}: {wrong} of {len(expected)} completions differ; expected {_show(expected)}, got "
                          f"{_show(actual)}", diagnosis=matching_mistake(actual, mistakes))


def test_without_is_plain_generation(saved, model, prompts, fv):
    """The completions without the vector are the model's plain greedy completions"""
    without, _ = saved(1)
    plain = _plain(model, prompts)
    _compare("without (no function vector)", without, plain, lambda: {
        "Your completions 'without' are the ones WITH the vector: add the vector only in the second invoke "
        "(and return `without, with_fv` in that order).": _generate(model, prompts, fv, 1),
    })


@pytest.mark.parametrize("layer", [0, 1])
def test_with_fv_matches_reference(saved, reference, model, prompts, fv, layer):
    """The completions with the vector match the reference (added to h[layer].output[:, -1] at every step)"""
    with torch.no_grad():
        expected = reference.generate_with_function_vector(model, prompts, fv, layer, N_NEW)[1]
    _, with_fv = saved(layer)

    def mistakes():  # computed only if the completions differ: each is a generation
        found = {
            "You added the vector at the prompt's forward pass only: this exercise adds it at EVERY step (loop "
            "`for step in tracer.iter[:max_new_tokens]:` around the edit), as Todd et al. do when they generate.":
                _generate(model, prompts, fv, layer, steps="prompt"),
            "You added the vector at position 0: add it at the last position, `[:, -1]` (the prompt's last token, "
            "then the new token).": _generate(model, prompts, fv, layer, position=0),
            "You added the vector at every position of the prompt: add it at the last one only, `[:, -1]`.":
                _generate(model, prompts, fv, layer, position="all"),
            "You subtracted the vector: add it (`+= fv`).": _generate(model, prompts, fv, layer, sign=-1.0),
            "You returned the completions without the vector as 'with_fv': return `without, with_fv`.":
                _plain(model, prompts),
        }
        if layer > 0:
            found["You added the vector to block `layer`'s INPUT (the previous block's output): add it to "
                  "`model.transformer.h[layer].output`."] = _generate(model, prompts, fv, layer, site="input")
        return found

    _compare(f"with_fv (layer {layer})", with_fv, expected, mistakes)


def test_vector_changes_completions(saved, student, model, prompts):
    """Adding a large vector changes the completions; adding zero changes nothing"""
    without, with_fv = saved(0)
    check(
        with_fv != without,
        "with a large vector the completions are the same as without it",
        diagnosis="Edit `model.transformer.h[layer].output[:, -1]` in place (`+= fv`) inside the second invoke, "
        "inside the `for step in tracer.iter[...]` loop.",
    )
    without0, with0 = _run(student, model, prompts, torch.zeros(D_MODEL), 0)
    check(with0 == without0, f"adding a zero vector changed the completions: {_show(without0)} -> {_show(with0)}",
          diagnosis="Add the vector, don't replace the hidden state with it.")


def test_generation_that_stops_early(student, prompts, fv):
    """Still returns the completions when every prompt ends at once (end-of-text at the first step)"""
    model = _model()
    with torch.no_grad():
        model._module.lm_head.bias[model.tokenizer.eos_token_id] += 1e4  # end-of-text wins at every position
    try:
        without, with_fv = _run(student, model, prompts, fv, 0)
    except CheckFailed as e:
        if "UnboundLocalError" in str(e) or "NameError" in str(e):
            e.diagnosis = (
                "The generation stopped after one step (every row produced end-of-text), so the steps your "
                "`tracer.iter[...]` loop asks for never came: nnsight cut the loop short and skipped the lines after "
                "it in that invoke. Read `tracer.result` in an invoke of its own: `with tracer.invoke(): ids = "
                "tracer.result.save()`."
            )
        raise
    check(
        without == [""] * len(prompts) and with_fv == [""] * len(prompts),
        f"expected empty completions (the model ends the text at once), got {_show(without)} and {_show(with_fv)}",
        diagnosis="Decode the new tokens only, dropping special tokens: `new_token_texts(model.tokenizer, ids, "
        "prompt_width(model.tokenizer, prompts))`.",
    )


def test_passes_remote_on(student, model, prompts, fv):
    """Passes `remote` on to model.generate"""
    with remote_recorded(model, methods=("trace",)) as calls:  # model.generate opens its trace through model.trace
        _run(student, model, prompts, fv, 0, remote=True)
    check_remote_everywhere(calls, "Write `model.generate(max_new_tokens=..., do_sample=False, remote=remote)`.",
                            what="model.generate / model.trace")
