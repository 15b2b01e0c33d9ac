"""The result of chapter 2, section 3 (activation patching), at reduced scale, with the reference
solutions, on the tiny model trained on IOI (the `--tiny` model; session fixture `trained_ioi_model`).

`solutions/2_ioi/10_patch_head_vectors.py` patches clean activations into the corrupted run (S2 replaced
by the other name) and draws the layer x position map of residual-stream patching (patch_resid.png) and
the same for each block's residual stream, attention and MLP output (patch_blocks.png), and the layer x
head maps of head output / q / k / v / pattern patching (patch_heads.png). These tests check
what the maps show, the position labels, the printed lines, that the PNGs are written, and that without
GPT-2 the result prints one line and exits 1.
"""

from pathlib import Path

import pytest
import torch

from arena_course.ioi import patching
from arena_course.ioi.dataset import BABA_TEMPLATES, IOIDataset, ioi_tokenizer
from arena_course.ioi.results import ResultSetting
from arena_course.loading import load_sibling

ROOT = Path(__file__).resolve().parents[2]
RESULT = ROOT / "solutions" / "2_ioi" / "10_patch_head_vectors.py"
N_PROMPTS = 30


def _functions():
    """The reference functions, loaded the way the result loads the student's."""
    metrics = load_sibling(RESULT, "ioi_metric")
    return dict(
        ioi_logit_diff=metrics.ioi_logit_diff,
        ioi_metric=metrics.ioi_metric,
        patch_residual_stream=load_sibling(RESULT, "patch_residual_stream").patch_residual_stream,
        patch_blocks=load_sibling(RESULT, "patch_blocks").patch_blocks,
        patch_head_outputs=load_sibling(RESULT, "patch_head_outputs").patch_head_outputs,
        patch_head_vectors=load_sibling(RESULT, "patch_head_vectors").patch_head_vectors,
    )


@pytest.fixture(scope="module")
def setting(trained_ioi_model, seed):
    data = IOIDataset.generate(trained_ioi_model.tokenizer, N_PROMPTS, seed=3 + seed)
    return ResultSetting(trained_ioi_model, data, tiny=True)


@pytest.fixture(scope="module")
def summary(setting, tmp_path_factory):
    out = tmp_path_factory.mktemp("ioi_patching")
    return patching.run_result(setting, **_functions(), out_dir=out, progress=False)


def test_runs_are_far_apart(summary):
    """The trained model prefers the clean IO on the clean run and the clean S on the corrupted run."""
    assert summary.clean_logit_diff > 3.0, summary.clean_logit_diff
    assert summary.corrupted_logit_diff < -3.0, summary.corrupted_logit_diff
    clean_ld, corrupted_ld = summary.resid_baselines
    assert clean_ld > 3.0 > -3.0 > corrupted_ld


def test_residual_stream_starts_at_s2(summary):
    """Layer 0 differs only at S2: patching it there restores the clean run exactly, anywhere else nothing;
    and no layer's patch before S2 changes anything (the runs agree there)."""
    grid, labels = summary.resid, summary.resid_labels
    assert grid.shape == (3, len(labels))
    s2 = labels.index("S2")
    expected_row0 = torch.zeros(len(labels))
    expected_row0[s2] = 1.0
    assert torch.allclose(grid[0], expected_row0, atol=1e-4), grid[0]
    assert torch.allclose(grid[:, :s2], torch.zeros(3, s2), atol=1e-4), grid[:, :s2]


def test_residual_stream_ends_at_end(summary):
    """By the last layer the information has moved (at least half-way) to the end position."""
    grid, labels = summary.resid, summary.resid_labels
    end = labels.index("to (end)")
    assert float(grid[-1, end]) > 0.3, grid[-1]
    assert float(grid[0, end]) < 0.05 and float(grid[-1, end]) > float(grid[0, end]) + 0.3
    assert int(grid[-1].argmax()) in (end, labels.index("S2"))


