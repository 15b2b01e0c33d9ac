"""The shipped course itself: consistent, every reference passes, every untouched exercise fails, and
the student commands work on it."""

import json
import os
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
