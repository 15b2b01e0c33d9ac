"""Fixtures shared by the tests of the course's results.

Every model these tests train is seeded from one number, the `seed` fixture: `ARENA_TEST_SEED` (default 0,
the seed the results themselves use). What a test asserts about a trained model must hold for any
reasonable training run, not for the one run seed 0 happens to give: `python tests/content/across_seeds.py`
runs every test that takes `seed` under seeds 0, 1 and 2 and prints a table.

Tests that train a model are marked `slow` (see pyproject.toml), so that `pytest -m "not slow"` is the quick
loop. Trained models are never cached between sessions (a cache would hide what a new library release
changes): each is trained once per session, in memory.
"""

import os
import subprocess
import sys

import pytest

SEED = int(os.environ.get("ARENA_TEST_SEED", "0"))


SHARED_MODELS = ("trained_ioi_model", "trained_icl_model", "steering_model")


def pytest_collection_modifyitems(items):
    """A test that takes `seed` trains something: it is `slow`, and `seeded` (what across_seeds.py runs).
    Under pytest-xdist (`--dist loadgroup`), the tests of one trained model, or of one module's, share a
    worker, so that each model is trained once."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "seed" not in fixtures:
            continue
        item.add_marker(pytest.mark.seeded)
        item.add_marker(pytest.mark.slow)
        shared = [name for name in SHARED_MODELS if name in fixtures]
        item.add_marker(pytest.mark.xdist_group(shared[0] if shared else item.module.__name__))


@pytest.fixture
def offline_result(tmp_path):
    """`offline_result(script, needed)`: run a result script in tmp_path offline (no NDIF_API_KEY, an empty
    Hugging Face cache); it must print exactly one line, containing each of `needed`, and write nothing.
    Returns its exit code."""

    def run(script, needed) -> int:
        env = {k: v for k, v in os.environ.items()
               if k != "NDIF_API_KEY" and not k.startswith(("HF_", "TRANSFORMERS_", "HUGGINGFACE_"))}
        env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "empty_hf_home"), PYTHONWARNINGS="ignore")
        proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)
        lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
        assert len(lines) == 1, f"expected exactly one line, got:\n{proc.stdout}{proc.stderr}"
        for word in needed:
            assert word in lines[0], f"{word!r} missing from: {lines[0]}"
        assert not (tmp_path / "results").exists(), "nothing should be written without the model"
        return proc.returncode

    return run


@pytest.fixture(scope="session")
def seed() -> int:
    """The seed of every model trained by these tests (ARENA_TEST_SEED, default 0)."""
    return SEED


@pytest.fixture(scope="session")
def trained_ioi_model(seed):
    """The tiny model that `--tiny` IOI results run on (seed 0 is theirs), trained once per test session
    (~30 s), in compatibility mode like the results use it. Tests must not modify it."""
    from arena_course.ioi.models import trained_tiny_ioi_model

    model = trained_tiny_ioi_model(cache_dir=None, progress=False, seed=seed)
    model.enable_compatibility_mode(disable_warnings=True)
    return model


@pytest.fixture(scope="session")
def trained_icl_model(seed):
    """The tiny GPT-J that chapter 3's `--tiny` results run on (seed 0 is theirs), trained once per test
    session (~30 s)."""
    from arena_course.function_vectors.models import trained_tiny_icl_gptj

    return trained_tiny_icl_gptj(cache_dir=None, progress=False, seed=seed)


@pytest.fixture(scope="session")
def steering_model(seed):
    """The tiny GPT-2 that `--tiny` steering runs on (seed 0 is its), trained once per test session."""
    from arena_course.function_vectors import steering

    return steering.trained_tiny_steering_model(cache_dir=None, progress=False, seed=seed)
