"""The result of chapter 1, section 1 (the pentagon), at reduced scale, with the reference solutions.

`solutions/1_superposition/03_importance_weighted_loss.py` trains 5 features in 2 dimensions over a range
of sparsities and plots the columns of W. This checks what that plot shows, training only its two
extreme instances (of 8): at p = 1/400 (sparse) all 5 features are kept, with norm about 1, as a
regular pentagon; at p = 1 (dense) only 2 features are kept, orthogonal. Same functions and training
settings as the result.
"""

from pathlib import Path

import pytest
import torch

from arena_course.loading import load_sibling
from arena_course.superposition.toy_models import plot_feature_directions, train_toy_model

SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions" / "1_superposition"
HERE = SOLUTIONS / "03_importance_weighted_loss.py"  # load_sibling finds the exercises next to it


@pytest.fixture(scope="module")
def trained_W(seed) -> torch.Tensor:
    """W of shape (2, 2, 5) after training instance 0 dense (p = 1) and instance 1 sparse (p = 1/400)."""
    toy = load_sibling(HERE, "toy_model_forward")
    generate_batch = load_sibling(HERE, "generate_batch").generate_batch
    loss_fn = load_sibling(HERE, "importance_weighted_loss").importance_weighted_loss

    torch.manual_seed(seed)
    model = toy.ToyModel(
        n_instances=2,
        n_features=5,
        d_hidden=2,
        feature_probability=torch.tensor([[1.0], [1 / 400]]),
        importance=(0.9 ** torch.arange(5))[None, :],
    )
    losses = train_toy_model(model, generate_batch, loss_fn, progress=False)  # the result's settings
    assert losses[-1] < losses[0]
    return model.W.detach()


def test_sparse_features_form_a_pentagon(trained_W):
    W = trained_W[1]  # (2, 5): the sparse instance
    norms = W.norm(dim=0)
    assert ((norms > 0.8) & (norms < 1.4)).all(), f"expected 5 features of norm ≈ 1, got norms {norms.tolist()}"
    angles = torch.atan2(W[1], W[0]).rad2deg().sort().values
    gaps = torch.diff(torch.cat([angles, angles[:1] + 360]))  # between neighbours, around the circle
    assert (gaps - 72).abs().max() < 8, f"expected neighbours 72° apart (a pentagon), got gaps {gaps.tolist()}"


def test_dense_keeps_two_orthogonal_features(trained_W):
    W = trained_W[0]  # (2, 5): the dense instance
    norms = W.norm(dim=0)
    kept = norms > 0.5
    assert int(kept.sum()) == 2, f"expected exactly 2 features with norm > 0.5, got norms {norms.tolist()}"
    assert (norms[kept] > 0.8).all(), f"the 2 kept features should have norm ≈ 1, got {norms[kept].tolist()}"
    assert (norms[~kept] < 0.3).all(), f"dropped features should be near 0, got {norms[~kept].tolist()}"
    a, b = W[:, kept].T
    cos = float(a @ b / (a.norm() * b.norm()))
    assert abs(cos) < 0.15, f"the 2 kept features should be orthogonal, got cos = {cos:.3f}"


def test_plot_writes_png(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "nested" / "pentagon.png"
    written = plot_feature_directions(
        torch.randn(3, 2, 5), 400 ** -torch.linspace(0, 1, 3), 0.9 ** torch.arange(5), path
    )
    assert written == path
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert len(data) > 5_000, f"suspiciously small PNG ({len(data)} bytes)"


def test_plot_rejects_non_2d_hidden(tmp_path):
    with pytest.raises(ValueError, match="d_hidden"):
        plot_feature_directions(torch.randn(2, 3, 5), torch.ones(2), torch.ones(5), tmp_path / "x.png")
