"""The results of chapter 3, sections 3 (function vectors) and 4 (steering), at reduced scale, with the
reference solutions.

- Section 3 (`solutions/3_function_vectors/10_generate_with_function_vector.py --tiny`): each head's causal
  indirect effect as a heatmap, the function vector of the top heads, zero-shot completions without and with
  it. Checked on a tiny GPT-J: the heatmap is written, the top heads are the grid's largest, the table has a
  row per zero-shot prompt.
- Section 4 (`solutions/3_function_vectors/12_steered_generation.py --tiny`): steered vs unsteered
  completions. Checked on the tiny GPT-2 trained on the toy sentiment language: "I love" - "I hate" entering
  block 0 turns the endings of "I hate ..." sentences from bad/sad to good/happy, and entering block 1 it
  changes nothing (the ending is read in block 0).
- Both real runs load their model through `load_fv_model` (here a tiny model injected), and without a model or
  key print one line naming it, the two ways to get it and --tiny, and exit 1.
"""

from argparse import Namespace
from pathlib import Path

import pytest
import torch

from arena_course.function_vectors import generation, steering, vectors
from arena_course.function_vectors.models import tiny_gpt2, tiny_gptj
from arena_course.function_vectors.tasks import ICLDataset, answer_token_ids, load_word_pairs, task_names
from arena_course.function_vectors.testing import sharpened
from arena_course.loading import load_sibling
from arena_course.models import ModelUnavailable

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions" / "3_function_vectors"
FV_RESULT = SOLUTIONS / "10_generate_with_function_vector.py"
STEERING_RESULT = SOLUTIONS / "12_steered_generation.py"


def _fv_functions():
    """The reference's functions of exercises 08-10, loaded the way the result loads them."""
    names = ["head_indirect_effects", "function_vector", "generate_with_function_vector"]
    return {name: getattr(load_sibling(FV_RESULT, name), name) for name in names}


def _steering_functions():
    return {name: getattr(load_sibling(STEERING_RESULT, name), name) for name in ["steering_vector", "steered_generation"]}


# --------------------------------------------------------------------------- section 3


@pytest.fixture(scope="module")
def fv_summary(tmp_path_factory):
    torch.manual_seed(0)
    model = sharpened(tiny_gptj(0, n_layers=2), std=0.3)
    pairs = load_word_pairs("antonyms")
    setup = vectors.FunctionVectorSetup(
        model=model, remote=False, tiny=True, name="a tiny random GPT-J", task="antonyms",
        dataset=ICLDataset(pairs, 8, 3, seed=0), zero_shot=ICLDataset(pairs, 6, 0, seed=1),
        layer=0, k=3, max_new_tokens=3,
    )
    out = tmp_path_factory.mktemp("fv")
    return setup, vectors.run_function_vector_result(setup, **_fv_functions(), out_dir=out), out


def test_function_vector_result_writes_the_heatmap(fv_summary):
    """The layer x head heatmap is written as a PNG named for the tiny run."""
    setup, summary, out = fv_summary
    assert summary.path == out / "head_effects_tiny.png"
    assert summary.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert summary.effects.shape == (2, 4)


def test_function_vector_result_top_heads_and_table(fv_summary):
    """The outlined heads are the grid's k largest effects, largest first; the table has a row per zero-shot
    prompt, and the counts of right first words agree with it."""
    setup, summary, _ = fv_summary
    values = [v for _, _, v in summary.top_heads]
    assert len(values) == setup.k and values == sorted(values, reverse=True)
    assert values[-1] >= float(summary.effects.flatten().topk(setup.k).values[-1]) - 1e-12
    for layer, head, value in summary.top_heads:
        assert float(summary.effects[layer, head]) == pytest.approx(value)
    assert summary.fv.shape == (setup.model.config.n_embd,)
    assert len(summary.rows) == len(setup.zero_shot)
    assert summary.correct_with == sum(vectors.first_word(f) == a for _, a, _, f in summary.rows)
    assert "with the function vector" in summary.report and "First word right" in summary.report