def test_position_labels():
    """Positions are labelled by role where every prompt agrees, by token, or by slot; mixed orders give 'IO/S1'."""
    tokenizer = ioi_tokenizer()
    one_order = patching.one_template_prompts(tokenizer, 6)
    labels = patching.position_labels(one_order)
    assert labels[:6] == ["<bos>", "Then", ",", "S1", "and", "IO"], labels
    assert labels[-1] == "to (end)" and "S2" in labels and "[PLACE]" in labels and "[OBJECT]" in labels
    mixed = IOIDataset.generate(tokenizer, 6, templates=BABA_TEMPLATES[:1])  # BABA and ABBA
    labels = patching.position_labels(mixed)
    assert labels[3] == labels[5] == "IO/S1" and labels[-1] == "to (end)", labels


def test_blocks(summary):
    """Block patching: its residual-stream grid is the residual-stream sweep's; before S2 nothing differs
    between the runs (0 everywhere); attention, not the MLPs, moves the information to the end (the last
    layer's attention output at the end restores more than any MLP output there)."""
    blocks, labels = summary.blocks, summary.resid_labels
    assert blocks.shape == (3, *summary.resid.shape)
    assert torch.allclose(blocks[0], summary.resid, atol=1e-4)
    s2 = labels.index("S2")
    assert float(blocks[:, :, :s2].abs().max()) < 1e-4
    end = len(labels) - 1
    assert float(blocks[1, :, end].max()) > float(blocks[2, :, end].max()), blocks[:, :, end]
    lines = patching.block_lines(summary)
    assert lines[0].startswith("Attention output: restores most at layer") and lines[1].startswith("MLP output")


def test_heads_split_by_role(summary):
    """Heads: some restore a lot and some nothing; layer 0 through its queries and patterns (not its values),
    later layers through their values (not their queries): the tiny model's circuit, as the printed lines say."""
    heads = summary.heads
    assert set(heads) == set(patching.HEAD_ACTIVATIONS)
    assert all(tuple(g.shape) == (3, 4) for g in heads.values())
    out = heads["output"].flatten().sort().values
    assert float(out[-1]) > 0.2 and float(out[:3].abs().max()) < 0.35 * float(out[-1]), out
    assert float(heads["q"][0].max()) > 0.1 and float(heads["pattern"][0].max()) > 0.1, (heads["q"], heads["pattern"])
    assert float(heads["v"][0].abs().max()) < 0.05, heads["v"]
    assert float(heads["v"][1:].max()) > 0.1, heads["v"]
    assert float(heads["q"][1:].abs().max()) < 0.05, heads["q"]


def test_printed_lines(summary):
    """The printed lines give the baselines, the files, where the information is per layer and the top heads."""
    lines = patching.describe(summary)
    text = "\n".join(lines)
    assert summary.model_name in lines[0] and f"{summary.clean_logit_diff:.2f}" in lines[0]
    for path in summary.paths:
        assert f"Wrote {path}" in lines
    assert "0: S2 1.00" in text
    layer, head, value = patching.top_heads(summary.heads["output"], 1)[0]
    assert f"{layer}.{head} ({value:+.2f})" in text
    assert lines[-1].startswith("Look for:")


def test_plots_written(summary):
    """patch_resid_tiny.png, patch_blocks_tiny.png and patch_heads_tiny.png are written."""
    assert [p.name for p in summary.paths] == ["patch_resid_tiny.png", "patch_blocks_tiny.png", "patch_heads_tiny.png"]
    for path in summary.paths:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
        assert len(data) > 20_000, f"suspiciously small PNG {path} ({len(data)} bytes)"


def test_wrong_grid_is_one_clear_error(setting, tmp_path):
    """A student function returning the wrong shape stops the result with an error naming it."""
    functions = _functions()
    functions["patch_residual_stream"] = lambda model, tokens, cache, metric: torch.zeros(2, 2)
    with pytest.raises(ValueError, match=r"patch_residual_stream returned shape \(2, 2\), expected \(3, "):
        patching.run_result(setting, **functions, out_dir=tmp_path, progress=False)
    assert not list(tmp_path.iterdir()), "nothing should be written"


def test_without_gpt2_one_line(offline_result):
    """Offline with an empty Hugging Face cache, the result prints one line (GPT-2 small, its size, --tiny)
    and exits 1, writing nothing."""
    needed = ["GPT-2 small", "'gpt2'", "~550 MB", "HF_HUB_OFFLINE=1", "10_patch_head_vectors.py --tiny"]
    assert offline_result(RESULT, needed) == 1