"""The shipped course itself: consistent, every reference passes, every untouched exercise fails, and
the student commands work on it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the shipped course's exercises through arena

ROOT = Path(__file__).resolve().parents[2]


def arena(*args: str, progress: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, ARENA_PROGRESS=str(progress), NO_COLOR="1", COLUMNS="100")
    env.pop("ARENA_ROOT", None)
    return subprocess.run(
        [sys.executable, "-m", "arena_cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_dev_check_is_green_on_the_course(tmp_path):
    result = arena("dev", "check", progress=tmp_path / "progress.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every solution passes and every exercise fails as shipped" in result.stdout


def test_next_starts_at_the_first_exercise_with_its_objectives(tmp_path):
    result = arena("next", "--json", progress=tmp_path / "progress.json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["id"] == "toy_model_forward"
    assert shown["path"] == "exercises/1_superposition/01_toy_model_forward.py"
    assert (ROOT / shown["path"]).is_file()
    assert len(shown["objectives"]) >= 3


def test_untouched_first_exercise_fails_with_not_implemented(tmp_path):
    result = arena("run", "toy_model_forward", "--json", progress=tmp_path / "progress.json")
    assert result.returncode == 1
    verdict = json.loads(result.stdout)
    assert verdict["status"] == "failed"
    assert all("not implemented" in c["message"] for c in verdict["checks"])
    progress = json.loads((tmp_path / "progress.json").read_text())
    assert progress["exercises"]["toy_model_forward"]["attempts"] == 1
    assert progress["exercises"]["toy_model_forward"]["status"] == "pending"


def test_a_diagnosis_on_a_later_check_reaches_the_normal_view(tmp_path):
    """ioi_metric with the metric reversed (1 at the corrupted run, 0 at the clean one): the first check
    (the shape) passes, later checks carry the diagnosis, and the terminal view (not only --json) says it."""
    root = tmp_path / "course"
    shutil.copytree(ROOT, root, ignore=shutil.ignore_patterns(".venv", ".git", "results", "__pycache__", ".arena"))
    exercise = root / "exercises" / "2_ioi" / "06_ioi_metric.py"
    text = exercise.read_text(encoding="utf-8")
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "raise NotImplementedError" in line)
    end = next(i for i in range(at, len(lines)) if lines[i].rstrip().endswith(")")  # a stub over lines too
               and "\n".join(lines[at : i + 1]).count("(") == "\n".join(lines[at : i + 1]).count(")"))
    stub = "\n".join(lines[at : end + 1])
    indent = stub[: len(stub) - len(stub.lstrip())]
    exercise.write_text(text.replace(stub, f"{indent}ld = ioi_logit_diff(logits, data)\n"
                                           f"{indent}return (clean_logit_diff - ld) / (clean_logit_diff - corrupted_logit_diff)"),
                        encoding="utf-8")
    env = dict(os.environ, ARENA_PROGRESS=str(tmp_path / "progress.json"), NO_COLOR="1", COLUMNS="80",
               ARENA_ROOT=str(root))
    result = subprocess.run([sys.executable, "-m", "arena_cli", "run", "ioi_metric"], cwd=root, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    flat = " ".join(result.stdout.replace("│", " ").split())
    assert "✓ Returns a 0-dimensional tensor" in flat, result.stdout
    assert "Your metric is 0 at the clean run and 1 at the corrupted one" in flat, result.stdout