def test_first_word():
    """A completion's first word, without punctuation or case: what the table compares with the answer."""
    assert vectors.first_word(" Cold.\n\nQ: hot") == "cold"
    assert vectors.first_word("cold") == "cold"
    assert vectors.first_word("\n") == ""


def test_function_vector_setup_loads_gpt_j_with_the_papers_settings():
    """Without --tiny the setup loads GPT-J through load_fv_model and uses Todd et al.'s settings: 10 examples
    per prompt, the top 10 heads, the vector added at layer 9."""
    calls = []

    def load(*args, **kwargs):
        calls.append((args, kwargs))
        return tiny_gptj(0), True

    setup = vectors.function_vector_setup(Namespace(tiny=False, task="antonyms", prompts=None, heads=None, layer=None),
                                             load=load)
    assert len(calls) == 1 and calls[0][0] == () and "device" in calls[0][1]
    assert setup.remote is True and setup.name == "GPT-J-6B on NDIF" and not setup.tiny
    assert (setup.dataset.n_prepended, setup.k, setup.layer) == (10, 10, 9)
    assert setup.zero_shot.n_prepended == 0 and all(p.endswith("A:") for p in setup.zero_shot.prompts)


def test_tiny_model_loses_the_task_when_the_answers_are_shuffled(trained_icl_model):
    """What the --tiny result's note says: on every task (32 prompts of 5 examples), shuffling the examples'
    answers lowers the tiny model's mean P(answer) by at least 0.2, and it says "." ("no task") instead.
    (Seeds 0-4: by 0.26-0.43 on every task; "." 0.43-0.56 on shuffled prompts, 0.06-0.17 on clean ones.)"""
    model = trained_icl_model
    dot = model.tokenizer.convert_tokens_to_ids(".")
    for task in task_names():
        data = ICLDataset(load_word_pairs(task), 32, 5, seed=0)
        answers = answer_token_ids(model.tokenizer, data.completions)
        p = {}
        for name, prompts in (("clean", data.prompts), ("shuffled", data.corrupted().prompts)):
            with torch.no_grad(), model.trace(prompts):
                probs = model.lm_head.output[:, -1].softmax(-1).save()
            p[name] = (float(probs[torch.arange(32), answers].mean()), float(probs[:, dot].mean()))
        assert p["clean"][0] - p["shuffled"][0] >= 0.2, (task, p)
        assert p["shuffled"][1] >= 0.3 > p["clean"][1], (task, p)


