"""The results of chapter 1, sections 1 (continued) to 3, at reduced scale, with the reference solutions.

- `06_feature_norms_and_interference.py`: (a) 20 features in 5 dimensions keep 5 orthogonal features when
  dense and many more, in superposition, when sparse; (b) correlated pairs end up orthogonal (or, when
  dense, collapse onto one direction), anticorrelated pairs antipodal.
- `10_abs_value_loss.py`: per-neuron weights; neurons are monosemantic when features are dense and
  polysemantic when sparse, for the neuron model and for the |x| model.
- `11_feature_dimensionality.py`: most represented feature dimensionalities sit within 0.03 of the paper's
  fractions (2/3 or 3/4, 1/2, 2/5, 3/8) as sparsity grows, and the dimensions per feature fall with sparsity.

Each trains only a few instances of the result's experiment (same functions, same training settings),
and checks the property its plot shows; the plot functions are checked to write PNGs.
"""

from pathlib import Path

import pytest
import torch

from arena_course.loading import load_sibling
from arena_course.superposition.toy_models import count_on_fractions, neuron_monosemanticity
from arena_course.superposition.toy_models import plot_feature_dimensionality
from arena_course.superposition.toy_models import plot_feature_norms, plot_neuron_weights, plot_pair_directions
from arena_course.superposition.toy_models import train_toy_model

SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions" / "1_superposition"
HERE = SOLUTIONS / "11_feature_dimensionality.py"  # load_sibling finds the exercises next to it


def _sibling(exercise_id: str):
    return load_sibling(HERE, exercise_id)


def _train(model, batch: str = "generate_batch", loss: str = "importance_weighted_loss", **kwargs):
    """Train `model` in place with the reference solutions' batch function and loss (exercises 02 and 03 by
    default); `kwargs` go to train_toy_model."""
    train_toy_model(model, getattr(_sibling(batch), batch), getattr(_sibling(loss), loss), progress=False, **kwargs)


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()).clamp_min(1e-8))


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert len(data) > 5_000, f"suspiciously small PNG ({len(data)} bytes)"


# --------------------------------------------------------------------------- section 1: 06


def test_superposition_grows_with_sparsity(seed):
    """20 features in 5 dimensions, importance 0.9^i: dense keeps exactly the 5 most important features,
    orthogonal (no interference); sparse keeps most of them, in superposition."""
    ToyModel = _sibling("toy_model_forward").ToyModel
    fni = _sibling("feature_norms_and_interference").feature_norms_and_interference
    torch.manual_seed(seed)
    model = ToyModel(
        2, 20, 5, feature_probability=torch.tensor([[1.0], [0.01]]), importance=(0.9 ** torch.arange(20))[None, :]
    )
    _train(model)
    norms, interference = fni(model.W.detach())

    dense_kept = norms[0] > 0.5
    assert dense_kept.tolist() == [True] * 5 + [False] * 15, f"dense: expected features 0-4 kept, norms {norms[0]}"
    assert (interference[0, :5] < 0.05).all(), f"dense: kept features should not interfere, got {interference[0, :5]}"

    sparse_kept = norms[1] > 0.5
    assert int(sparse_kept.sum()) >= 14, f"sparse: expected >= 14 features kept, norms {norms[1]}"
    assert float(interference[1][sparse_kept].mean()) > 1.5, (
        f"sparse: kept features should be in superposition, interference {interference[1][sparse_kept]}"
    )


