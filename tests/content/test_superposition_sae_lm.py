"""The result of chapter 1, section "SAEs on a language model", at reduced scale, with the reference
solutions.

`solutions/1_superposition/<NN>_latent_logit_effect.py --tiny` trains a tiny model on a toy language
and an SAE on its residual stream, then runs the section's five exercises and plots (1) how often
latents fire and the next-token loss clean / with the SAE / zero-ablated, (2) a few latents'
top-activating tokens and logit effects. These tests check what those plots show, with shorter
training; that the real run (GPT-2 small and a pretrained SAE) loads its weights through
`pretrained_setup` (here with a tiny model injected); and that without the weights it prints one
clear line and exits non-zero, never substituting another model.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from arena_cli.layout import chapter_file
from arena_course.loading import load_sibling
from arena_course.models import ModelUnavailable, tiny_model
from arena_course.superposition import lm_sae

ROOT = Path(__file__).resolve().parents[2]
# Found by id, so that renumbering the chapter does not break it.
RESULT = chapter_file(ROOT / "solutions" / "1_superposition", "latent_logit_effect")

# Each exercise's id is also its function's name.
FUNCTIONS = [
    "latent_activation_probability",
    "sae_reconstruction_loss",
    "substitution_loss",
    "top_activating_tokens",
    "latent_logit_effect",
]


def _functions():
    """The reference's five functions, loaded the way the result loads them."""
    return {name: getattr(load_sibling(RESULT, name), name) for name in FUNCTIONS}


@pytest.fixture(scope="module")
def tiny_summary(tmp_path_factory, seed):
    setup = lm_sae.tiny_setup(seed=seed, lm_steps=150, sae_steps=600, n_seq=64, progress=False)
    out = tmp_path_factory.mktemp("sae_lm")
    return setup, lm_sae.run_result(setup, **_functions(), out_dir=out, progress=False)


def test_sae_recovers_the_loss(tiny_summary):
    """The SAE's reconstruction keeps the model working: the loss with it spliced in is far below the
    zero-ablated loss, close to the clean one."""
    _, summary = tiny_summary
    clean, with_sae, zero = summary.losses
    assert zero > clean + 1.0, f"zero-ablation should hurt a trained model: clean {clean:.3f}, zero {zero:.3f}"
    assert summary.recovered > 0.8, f"expected > 80% of the loss recovered, got {summary.recovered:.1%} {summary.losses}"
    assert 0 < summary.fvu < 0.5, f"expected a decent reconstruction (FVU < 50%), got {summary.fvu:.1%}"
    assert summary.mse > 0


def test_latents_are_sparse(tiny_summary):
    """Latents fire on a small fraction of tokens, and a few latents per token (L0) are active."""
    setup, summary = tiny_summary
    freq = summary.frequency
    assert freq.shape == (setup.sae.d_sae,)
    assert ((freq >= 0) & (freq <= 1)).all()
    l0 = float(freq.sum())
    assert 1 <= l0 <= 20, f"expected a sparse code (1-20 latents per token), got L0 = {l0:.1f}"
    assert float(freq.median()) < 0.1, f"most latents should be rare, median frequency {float(freq.median()):.3f}"


def test_latent_reports(tiny_summary):
    """Each shown latent has top-activating contexts (strongest first) and top / bottom logit effects."""
    _, summary = tiny_summary
    assert len(summary.latents) == 3
    for report in summary.latents:
        values = [c[0] for c in report.contexts]
        assert values and all(v > 0 for v in values), f"latent {report.latent} shows no firing contexts"
        assert values == sorted(values, reverse=True)
        assert all(isinstance(c[2], str) and c[2].strip() for c in report.contexts)
        assert len(report.top_logits) == len(report.bottom_logits) == 8
        assert report.top_logits[0][1] > 0 > report.bottom_logits[0][1]


def test_plots_written(tiny_summary):
    """Both PNGs are written, with the tiny prefix."""
    _, summary = tiny_summary
    names = sorted(p.name for p in summary.paths)
    assert names == ["sae_lm_tiny_latents.png", "sae_lm_tiny_overview.png"]
    for path in summary.paths:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
        assert len(data) > 20_000, f"suspiciously small PNG {path} ({len(data)} bytes)"


def test_pretrained_path_with_tiny_model_injected(tmp_path):
    """The real run's loading path (corpus -> tokens, SAE / model checks) works with injected loaders."""
    model = tiny_model(seed=0, d_model=32, n_ctx=32)
    hook = "blocks.1.hook_resid_pre"
    calls = []

    def load_model(name):
        calls.append(name)
        return model

    def load_sae(repo, sae_id):
        calls.append((repo, sae_id))
        return lm_sae.random_sae(32, 64, seed=0, hook_name=sae_id)

    setup = lm_sae.pretrained_setup(n_seq=6, seq_len=16, load_model=load_model, load_sae=load_sae, sae_id=hook)
    assert calls == [lm_sae.PRETRAINED_MODEL, (lm_sae.SAE_REPO, hook)]
    assert setup.tokens.shape == (6, 16) and setup.hook_name == hook and not setup.tiny
    assert (setup.tokens[:, 0] == model.tokenizer.bos_token_id).all(), "every row must start with BOS"
    assert setup.loss_rows == 3
    summary = lm_sae.run_result(setup, **_functions(), out_dir=tmp_path, progress=False)
    assert sorted(p.name for p in summary.paths) == ["sae_lm_latents.png", "sae_lm_overview.png"]


def test_pretrained_loading_failure_is_one_line():
    """A loader that fails becomes a ModelUnavailable naming the model and the SAE, on one line."""

    def broken(name):
        raise OSError("disk on fire\nsecond line")

    with pytest.raises(ModelUnavailable) as info:
        lm_sae.pretrained_setup(load_model=broken, load_sae=lambda r, i: None)
    message = str(info.value)
    assert "\n" not in message
    for needed in ["GPT-2 small", "gpt2", lm_sae.SAE_REPO, lm_sae.SAE_ID, "MB", "--tiny", "disk on fire"]:
        assert needed in message, f"{needed!r} missing from: {message}"


def test_missing_weights_message(offline_result):
    """Offline with an empty Hugging Face cache, the result prints one line naming what it needs and exits 1."""
    needed = ["GPT-2 small", "'gpt2'", "~550 MB", lm_sae.SAE_REPO, lm_sae.SAE_ID, lm_sae.SAE_SIZE, "HF_HUB_OFFLINE=1",
              "network connection", "--tiny"]
    assert offline_result(RESULT, needed) != 0


def test_tiny_model_is_seeded_and_offline():
    """arena_course.models.tiny_model: same seed, same weights; a word-level tokenizer built in memory."""
    a, b, c = tiny_model(seed=3), tiny_model(seed=3), tiny_model(seed=4)
    assert (a.W_U == b.W_U).all() and not (a.W_U == c.W_U).all()
    assert a.to_str_tokens("the cat sat") == ["<bos>", "the", "cat", "sat"]


def test_load_pretrained_offline_message(tmp_path):
    """arena_course.models.load_pretrained, offline with an empty cache: one-line ModelUnavailable, at once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_", "HUGGINGFACE_"))}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "empty_hf_home"), PYTHONWARNINGS="ignore")
    code = (
        "from arena_course.models import ModelUnavailable, load_pretrained\n"
        "try:\n    load_pretrained('gpt2')\nexcept ModelUnavailable as e:\n    print(e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and "GPT-2 small" in lines[0] and "~550 MB" in lines[0] and "HF_HUB_OFFLINE=1" in lines[0], proc.stdout