def test_tiny_model_heads_carry_the_task(trained_icl_model):
    """Patching a head's clean mean output into shuffled prompts (exercise 08's reference) gives back part of
    the answer for a few heads of the last block: the largest effect is clearly positive and the top three
    add up to at least 0.15, while the first block's heads (which bring the query to the last position,
    and whose mean can't) are negative. (Seeds 0-4: the top effect 0.07-0.20, the top three 0.18-0.41; heads
    >= 0.05: 3, 1, 3, 2, 3; docs/offline_models.md.)"""
    data = ICLDataset(load_word_pairs("singular_plural"), 32, 5, seed=0)
    with torch.no_grad():
        effects = _fv_functions()["head_indirect_effects"](trained_icl_model, data)
    top = effects.flatten().topk(3).values
    assert float(top[0]) >= 0.05 and float(top.sum()) >= 0.15, effects
    assert set(int(i) // effects.shape[1] for i in effects.flatten().topk(3).indices) <= {1, 2}, effects
    assert float(effects[0].max()) < 0, effects


# --------------------------------------------------------------------------- section 4


@pytest.fixture(scope="module")
def steering_summary(steering_model, tmp_path_factory):
    setup = steering.SteeringSetup(steering_model, False, True, "the tiny GPT-2", steering.TINY_EXPERIMENTS, 3, 1,
                                     {"do_sample": False})
    out = tmp_path_factory.mktemp("steering")
    return steering.run_steering_result(setup, **_steering_functions(), out_dir=out), out


def _ending(text):
    return text.split()[0]


def test_tiny_steering_model_learned_the_toy_language(steering_model):
    """The tiny GPT-2 ends "I love ..." sentences well and "I hate ..." ones badly."""
    results = []
    for prompt in ["I love the city . it was very", "you hate the day today . it is very"]:
        ids = torch.tensor([generation.with_bos(steering_model.tokenizer, prompt)])
        with torch.no_grad():
            logits = steering_model._module(ids).logits[0, -1]
        results.append(steering_model.tokenizer.convert_ids_to_tokens(int(logits.argmax())))
    assert results[0] in {"good", "happy"} and results[1] in {"bad", "sad"}, results


def test_steering_flips_the_ending_entering_block_0(steering_summary):
    """'I love' - 'I hate' added entering block 0 turns the endings of "hate" sentences good, and the reverse
    pair turns a "love" sentence's ending bad."""
    summary, _ = steering_summary
    for exp, unsteered, steered in summary.results[:3]:
        positive = exp.prompt_add == "I love"
        before, after = ({"bad", "sad"}, {"good", "happy"}) if positive else ({"good", "happy"}, {"bad", "sad"})
        assert _ending(unsteered[0]) in before, (exp.prompt, unsteered)
        assert _ending(steered[0]) in after, (exp.prompt, steered)


def test_steering_after_block_0_changes_nothing(steering_summary):
    """Entering block 1 the same steering leaves the ending alone: block 0 has already read the feeling word."""
    summary, _ = steering_summary
    exp, unsteered, steered = summary.results[3]
    assert exp.layer == 1 and steered == unsteered


def test_steering_result_is_written(steering_summary):
    """results/function_vectors/steering_tiny.txt holds every prompt's unsteered and steered completions."""
    summary, out = steering_summary
    assert summary.path == out / "steering_tiny.txt"
    text = summary.path.read_text(encoding="utf-8")
    assert text.count("unsteered |") == len(steering.TINY_EXPERIMENTS)
    assert text.count("steered   |") == len(steering.TINY_EXPERIMENTS)
    assert "entering block 0" in text and "entering block 1" in text


def test_steering_setup_loads_gpt2_xl_with_turner_et_al_settings():
    """Without --tiny the setup loads GPT-2 XL through load_fv_model, samples as Turner et al. do, and runs their
    examples ("Love" - "Hate" at layer 6 with coefficient 5 on "I hate you because", among others)."""
    calls = []

    def load(*args, **kwargs):
        calls.append((args, kwargs))
        return tiny_gpt2(0), False

    setup = steering.steering_setup(Namespace(tiny=False, completions=None, tokens=None, seed=0), load=load)
    assert calls and calls[0][0] == ("gpt2-xl",)
    assert setup.name == "GPT-2 XL" and setup.generate_kwargs["do_sample"] and setup.generate_kwargs["top_p"] == 0.3
    assert steering.SteeringExperiment("Love", "Hate", 6, 5.0, "I hate you because") in setup.experiments


def test_unavailable_model_message_adds_tiny():
    """When the model can't be had, the one-line message gains how to run offline instead."""

    def load(*args, **kwargs):
        raise ModelUnavailable("Needs GPT-2 XL: no key.", "no key")

    with pytest.raises(ModelUnavailable) as info:
        steering.steering_setup(Namespace(tiny=False, completions=None, tokens=None, seed=0), load=load)
    message = str(info.value)
    assert "\n" not in message and "Needs GPT-2 XL" in message and "12_steered_generation.py --tiny" in message


# --------------------------------------------------------------------------- offline


@pytest.mark.parametrize("result, model", [(FV_RESULT, "GPT-J-6B"), (STEERING_RESULT, "GPT-2 XL")])
def test_without_a_model_the_result_is_one_line(offline_result, result, model):
    """Offline, with no NDIF_API_KEY and an empty Hugging Face cache, the result prints one line naming the
    model, NDIF and --tiny, exits 1, and writes nothing."""
    assert offline_result(result, [model, "NDIF_API_KEY", "Hugging Face cache", "--tiny"]) == 1