def test_correlated_pairs_orthogonal_anticorrelated_antipodal(seed):
    """4 features (2 pairs) in 2 dimensions: sparse correlated pairs orthogonal, dense ones never antipodal
    (collapsed onto one direction from most initialisations, orthogonal from some: 4 and 2 of seeds 0-5);
    anticorrelated pairs antipodal. Same settings as the result."""
    ToyModel = _sibling("toy_model_forward").ToyModel
    loss_fn = _sibling("importance_weighted_loss").importance_weighted_loss
    cosines = {}
    for name, batch_fn, p in [
        ("correlated", _sibling("correlated_batch").correlated_batch, torch.tensor([0.3, 0.02])),
        ("anticorrelated", _sibling("anticorrelated_batch").anticorrelated_batch, torch.tensor([0.5, 0.4])),
    ]:
        torch.manual_seed(seed + 1)
        model = ToyModel(len(p), 4, 2, feature_probability=p[:, None])
        train_toy_model(model, batch_fn, loss_fn, steps=3_000, progress=False)
        W = model.W.detach()
        cosines[name] = [[_cosine(W[k, :, 2 * q], W[k, :, 2 * q + 1]) for q in range(2)] for k in range(len(p))]

    dense, sparse = cosines["correlated"]
    assert all(abs(c) < 0.1 for c in sparse), f"sparse correlated pairs should be orthogonal, cosines {sparse}"
    assert all(c > 0.95 or abs(c) < 0.15 for c in dense), (
        f"dense correlated pairs should collapse onto one direction or stay orthogonal, cosines {dense}"
    )
    for k, pair_cosines in enumerate(cosines["anticorrelated"]):
        assert all(c < -0.95 for c in pair_cosines), f"anticorrelated pairs should be antipodal, cosines {pair_cosines}"


# --------------------------------------------------------------------------- section 2: 10


def _polysemantic(W: torch.Tensor, nonnegative_inputs: bool) -> tuple[list[int], list[int]]:
    """(alive neurons, polysemantic neurons) per instance, as the plot's titles count them."""
    mono = neuron_monosemanticity(W, nonnegative_inputs)
    counted = W.clamp_min(0) if nonnegative_inputs else W
    alive = counted.abs().amax(-1) > 1e-2
    return alive.sum(-1).tolist(), ((mono < 0.9) & alive).sum(-1).tolist()


def test_neuron_model_monosemantic_dense_polysemantic_sparse(seed):
    """The neuron model (10 features, 5 neurons): every neuron serves one feature at S = 0.25; most serve
    several at S = 0.99."""
    NeuronModel = _sibling("neuron_model_forward").NeuronModel
    torch.manual_seed(seed)
    model = NeuronModel(
        2, 10, 5, feature_probability=torch.tensor([[0.75], [0.01]]), importance=(0.75 ** torch.arange(10))[None, :]
    )
    _train(model)
    alive, poly = _polysemantic(model.W.detach(), nonnegative_inputs=True)
    assert alive[0] == 5 and poly[0] == 0, f"dense: expected 5 monosemantic neurons, got {poly[0]} of {alive[0]} poly"
    assert poly[1] >= 4, f"sparse: expected >= 4 of 5 neurons polysemantic, got {poly[1]}"


def test_abs_model_monosemantic_dense_polysemantic_sparse(seed):
    """The |x| model (20 features, 10 neurons): one feature per neuron when dense, mostly two neurons per
    feature (±x: |x| = ReLU(x) + ReLU(-x)), most neurons shared when sparse."""
    AbsValueModel = _sibling("abs_value_model_forward").AbsValueModel
    torch.manual_seed(seed)
    model = AbsValueModel(
        2, 20, 10, feature_probability=torch.tensor([[1.0], [0.03]]), importance=(0.9 ** torch.arange(20))[None, :]
    )
    _train(model, "signed_batch", "abs_value_loss", lr=5e-3)
    alive, poly = _polysemantic(model.W1.detach(), nonnegative_inputs=False)
    assert alive[0] >= 8 and poly[0] == 0, f"dense: expected monosemantic neurons, got {poly[0]} of {alive[0]} poly"
    assert poly[1] >= 8, f"sparse: expected >= 8 of 10 neurons polysemantic, got {poly[1]}"

    # Dense: kept features are mostly read by two neurons, one with a positive weight, one negative (seeds 0-5:
    # 4 or 5 such pairs, and 0 or 2 features read by one neuron); none by two neurons of the same sign.
    W1 = model.W1.detach()[0]
    strongest = W1.abs().argmax(-1)
    readers = {f: sorted(torch.sign(W1[strongest == f, f]).tolist()) for f in strongest.unique().tolist()}
    pairs = sum(signs == [-1.0, 1.0] for signs in readers.values())
    alone = sum(len(signs) == 1 for signs in readers.values())
    assert pairs >= 3 and pairs + alone == len(readers) and 2 * pairs > alone, f"dense: readers' signs {readers}"


# --------------------------------------------------------------------------- section 3: 11


