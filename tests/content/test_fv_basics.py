"""Function vectors, section 1 (nnsight basics): the result with the reference solutions at reduced scale,
the ICL training data of the --tiny model, the test helpers the chapter's hidden tests use, and the
one-line message without a model."""

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from arena_cli.testing import load_module
from arena_course import fv_basics
from arena_course.function_vectors import ICLDataset, load_word_pairs, task_names, tiny_gptj

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
    model = fv_basics.use_eager_attention(tiny_gptj(0, n_layers=2, d_model=32, n_heads=4))
    setting = fv_basics.ResultSetting(model, remote=False, tiny=True)
    summary = fv_basics.run_result(setting, **reference, n_per_task=2, n_prepended=3, out_dir=tmp_path)
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
    calls = fv_basics.record_remote(model)  # "remote" traces run locally
    setting = fv_basics.ResultSetting(model, remote=True, tiny=False)
    summary = fv_basics.run_result(setting, **reference, n_per_task=1, n_prepended=2, out_dir=tmp_path)
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
    positions = fv_basics.answer_positions(tokens)
    assert [tokens[p] for p in positions] == [y for _, y in data.examples[0]]


def test_training_batch_labels_the_answers():
    """Training labels are the answers that follow each "A:" (examples and query), nothing else"""
    tokenizer = tiny_gptj(0).tokenizer
    ids, mask, labels = fv_basics.icl_training_batch(tokenizer, random.Random(0), 8, max_shots=3)
    colon = tokenizer.convert_tokens_to_ids(":")
    labelled = labels != -100
    assert labelled.any(dim=1).all()  # every sequence has at least its query's answer
    assert (ids[labelled] == colon).all()
    assert (labels[:, :-1][labelled[:, :-1]] == ids[:, 1:][labelled[:, :-1]]).all()
    assert (mask[labelled] == 1).all()


def test_training_lowers_the_loss():
    """A few steps of train_on_icl lower the loss on held-out ICL batches"""
    torch.manual_seed(0)
    model = tiny_gptj(1, n_layers=1, d_model=32, n_heads=4)
    ids, mask, labels = fv_basics.icl_training_batch(model.tokenizer, random.Random(123), 32)

    def loss() -> float:
        with torch.no_grad():
            logits = model._module(input_ids=ids, attention_mask=mask).logits
        return float(torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100))

    start = loss()
    fv_basics.train_on_icl(model, steps=25, batch=16, progress=False)
    assert loss() < start - 0.2


def test_record_remote_and_call_traced():
    """record_remote records remote= and runs locally; call_traced explains an unsaved value"""
    from arena_cli.testing import CheckFailed

    model = tiny_gptj(0)
    calls = fv_basics.record_remote(model)
    prompts = ICLDataset(load_word_pairs("antonyms"), 2, 1, seed=0).prompts
    with model.trace(prompts, remote=True):
        logits = model.lm_head.output.save()
    assert calls == [True] and logits.shape[0] == 2

    def forgets_to_save(model, prompts):
        with model.trace(prompts):
            hidden = model.transformer.h[0].output
        return hidden

    with pytest.raises(CheckFailed) as failure:
        fv_basics.call_traced(forgets_to_save, model, prompts)
    assert failure.value.diagnosis == fv_basics.NOT_SAVED


def test_sharpened_predictions_vary():
    """sharpened() makes a random tiny model's last-position predictions differ between prompts"""
    model = fv_basics.sharpened(tiny_gptj(0, n_layers=3))
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
