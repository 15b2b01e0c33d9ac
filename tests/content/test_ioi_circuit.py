"""The result of chapter 2, section 5 (the circuit), at reduced scale, with the reference solutions.

`solutions/2_ioi/21_minimality_scores.py --tiny` finds the trained tiny model's circuit with knockouts,
then measures its faithfulness (against random circuits of the same size and the empty circuit) and
each head's minimality score. These tests check what the plots show, on fewer prompts; that the GPT-2
code path (the paper's 26-head circuit and K sets) runs, here on a random 12-layer model of GPT-2 small's
shape; and that without GPT-2 the result prints one line and exits 1.
"""

from pathlib import Path

import pytest
import torch

from arena_course.ioi import circuit as ioi_circuit
from arena_course.ioi.circuit import GPT2_CIRCUIT, GPT2_K_SETS, GPT2_POSITIONS, heads_of, random_circuits
from arena_course.ioi.dataset import IOIDataset, ioi_tokenizer
from arena_course.ioi.models import tiny_ioi_model
from arena_course.ioi.results import ResultSetting
from arena_course.loading import load_sibling

ROOT = Path(__file__).resolve().parents[2]
RESULT = ROOT / "solutions" / "2_ioi" / "21_minimality_scores.py"


def _functions():
    """The reference functions the result runs, loaded the way it loads them."""
    faithfulness = load_sibling(RESULT, "circuit_faithfulness")
    return dict(
        ioi_logit_diff=load_sibling(RESULT, "ioi_logit_diff").ioi_logit_diff,
        mean_ablate_outside_circuit=load_sibling(RESULT, "mean_ablate_outside_circuit").mean_ablate_outside_circuit,
        circuit_faithfulness=faithfulness.circuit_faithfulness,
        minimality_scores=load_sibling(RESULT, "minimality_scores").minimality_scores,
    )


@pytest.fixture(scope="module")
def tiny_result(trained_ioi_model, seed, tmp_path_factory):
    torch.set_num_threads(1)
    data = IOIDataset.generate(trained_ioi_model.tokenizer, 120, seed=seed)
    setting = ResultSetting(trained_ioi_model, data, tiny=True)
    out = tmp_path_factory.mktemp("ioi_circuit")
    return ioi_circuit.run_result(setting, **_functions(), out_dir=out, n_random=6)


def test_tiny_circuit_is_the_one_described(tiny_result):
    """Knockouts find the circuit arena_course/ioi/circuit.py describes: heads of layers 1-2 at the end
    attending to S2, and layer-0 heads at S2 (attending to an earlier name: IO in most training runs)"""
    spec = tiny_result.spec
    found = f"found {spec.circuit}: if the tiny model changed, update the description in arena_course/ioi/circuit.py"
    movers = spec.circuit.get("end → S2", [])
    at_s2 = [h for cls, heads in spec.circuit.items() if spec.positions[cls] == "S2" for h in heads]
    assert len(movers) >= 3 and all(layer >= 1 for layer, _ in movers), found
    assert len(at_s2) >= 2 and all(layer == 0 for layer, _ in at_s2), found
    assert all(cls.startswith(f"{spec.positions[cls]} → ") for cls in spec.circuit), found
    assert all(spec.k_sets[h] == set(movers) - {h} for h in movers)


def test_circuit_does_the_task_and_random_circuits_do_not(tiny_result):
    """The circuit alone keeps much of the model's logit difference (F(C)/F(M) was 0.95-1.03 in five training
    runs of six, 0.46 in one, where heads act at more than one position); random circuits of its size keep
    less than half of what it keeps, and the empty circuit nothing"""
    faith = tiny_result.faithfulness
    assert faith.full > 5, f"the trained tiny model should do IOI well: F(M) = {faith.full:.2f}"
    assert 0.35 < faith.ratio < 1.5, f"F(C)/F(M) = {faith.ratio:.2f}"
    assert faith.gap == pytest.approx(abs(faith.full - faith.circuit))
    random_mean = sum(tiny_result.random) / len(tiny_result.random)
    assert random_mean < 0.5 * faith.circuit, f"random circuits: {tiny_result.random}, F(C) = {faith.circuit:.2f}"
    assert abs(tiny_result.nothing) < 0.15 * faith.full, f"every head ablated: F = {tiny_result.nothing:.2f}"
    assert (tiny_result.per_prompt_circuit > 0).float().mean() > 0.75


def test_every_head_is_needed_once_its_backups_are_gone(tiny_result):
    """Every head of a class of two or more has a clear minimality score with its K (its classmates: its
    backups), at least its score alone; over the circuit, removing the backups too costs more. (A head alone
    in its class has no backups, and can be nearly redundant: the search keeps a head that mattered while
    heads that were dropped later were still there.)"""
    f_c = tiny_result.faithfulness.circuit
    with_k, alone = tiny_result.minimality, tiny_result.minimality_alone
    spec = tiny_result.spec
    for head, score in with_k.items():
        assert score >= alone[head] - 1e-4, f"head {head}: {score:.3f} with K, {alone[head]:.3f} alone"
        if spec.k_sets[head]:
            assert score > 0.05 * f_c, f"head {head}: minimality {score:.3f}, F(C) = {f_c:.2f}"
    assert sum(with_k.values()) > 1.2 * sum(alone.values()), f"with K: {with_k}; alone: {alone}"