def test_dimensionality_sticks_at_fractions(seed):
    """The result's 50 features in 10 dimensions, at 4 of its 8 sparsities (1/(1-S) = 1.25, 2.26, 4.1, 5):
    most represented features (D > 0.15) sit within 0.03 of the paper's fractions, spread over several of
    them (triangles or tetrahedra, digons, pentagons, square antiprisms), as the result prints; and the
    dimensions per feature fall with sparsity. Same training settings as the result."""
    ToyModel = _sibling("toy_model_forward").ToyModel
    feature_dimensionality = _sibling("feature_dimensionality").feature_dimensionality
    feature_probability = 1 / torch.tensor([1.25, 2.26, 4.1, 5.0])
    torch.manual_seed(seed)
    model = ToyModel(4, 50, 10, feature_probability=feature_probability[:, None])
    _train(model, steps=4_000, batch_size=1024)
    W = model.W.detach()
    D = feature_dimensionality(W)
    dims_per_feature = 10 / W.pow(2).sum(dim=(1, 2))

    counts, n_represented = count_on_fractions(D)
    on = sum(counts.values())
    assert on >= 0.7 * n_represented, f"only {on} of {n_represented} represented features on a fraction: {counts}"
    assert sum(count >= 5 for count in counts.values()) >= 3, f"expected >= 3 fractions with >= 5 features: {counts}"
    assert counts["1/2  digon (antipodal pair)"] >= 15, f"1/(1-S) = 2.26 should be all digons: {counts}"
    assert (torch.diff(dims_per_feature) < 0).all(), f"dimensions per feature should fall: {dims_per_feature}"
    assert (D.sum(-1) <= 10 + 1e-3).all(), f"dimensionalities sum to at most d_hidden: {D.sum(-1)}"


def test_count_on_fractions():
    D = torch.tensor([[1.0, 0.74, 0.5, 0.49, 0.4, 0.38, 0.3, 0.1, 0.0]])
    counts, n_represented = count_on_fractions(D)
    assert n_represented == 7  # 0.1 and 0 are not represented
    assert list(counts.values()) == [1, 1, 0, 2, 1, 1]  # 0.38 is nearer 3/8 than 2/5; 0.3 is on none


# --------------------------------------------------------------------------- the plots


def test_plots_write_pngs(tmp_path):
    torch.manual_seed(0)
    p = torch.tensor([1.0, 0.1, 0.01])
    path = plot_feature_norms(torch.rand(3, 20) * 1.2, torch.rand(3, 20) * 3, p, tmp_path / "a" / "norms.png", d_hidden=5)
    _assert_png(path)
    rows = {"correlated": (torch.randn(4, 2, 4), torch.tensor([0.3, 0.1, 0.03, 0.01])), "anti": (torch.randn(3, 2, 4), p)}
    _assert_png(plot_pair_directions(rows, tmp_path / "pairs.png"))
    rows = {"neuron model": (torch.randn(3, 5, 10), p, True), "|x| model": (torch.randn(3, 10, 20), p, False)}
    _assert_png(plot_neuron_weights(rows, tmp_path / "neurons.png"))
    _assert_png(plot_neuron_weights({"many features": (torch.randn(2, 8, 30), p[:2], False)}, tmp_path / "many.png"))
    D = torch.rand(4, 30)
    _assert_png(plot_feature_dimensionality(D, torch.rand(4), 10 ** -torch.linspace(0, 1, 4), tmp_path / "dim.png"))


def test_neuron_monosemanticity():
    W = torch.tensor([[[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, -1.0, 0.0]]])  # (1 inst, 4 neurons, 3)
    assert neuron_monosemanticity(W).tolist() == [[1.0, 0.5, 0.0, 0.5]]
    # With non-negative inputs a negative weight can't switch the neuron on: neuron 3 is monosemantic.
    assert neuron_monosemanticity(W, nonnegative_inputs=True).tolist() == [[1.0, 0.5, 0.0, 1.0]]


@pytest.mark.parametrize("name", ["feature_norms_and_interference", "abs_value_loss", "feature_dimensionality"])
def test_results_have_a_main(name):
    """Each section's last exercise runs its result when executed (checked statically: the run takes ~20 s)."""
    source = next(SOLUTIONS.glob(f"[0-9][0-9]_{name}.py")).read_text()
    assert 'if __name__ == "__main__":' in source and "results/superposition/" in source
