"""The result of chapter 3, section 2 (task-encoding hidden states), with the reference solutions.

- `run_result` on a tiny random GPT-J (reduced scale): the plot and the completions table are written, the
  shapes and the chosen block follow from exercise 07's numbers, and exercise 06 agrees with exercise 05.
- The tiny model of the --tiny result (`function_vectors.trained_tiny_icl_gptj`, shared by every
  section's --tiny result; trained here once, ~30 s of CPU):
  it does ICL, and h of english_french / singular_plural patched at block 1 makes it answer the shared words
  ("cat") with that task, far better than the zero-shot prompt alone.
- Without a model or key the real run prints one line (naming GPT-J, NDIF, the cache and --tiny), exits 1.
"""

from pathlib import Path

import pytest
import torch

from arena_course.function_vectors import hidden_states as fvh
from arena_course.function_vectors.models import TINY_TASK_VECTOR_BLOCK, tiny_gptj
from arena_course.function_vectors.tasks import ICLDataset, answer_token_ids, load_word_pairs
from arena_course.loading import load_sibling
from arena_course.models import ModelUnavailable

ROOT = Path(__file__).resolve().parents[2]
RESULT = ROOT / "solutions" / "3_function_vectors" / "07_hidden_state_logprobs.py"


def _functions():
    """The reference's exercises 05-07, loaded the way the result loads them."""
    names = ["patch_hidden_state", "hidden_state_one_pass", "hidden_state_logprobs"]
    return {name: getattr(load_sibling(RESULT, name), name) for name in names}


def _setting(model, tiny=True, n_icl=8):
    task, other = fvh.AMBIGUOUS_PAIR
    queries = fvh.ambiguous_queries(task, other)[:6]
    table = dict(load_word_pairs(task))
    return fvh.ResultSetting(
        model=model, remote=False, tiny=tiny, name="a tiny random GPT-J", task=task, other_task=other,
        icl=ICLDataset(load_word_pairs(task), n_icl, 3, seed=1).prompts,
        other_icl=ICLDataset(load_word_pairs(other), n_icl, 3, seed=1).prompts,
        queries=queries, answers=[table[q] for q in queries], n_examples=3,
    )


@pytest.fixture(scope="module")
def random_result(tmp_path_factory):
    torch.set_num_threads(1)
    setting = _setting(tiny_gptj(0, n_layers=2))
    out = tmp_path_factory.mktemp("fv_h")
    return setting, fvh.run_result(setting, **_functions(), out_dir=out), out


def test_result_writes_the_plot_and_the_table(random_result):
    """The plot and the table are written under the names of a tiny run, and the table has a row per query."""
    setting, summary, out = random_result
    png, txt = out / "h_by_layer_tiny.png", out / "h_completions_tiny.txt"
    assert summary.paths == [png, txt]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = txt.read_text()
    assert f"with h of {setting.task}" in text and f"with h of {setting.other_task}" in text
    for query, answer in zip(setting.queries, setting.answers):
        assert any(line.split()[:2] == [query, answer] for line in text.splitlines())
    assert len(summary.rows) == len(setting.queries)


def test_result_numbers_follow_exercise_07(random_result):
    """Log-probabilities of the right shapes, <= 0; the table's block is the best one; exercise 06 agrees."""
    setting, summary, _ = random_result
    n = len(setting.queries)
    assert summary.clean.shape == (n,) and summary.with_examples.shape == (n,)
    assert summary.patched.shape == (2, n)
    assert (summary.clean <= 0).all() and (summary.patched <= 0).all() and (summary.with_examples <= 0).all()
    assert summary.layer == int(summary.patched.mean(1).argmax())
    assert summary.one_pass_agrees == n


def test_patching_the_last_block_gives_one_distribution(random_result):
    """Patched at the last block, queries with the same answer get the same log-probability (it is h's alone)."""
    setting, summary, _ = random_result
    hf = setting.model._module
    with torch.no_grad(), setting.model.trace(setting.icl):
        h = setting.model.transformer.h[-1].output[:, -1].mean(0).save()
    logprobs = hf.lm_head(hf.transformer.ln_f(h)).log_softmax(-1)
    ids = answer_token_ids(setting.model.tokenizer, [" " + a for a in setting.answers])
    torch.testing.assert_close(summary.patched[-1], logprobs[ids].detach(), atol=1e-4, rtol=1e-4)


def test_chosen_layer_is_used_and_checked(tmp_path):
    """--layer picks the table's block; a block the model doesn't have is a clear error."""
    setting = _setting(tiny_gptj(1, n_layers=2), n_icl=4)
    summary = fvh.run_result(setting, **_functions(), out_dir=tmp_path, layer=0)
    assert summary.layer == 0
    with pytest.raises(fvh.LayerOutOfRange, match="block of the model"):
        fvh.run_result(setting, **_functions(), out_dir=tmp_path, layer=5)


