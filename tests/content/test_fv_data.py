"""Chapter 3's given code (arena_course/function_vectors/tasks.py, models.py): task files, ICL prompts, tiny
models, and the one-line message when the real model can't be had."""

import os
import subprocess
import sys

import pytest
import torch

from arena_course.function_vectors.models import fv_tokenizer, fv_words, tiny_gpt2, tiny_gptj
from arena_course.function_vectors.tasks import ICLDataset, load_word_pairs, task_names


def test_every_task_file_is_well_formed_and_in_the_tiny_vocabulary():
    assert set(task_names()) >= {"antonyms", "country_capital", "english_french", "present_past", "singular_plural"}
    vocab = set(fv_words())
    for task in task_names():
        pairs = load_word_pairs(task)
        assert len(pairs) >= 30, task
        assert len({x for x, _ in pairs}) == len(pairs), f"{task}: a query appears twice"
        assert all(x in vocab and y in vocab for x, y in pairs)
    with pytest.raises(ValueError, match="no task 'nope'"):
        load_word_pairs("nope")


def test_icl_prompts_have_the_papers_format():
    pairs = [("hot", "cold"), ("big", "small"), ("up", "down"), ("fast", "slow")]
    data = ICLDataset(pairs, size=5, n_prepended=2, seed=0)
    for prompt, examples, query, completion in zip(data.prompts, data.examples, data.queries, data.completions):
        assert prompt == f"Q: {examples[0][0]}\nA: {examples[0][1]}\n\nQ: {examples[1][0]}\nA: {examples[1][1]}\n\nQ: {query}\nA:"
        assert completion == " " + dict(pairs)[query]
        assert query not in [x for x, _ in examples]
    assert data.prompts == ICLDataset(pairs, size=5, n_prepended=2, seed=0).prompts
    assert data.zero_shot().prompts == [f"Q: {q}\nA:" for q in data.queries]
    assert data.zero_shot().completions == data.completions


def test_corrupted_prompts_shuffle_the_example_answers_only():
    data = ICLDataset(load_word_pairs("antonyms"), size=50, n_prepended=5, seed=1)
    bad = data.corrupted()
    assert bad.queries == data.queries and bad.completions == data.completions
    mismatched = 0
    for good, shuffled in zip(data.examples, bad.examples):
        assert [x for x, _ in good] == [x for x, _ in shuffled]
        assert sorted(y for _, y in good) == sorted(y for _, y in shuffled)
        mismatched += sum(a != b for (_, a), (_, b) in zip(good, shuffled))
    assert mismatched > 0.6 * 50 * 5  # most example answers no longer belong to their question


def test_the_tokenizer_keeps_newlines_and_pads_on_the_left():
    tok = fv_tokenizer()
    ids = tok("Q: hot\nA: cold\n\nQ: big\nA:")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["Q", ":", "hot", "\n", "A", ":", "cold", "\n", "\n", "Q", ":", "big", "\n", "A", ":"]
    assert tok(" cold", add_special_tokens=False)["input_ids"] == [tok.convert_tokens_to_ids("cold")]
    batch = tok(["Q: up\nA:", "Q: a b c\nA:"], padding=True, return_tensors="pt")
    assert batch["input_ids"][0, 0] == tok.pad_token_id and batch["input_ids"][:, -1].eq(tok.convert_tokens_to_ids(":")).all()


@pytest.mark.parametrize("build", [tiny_gptj, tiny_gpt2])
def test_tiny_models_trace_with_gpt_module_names(build):
    model = build(seed=0)
    prompts = ICLDataset(load_word_pairs("antonyms"), size=3, n_prepended=2).prompts
    with model.trace(prompts):
        hidden = model.transformer.h[1].output.save()
        logits = model.lm_head.output.save()
    assert hidden.shape[0] == 3 and hidden.shape[-1] == 32
    assert logits.shape[-1] == len(fv_words())
    same = build(seed=0)  # same seed, same weights
    with same.trace(prompts):
        logits2 = same.lm_head.output.save()
    assert torch.equal(logits, logits2)


def test_without_weights_or_key_the_real_model_is_one_line(tmp_path):
    code = "from arena_course.function_vectors.models import load_fv_model\nload_fv_model()\n"
    env = {k: v for k, v in os.environ.items() if k != "NDIF_API_KEY"}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "ModelUnavailable: Needs GPT-J-6B ('EleutherAI/gpt-j-6b'" in last
    assert "NDIF_API_KEY" in last and "Hugging Face cache" in last
