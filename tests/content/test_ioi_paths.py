"""The result of chapter 2, section 4 (path patching), at reduced scale, with the reference solutions, on
the tiny model trained on IOI (the `--tiny` model; session fixture `trained_ioi_model`).

`solutions/2_ioi/11_path_patch_to_heads.py` runs exercises 11 and 13 (with 1 and 6 for the metric):
every head -> the logits, then every head -> the queries, keys and values of the heads whose direct path
matters most (the name movers). These tests check what the two plots show, that the PNGs are written,
and that without GPT-2 the result prints one line and exits 1.
"""

from pathlib import Path

import pytest
import torch

from arena_course.ioi import path_patching
from arena_course.ioi.dataset import IOIDataset
from arena_course.ioi.results import ResultSetting
from arena_course.loading import load_sibling

ROOT = Path(__file__).resolve().parents[2]
RESULT = ROOT / "solutions" / "2_ioi" / "11_path_patch_to_heads.py"
FUNCTIONS = ["ioi_logit_diff", "ioi_metric", "path_patch_to_logits", "path_patch_to_heads"]


def _functions():
    """The reference functions, loaded the way the result loads the student's."""
    return {name: getattr(load_sibling(RESULT, name), name) for name in FUNCTIONS}


@pytest.fixture(scope="module")
def summary(trained_ioi_model, seed, tmp_path_factory):
    torch.set_num_threads(1)
    data = IOIDataset.generate(trained_ioi_model.tokenizer, 40, seed=12 + seed)
    setting = ResultSetting(trained_ioi_model, data, tiny=True)
    out = tmp_path_factory.mktemp("ioi_paths")
    return path_patching.run_result(setting, **_functions(), out_dir=out, progress=False)


def test_metric_separates_the_runs(summary):
    """The trained model's logit difference is large on the IOI prompts and near 0 on the ABC prompts, so
    the metric (1 on orig, 0 on ABC) is well defined."""
    assert summary.clean_logit_diff > 3, summary.clean_logit_diff
    assert abs(summary.abc_logit_diff) < 0.3 * summary.clean_logit_diff, (summary.clean_logit_diff, summary.abc_logit_diff)


def test_name_movers_stand_out(summary):
    """Sender -> logits: a few heads' direct paths carry a clear part of the answer (entries well below 0),
    most heads' don't, and the receivers are the most negative ones."""
    effect = summary.to_logits
    assert effect.shape == (3, 4)
    assert float(effect.min()) < -0.05, effect
    assert float(effect.abs().median()) < 0.6 * float(effect.abs().max()), effect
    assert len(summary.receivers) == path_patching.N_RECEIVERS
    values = [float(effect[h]) for h in summary.receivers]
    assert all(v < 0 for v in values), (summary.receivers, values)
    others = [float(v) for i, v in enumerate(effect.flatten()) if (i // 4, i % 4) not in summary.receivers]
    assert max(values) <= min(others), (values, others)
    # The direct paths add up to a large part of the ABC drop (metric 1 -> 0), not all of it.
    assert -1.2 < float(effect.sum()) < -0.15, float(effect.sum())


def test_senders_after_the_receivers_do_nothing(summary):
    """Sender -> receivers: heads in the last receiver's layer or later can't reach any receiver's input,
    so their entries are exactly 0 in every panel."""
    last = max(layer for layer, _ in summary.receivers)
    for inp, grid in summary.to_heads.items():
        assert grid.shape == (3, 4)
        assert torch.allclose(grid[last:], torch.zeros_like(grid[last:]), atol=1e-5), (inp, grid)


def test_earlier_heads_feed_the_name_movers(summary):
    """Sender -> receivers: some earlier head changes the name movers' input enough to matter (an entry
    below -0.05 in some panel): the second plot shows where the name movers get their information."""
    strongest = min(float(grid.min()) for grid in summary.to_heads.values())
    assert strongest < -0.05, {inp: grid for inp, grid in summary.to_heads.items()}


def test_report(summary):
    """The printed report names the receivers, each panel's strongest senders, and the files."""
    text = "\n".join(summary.report())
    for head in summary.receivers:
        assert path_patching.head_name(head) in text
    for word in ["queries", "keys", "values", "S-inhibition", "Wrote"]:
        assert word in text, word


def test_plots_written(summary):
    """Both plots are PNG files with the `_tiny` suffix."""
    names = sorted(path.name for path in summary.paths)
    assert names == ["path_patch_heads_tiny.png", "path_patch_logits_tiny.png"], names
    for path in summary.paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


def test_name_movers_helper():
    """`name_movers` keeps only heads that lower the metric, most negative first."""
    effect = torch.tensor([[0.3, -0.2], [-0.05, 0.1]])
    assert path_patching.name_movers(effect, 3) == [(0, 1), (1, 0)]
    assert path_patching.n_prompts(True) == 100 and path_patching.n_prompts(False) == 20 and path_patching.n_prompts(False, 7) == 7


def test_without_gpt2_one_line(offline_result):
    """Offline with an empty Hugging Face cache, the result prints one line (GPT-2 small, its size, --tiny)
    and exits 1, writing nothing."""
    assert offline_result(RESULT, ["GPT-2 small", "'gpt2'", "~550 MB", "HF_HUB_OFFLINE=1", "--tiny"]) == 1