def test_real_setting_is_gpt_j_on_antonyms(tmp_path):
    """Without --tiny: GPT-J (here a tiny model injected in its place), antonyms with 10 examples per prompt, h of
    english_french for the other column, and the result runs on it."""
    calls = []

    def load():
        calls.append(True)
        return tiny_gptj(2, n_layers=2), False

    setting = fvh.result_setting(False, load=load)
    assert calls and setting.name == "GPT-J-6B" and not setting.tiny and setting.suffix == ""
    assert (setting.task, setting.other_task, setting.n_examples) == ("antonyms", "english_french", 10)
    assert len(setting.icl) == 16 and len(setting.queries) == 16
    assert all(p.count("Q: ") == 11 for p in setting.icl)
    antonyms = dict(load_word_pairs("antonyms"))
    assert setting.answers == [antonyms[q] for q in setting.queries]
    summary = fvh.run_result(setting, **_functions(), out_dir=tmp_path)
    assert summary.paths == [tmp_path / "h_by_layer.png", tmp_path / "h_completions.txt"]


def test_ambiguous_queries_have_two_answers():
    """The shared words of english_french and singular_plural: each has a different answer in each task."""
    words = fvh.ambiguous_queries(*fvh.AMBIGUOUS_PAIR)
    assert "cat" in words and len(words) >= 8
    french, plural = dict(load_word_pairs("english_french")), dict(load_word_pairs("singular_plural"))
    assert all(french[w] != plural[w] for w in words)


# --------------------------------------------------------------------------- the tiny trained model


@pytest.fixture(scope="module")
def trained(trained_icl_model):
    """The --tiny result's model (conftest's session fixture, trained from scratch)."""
    return trained_icl_model


def test_trained_model_does_icl(trained):
    """With 5 examples in the prompt, the model's top answer is right for most queries of every task, and for
    over 70% of all of them (seeds 0-4: 81-100% per task on benchmarks/tiny_icl_model.py's 32 prompts each)."""
    tok = trained.tokenizer
    rights = {}
    for task in ("antonyms", "country_capital", "english_french"):
        data = ICLDataset(load_word_pairs(task), 24, 5, seed=7)
        with torch.no_grad(), trained.trace(data.prompts):
            top = trained.lm_head.output[:, -1].argmax(-1).save()
        rights[task] = float((top == answer_token_ids(tok, data.completions)).float().mean())
    assert min(rights.values()) > 0.5 and sum(rights.values()) / len(rights) > 0.7, f"right with examples: {rights}"


def test_trained_model_h_carries_the_task(trained):
    """On the shared words, h patched at block 1 raises the right answer's log-probability well above the
    zero-shot prompt's, for both tasks: h selects the task. (Seeds 0-4: by 0.44 to 0.96 nats, to a mean
    log-probability between -0.23 and -0.05.)"""
    load = _functions()["hidden_state_logprobs"]
    for task, other in (fvh.AMBIGUOUS_PAIR, fvh.AMBIGUOUS_PAIR[::-1]):
        queries = fvh.ambiguous_queries(task, other)
        table = dict(load_word_pairs(task))
        ids = answer_token_ids(trained.tokenizer, [" " + table[q] for q in queries])
        icl = ICLDataset(load_word_pairs(task), 32, 5, seed=1).prompts
        with torch.no_grad():
            clean, patched = load(trained, icl, [f"Q: {q}\nA:" for q in queries], ids)
        block = TINY_TASK_VECTOR_BLOCK
        assert patched[block].mean() > clean.mean() + 0.4, (task, clean.mean(), patched.mean(1))
        assert patched[block].mean() > -1.5, (task, patched.mean(1))


# --------------------------------------------------------------------------- offline


def test_unavailable_model_message_adds_tiny():
    """When GPT-J can't be had, the one-line message gains how to run offline instead."""

    def load():
        raise ModelUnavailable("Needs GPT-J-6B: no key.", "no key")

    with pytest.raises(ModelUnavailable) as info:
        fvh.result_setting(False, load=load)
    message = str(info.value)
    assert "\n" not in message and "Needs GPT-J-6B" in message and "07_hidden_state_logprobs.py --tiny" in message


def test_without_a_model_the_result_is_one_line(offline_result):
    """Offline, with no NDIF_API_KEY and an empty Hugging Face cache, the result prints one line naming the
    model, NDIF and --tiny, exits 1, and writes nothing."""
    assert offline_result(RESULT, ["GPT-J-6B", "NDIF_API_KEY", "Hugging Face cache", "--tiny"]) == 1