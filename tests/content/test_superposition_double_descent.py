"""The result of chapter 1's double-descent section, at reduced scale, with the reference solutions.

`14_data_point_dimensionality.py` trains the toy model (200 features, 2 dimensions, p = 0.02) on fixed sets of
T = 3 to 1000 examples and plots the test loss and the dimensionalities of features and data points against
T. This trains three of its sizes (same functions, same settings, two instances each) and checks what the
plot shows: with T = 5 the model memorises (train loss ≈ 0, test loss ≈ 1, the loss of outputting 0) and
the data points hold the dimensions; with T = 1000 it learns features (test loss below 1) and the
features hold them; in between (T = 100) the test loss is far above both.
"""

from pathlib import Path

import torch

from arena_course.loading import load_sibling
from arena_course.superposition.double_descent import plot_double_descent, sweep_training_set_sizes

HERE = Path(__file__).resolve().parents[2] / "solutions" / "1_superposition" / "14_data_point_dimensionality.py"


def _sibling(exercise_id: str):
    return load_sibling(HERE, exercise_id)


def _top(D: torch.Tensor, k: int = 3) -> float:
    """The mean of the k largest dimensionalities of each instance, averaged over instances."""
    return float(D.topk(k, dim=-1).values.mean())


def test_double_descent(seed, tmp_path):
    ToyModel = _sibling("toy_model_forward").ToyModel
    feature_dimensionality = _sibling("feature_dimensionality").feature_dimensionality
    data_point_dimensionality = _sibling("data_point_dimensionality").data_point_dimensionality
    torch.manual_seed(seed)
    small, middle, large = runs = sweep_training_set_sizes(
        [5, 100, 1000],
        lambda: ToyModel(2, 200, 2, feature_probability=0.02),
        _sibling("fixed_training_set").fixed_training_set,
        _sibling("train_on_fixed_set").train_on_fixed_set,
        _sibling("importance_weighted_loss").importance_weighted_loss,
        steps=2_000, lr=1e-2, weight_decay=1e-2, warmup=200,  # the result's settings
    )
    test = [float(run.test_loss.mean()) for run in runs]
    D_features = [feature_dimensionality(run.W) for run in runs]
    D_data = [data_point_dimensionality(run.W, run.train_set) for run in runs]

    top_data, top_features = [_top(D) for D in D_data], [_top(D) for D in D_features]
    seen = (f"train losses {[round(float(r.train_loss.max()), 3) for r in runs]}, test losses "
            f"{[round(t, 2) for t in test]}, top data D {[round(d, 2) for d in top_data]}, "
            f"top feature D {[round(d, 2) for d in top_features]} at T = 5, 100, 1000")

    # T = 5: memorised (train loss ≈ 0), nearly 0 output on fresh examples (test loss ≈ 1); the data points
    # hold the dimensions (each of the 5 about 2/5), the features less.
    assert float(small.train_loss.max()) < 0.05, f"T = 5 should be memorised: {seen}"
    assert 0.85 < test[0] < 1.3, f"T = 5: test loss should be about 1: {seen}"
    assert top_data[0] > 0.3 and top_data[0] > 1.5 * top_features[0], f"T = 5: data points should lead: {seen}"

    # T = 1000: features learnt (test loss below that of outputting 0); the features hold the dimensions.
    assert test[2] < 1.0, f"T = 1000: test loss should be below 1: {seen}"
    assert top_features[2] > 0.2 and top_features[2] > 3 * top_data[2], f"T = 1000: features should lead: {seen}"

    # T = 100: the peak, far above both ends.
    assert test[1] > 1.5 * max(test[0], test[2]), f"expected a peak at T = 100: {seen}"

    path = plot_double_descent(runs, D_features, D_data, (5, 1000), tmp_path / "dd.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_result_has_a_main():
    """The section's last exercise runs its result when executed (checked statically: the run takes ~1 min)."""
    source = HERE.read_text()
    assert 'if __name__ == "__main__":' in source and "results/superposition/double_descent.png" in source