def test_plots_are_written(tiny_result):
    """circuit_tiny.png and minimality_tiny.png are written, as PNGs"""
    names = [p.name for p in tiny_result.paths]
    assert names == ["circuit_tiny.png", "minimality_tiny.png"]
    for path in tiny_result.paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_paper_circuit_is_consistent():
    """The paper's circuit: 26 heads in 7 classes at valid positions, a K set for each head made of other circuit heads"""
    heads = heads_of(GPT2_CIRCUIT)
    assert len(heads) == 26 == sum(len(h) for h in GPT2_CIRCUIT.values())
    assert set(GPT2_POSITIONS) == set(GPT2_CIRCUIT)
    assert set(GPT2_POSITIONS.values()) <= {"end", "S2", "S1+1"}
    assert set(GPT2_K_SETS) == set(heads)
    for head, k in GPT2_K_SETS.items():
        assert head not in k and k <= set(heads), head
    assert all(0 <= layer < 12 and 0 <= h < 12 for layer, h in heads)


def test_random_circuits_have_the_circuit_shape():
    """Random circuits have the same classes and sizes, with distinct heads of the model"""
    for sample in random_circuits(GPT2_CIRCUIT, 12, 12, 5, seed=1):
        assert {c: len(h) for c, h in sample.items()} == {c: len(h) for c, h in GPT2_CIRCUIT.items()}
        heads = heads_of(sample)
        assert len(heads) == 26 and all(0 <= layer < 12 and 0 <= h < 12 for layer, h in heads)


def test_gpt2_code_path_on_a_model_of_its_shape(tmp_path):
    """Without --tiny the result uses the paper's circuit and K sets (run here on a random 12 x 12 model)"""
    torch.set_num_threads(1)
    model = tiny_ioi_model(seed=0, n_layers=12, n_heads=12, d_model=48)
    model.enable_compatibility_mode(disable_warnings=True)
    setting = ResultSetting(model, IOIDataset.generate(ioi_tokenizer(), 8, seed=0), tiny=False)
    result = ioi_circuit.run_result(setting, **_functions(), out_dir=tmp_path, n_random=2)
    assert result.spec.circuit == GPT2_CIRCUIT and result.spec.positions == GPT2_POSITIONS
    assert set(result.minimality) == set(heads_of(GPT2_CIRCUIT))
    assert [p.name for p in result.paths] == ["circuit.png", "minimality.png"]
    assert all(p.is_file() for p in result.paths)


def test_head_validation_lines(trained_ioi_model, tiny_result):
    """The result's head validation (exercises 15 and 18, reference solutions) prints one row per class"""
    lines = ioi_circuit.head_validation(trained_ioi_model, tiny_result.spec.circuit, RESULT)
    assert len(lines) == 2 + len(tiny_result.spec.circuit) + 1
    for line, cls in zip(lines[2:], tiny_result.spec.circuit):
        assert line.strip().startswith(cls)
    assert ioi_circuit.head_validation(trained_ioi_model, tiny_result.spec.circuit, Path("/nonexistent/x.py")) == []


def test_previous_token_validation_lines(trained_ioi_model, tiny_result):
    """The result's previous-token check (exercises 15-17, reference solutions): a score per class, then the
    induction heads' score before and after ablating the previous-token heads, with what the drop says"""
    lines = ioi_circuit.previous_token_validation(trained_ioi_model, tiny_result.spec.circuit, RESULT)
    assert len(lines) == 1 + len(tiny_result.spec.circuit) + 1
    for line, cls in zip(lines[1:], tiny_result.spec.circuit):
        assert line.strip().startswith(cls)
    assert lines[-1].startswith("Induction heads") and "mean-ablated" in lines[-1]
    assert "clear drop" in lines[-1]
    assert ioi_circuit.previous_token_validation(trained_ioi_model, tiny_result.spec.circuit,
                                                 Path("/nonexistent/x.py")) == []


def test_previous_token_validation_uses_the_papers_classes():
    """On GPT-2's path (here a random 12 x 12 model) the previous-token check ablates the paper's previous-token
    heads (2.2, 4.11) and reads the paper's induction heads (5.5, 5.8, 5.9, 6.9)"""
    torch.set_num_threads(1)
    model = tiny_ioi_model(seed=0, n_layers=12, n_heads=12, d_model=48)
    model.enable_compatibility_mode(disable_warnings=True)
    lines = ioi_circuit.previous_token_validation(model, GPT2_CIRCUIT, RESULT)
    assert len(lines) == 1 + len(GPT2_CIRCUIT) + 1
    assert lines[-1].startswith("Induction heads 5.5, 5.8, 5.9, 6.9 (exercise 17)"), lines[-1]
    assert "previous-token heads 2.2, 4.11 mean-ablated" in lines[-1], lines[-1]


def test_strongest_heads():
    """`strongest_heads` ranks heads by score within a range of layers"""
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.5, 0.0]])
    assert ioi_circuit.strongest_heads(scores, 2) == [(0, 0), (1, 1)]
    assert ioi_circuit.strongest_heads(scores, 2, after=1) == [(1, 1), (2, 0)]
    assert ioi_circuit.strongest_heads(scores, 1, before=1) == [(0, 0)]


def test_offline_without_gpt2_prints_one_line(offline_result):
    """Offline with an empty Hugging Face cache, the result prints one line naming GPT-2 small and exits 1"""
    assert offline_result(RESULT, ["GPT-2 small", "gpt2", "--tiny"]) == 1