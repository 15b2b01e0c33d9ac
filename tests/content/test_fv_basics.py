"""Function vectors, section 1 (nnsight basics): the result with the reference solutions at reduced scale,
the answer ids and the training recipe of the shared --tiny model (arena_course/function_vectors/models.py), the
test helpers the chapter's hidden tests use, and the one-line message without a model."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from arena_cli.testing import load_module
from arena_course.function_vectors import models, nnsight_basics, testing
from arena_course.function_vectors.icl_training import train_tiny_icl_gptj
from arena_course.function_vectors.models import tiny_gptj
from arena_course.function_vectors.tasks import ICLDataset, answer_token_ids, load_word_pairs, task_names

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions" / "3_function_vectors"


@pytest.fixture(scope="module")
def reference():
    return {
        name: getattr(load_module(next(SOLUTIONS.glob(f"[0-9][0-9]_{name}.py")), f"fv_basics_ref_{name}"), name)
        for name in ("trace_and_save", "attention_patterns", "intervene_on_output")
    }


def test_result_on_a_tiny_model(reference, tmp_path, capsys):
    """The result runs the three functions: a table row per prompt, accuracies, attention shares, the PNG"""
    model = models.use_eager_attention(tiny_gptj(0, n_layers=2, d_model=32, n_heads=4))
    setting = nnsight_basics.ResultSetting(model, remote=False, tiny=True)
    summary = nnsight_basics.run_result(setting, **reference, n_per_task=2, n_prepended=3, out_dir=tmp_path)
    n_prompts = 2 * len(task_names())
    lines = summary.table.splitlines()
    assert len(lines) == 2 + n_prompts + 2  # header, rule, one row per prompt, accuracy and sweep lines
    for task in task_names():
        assert sum(line.startswith(task) for line in lines) == 2
    assert 0 <= summary.accuracy <= 1 and 0 <= summary.accuracy_ablated <= 1
    assert sorted(summary.mean_p_answer_ablated) == [0, 1]  # every block's MLP of a 2-block model
    assert summary.mean_p_answer_ablated[summary.ablated_block] == min(summary.mean_p_answer_ablated.values())
    assert f"without MLP {summary.ablated_block}" in lines[0]
    assert summary.answer_attention is not None and summary.answer_attention.shape == (4,)
    assert bool(((summary.answer_attention >= 0) & (summary.answer_attention <= 1 + 1e-5)).all())
    png = tmp_path / "attention_tiny.png"
    assert png in summary.paths and png.stat().st_size > 10_000
    assert (tmp_path / "predictions_tiny.txt").read_text(encoding="utf-8").count("\n") >= n_prompts
    assert "Wrote" in capsys.readouterr().out


def test_remote_without_attention_weights_still_gives_the_table(reference, tmp_path, capsys):
    """Remotely, a model whose attention returns no pattern (sdpa) is reported in one line; the table still runs"""
    model = tiny_gptj(0, n_layers=2, d_model=32, n_heads=4)  # sdpa: attn.output[1] is None
    calls = testing.record_remote(model)  # "remote" traces run locally
    setting = nnsight_basics.ResultSetting(model, remote=True, tiny=False)
    summary = nnsight_basics.run_result(setting, **reference, n_per_task=1, n_prepended=2, out_dir=tmp_path)
    assert calls and all(calls)  # every trace was asked to run remotely
    assert summary.answer_attention is None
    assert [p.name for p in summary.paths] == ["predictions.txt"]
    out = capsys.readouterr().out
    assert "could not be read on NDIF" in out and "GPT-J-6B on NDIF" in out


def test_answer_positions_are_the_examples_answers():
    """answer_positions finds the token after each "A:" except the query's"""
    tokenizer = tiny_gptj(0).tokenizer
    data = ICLDataset(load_word_pairs("antonyms"), 1, 3, seed=0)
    tokens = tokenizer.convert_ids_to_tokens(tokenizer(data.prompts[0]).input_ids)
    positions = nnsight_basics.answer_positions(tokens)
    assert [tokens[p] for p in positions] == [y for _, y in data.examples[0]]


