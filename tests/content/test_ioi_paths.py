"""The result of chapter 2, section 4 (path patching), at reduced scale, with the reference solutions, on
the tiny model trained on IOI (the `--tiny` model; session fixture `trained_ioi_model`).

`solutions/2_ioi/14_s_inhibition_signal_parts.py` runs exercises 11-14 (with 1 and 6 for the metric):
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
RESULT = ROOT / "solutions" / "2_ioi" / "14_s_inhibition_signal_parts.py"
FUNCTIONS = ["ioi_logit_diff", "ioi_metric", "path_patch_to_logits", "path_patch_to_heads", "name_mover_projections",
             "s_inhibition_signal_parts"]


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
    """The three plots are PNG files with the `_tiny` suffix."""
    names = sorted(path.name for path in summary.paths)
    assert names == ["name_movers_tiny.png", "path_patch_heads_tiny.png", "path_patch_logits_tiny.png"], names
    for path in summary.paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


def test_name_mover_scatter(summary):
    """Each name mover has its (attention, projection) pairs for IO and S on every prompt; attentions are
    probabilities, and the printed line gives each mover's correlation and what it says."""
    assert list(summary.movers) == summary.receivers
    for attention, projection in summary.movers.values():
        assert attention.shape == projection.shape == (2, summary.n_prompts)
        assert bool(((attention >= 0) & (attention <= 1)).all())
    lines = summary.mover_lines()
    assert len(lines) == len(summary.receivers)
    assert all("r = " in line and any(verdict in line for verdict in ("copying head", "against the name",
                                                                        "hardly attends")) for line in lines)


def test_s_inhibition_signal_parts(summary):
    """The S-inhibition candidates come before the last name mover and are not name movers; patched from
    the prompts themselves they give back the model's own logit difference; the printed line gives the
    position and token signals."""
    last = max(layer for layer, _ in summary.receivers)
    assert summary.s_inhibition and all(h not in summary.receivers and h[0] < last for h in summary.s_inhibition)
    assert summary.signal_parts.shape == (4,)
    assert float(summary.signal_parts[0]) == pytest.approx(summary.clean_logit_diff, abs=1e-3)
    text = "\n".join(summary.signal_lines())
    assert "position signal" in text and "token signal" in text


def test_helpers_of_the_new_plots():
    """`correlation` is Pearson's r; `s_inhibition_heads` takes the queries' most negative senders, else the
    strongest through any input, never a receiver or a head in the last receiver's layer or later."""
    x = torch.arange(5.0)
    assert path_patching.correlation(x, 2 * x + 1) == pytest.approx(1.0)
    assert path_patching.correlation(x, -x) == pytest.approx(-1.0)
    assert path_patching.correlation(x, torch.ones(5)) == 0.0
    q = torch.tensor([[-0.3, 0.0], [-0.1, -0.5], [0.0, 0.0]])
    zero = torch.zeros(3, 2)
    assert path_patching.s_inhibition_heads({"q": q, "k": zero, "v": zero}, [(2, 1)], 2) == ([(1, 1), (0, 0)], "q")
    assert path_patching.s_inhibition_heads({"q": q, "k": zero, "v": zero}, [(1, 1)], 2) == ([(0, 0)], "q")
    v = torch.tensor([[-0.2, -0.01], [0.0, 0.0], [0.0, 0.0]])
    heads, source = path_patching.s_inhibition_heads({"q": zero, "k": zero, "v": v}, [(1, 0)], 2)
    assert source == "any" and heads == [(0, 0)]


def test_name_movers_helper():
    """`name_movers` keeps only heads that lower the metric, most negative first."""
    effect = torch.tensor([[0.3, -0.2], [-0.05, 0.1]])
    assert path_patching.name_movers(effect, 3) == [(0, 1), (1, 0)]
    assert path_patching.n_prompts(True) == 100 and path_patching.n_prompts(False) == 20 and path_patching.n_prompts(False, 7) == 7


def test_without_gpt2_one_line(offline_result):
    """Offline with an empty Hugging Face cache, the result prints one line (GPT-2 small, its size, --tiny)
    and exits 1, writing nothing."""
    assert offline_result(RESULT, ["GPT-2 small", "'gpt2'", "~550 MB", "HF_HUB_OFFLINE=1", "--tiny"]) == 1