def test_answer_token_ids_are_each_answers_first_token():
    """answer_token_ids gives the first token of each completion, a long tensor; an empty completion is an error"""
    tokenizer = tiny_gptj(0).tokenizer
    ids = answer_token_ids(tokenizer, [" cold", " Paris", " cold"])
    assert ids.dtype == torch.long and ids.shape == (3,)
    assert tokenizer.convert_ids_to_tokens(ids.tolist()) == ["cold", "Paris", "cold"]
    with pytest.raises(ValueError, match="no tokens"):
        answer_token_ids(tokenizer, [" cold", ""])


def _icl_loss(model, texts) -> float:
    """Cross-entropy of the answers of held-out ICL prompts (the token after each "A:")."""
    tok = model.tokenizer
    enc = tok(texts, return_tensors="pt", padding=True)
    ids = enc["input_ids"]
    colon, a_token = tok.convert_tokens_to_ids([":", "A"])
    at_answer = (ids[:, 1:-1] == colon) & (ids[:, :-2] == a_token)
    with torch.no_grad():
        logits = model._module(**enc).logits[:, 1:-1]
    return float(torch.nn.functional.cross_entropy(logits[at_answer], ids[:, 2:][at_answer]))


def test_training_lowers_the_loss_on_one_thread(seed):
    """A few steps of each stage of train_tiny_icl_gptj (the shared --tiny model's recipe) lower the ICL loss on
    held-out prompts, and leave torch's thread count as it was"""
    model = tiny_gptj(1 + seed, n_layers=2, d_model=32, n_heads=4)
    texts = [d.prompts[0] + d.completions[0]
             for d in (ICLDataset(load_word_pairs(t), 1, 3, seed=100 + i) for i, t in enumerate(task_names() * 4))]
    start = _icl_loss(model, texts)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # not 1, so that a trainer which leaves its one thread behind is seen
    try:
        train_tiny_icl_gptj(model, warm_steps=20, steps=20, batch=16, seed=seed, progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert not model._module.training
    assert _icl_loss(model, texts) < start - 0.2


def test_record_remote_and_call_traced():
    """record_remote records remote= and runs locally; call_traced explains an unsaved value"""
    from arena_cli.testing import CheckFailed

    model = tiny_gptj(0)
    calls = testing.record_remote(model)
    prompts = ICLDataset(load_word_pairs("antonyms"), 2, 1, seed=0).prompts
    with model.trace(prompts, remote=True):
        logits = model.lm_head.output.save()
    assert calls == [True] and logits.shape[0] == 2

    def forgets_to_save(model, prompts):
        with model.trace(prompts):
            hidden = model.transformer.h[0].output
        return hidden

    with pytest.raises(CheckFailed) as failure:
        testing.call_traced(forgets_to_save, model, prompts)
    assert failure.value.diagnosis == testing.NOT_SAVED


def test_sharpened_predictions_vary():
    """sharpened() makes a random tiny model's last-position predictions differ between prompts"""
    model = testing.sharpened(tiny_gptj(0, n_layers=3))
    prompts = ICLDataset(load_word_pairs("antonyms"), 8, 2, seed=0).prompts
    with model.trace(prompts):
        predictions = model.lm_head.output[:, -1].argmax(-1).save()
    assert len(set(predictions.tolist())) > 1


def test_without_a_model_says_what_it_needs(tmp_path):
    """Without NDIF_API_KEY or the weights, the result prints one line naming GPT-J and exits 1"""
    env = {k: v for k, v in os.environ.items() if k != "NDIF_API_KEY"}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    result = subprocess.run(
        [sys.executable, str(SOLUTIONS / "03_intervene_on_output.py")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "GPT-J-6B" in lines[0] and "NDIF_API_KEY" in lines[0]
