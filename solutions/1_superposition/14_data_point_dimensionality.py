"""Data points' dimensionality
===========================

Difficulty: 2/5    Importance: 4/5    Time: ~10 minutes

Source: Henighan et al. 2023, "Superposition, Memorization, and Double Descent"
(https://transformer-circuits.pub/2023/toy-double-descent/index.html).

A model trained on a fixed set can store two kinds of things in its few hidden dimensions. It can
store *features*: a feature's direction is its column W_i, and exercise 11 measured how much of a
dimension each feature gets. Or it can store the *training examples* themselves: what the model does
with example x_t depends only on its hidden vector

    h_t = W x_t        (d_hidden numbers: the example, as the model sees it)

and a model that memorises its T examples arranges those T hidden vectors so that it can tell them
apart and reconstruct each one, exactly as a model that learns features arranges the columns of W.
The paper's move is to measure both the same way: the dimensionality of data point t is exercise
11's formula with the hidden vectors in place of the columns of W,

                ‖h_t‖²
    D_t = ─────────────────────          (ĥ_t = h_t / ‖h_t‖)
           Σ_s (ĥ_t · h_s)²

the sum over all T training examples s, t included. With few examples the model memorises: a handful
of hidden vectors take large, nearly orthogonal (or regular-polygon) positions and high D_t, while
the features' directions are a mess. With many examples it learns features instead, and the data
points' hidden vectors are small sums of the few stored features: low D_t.

Given below: `dimensionality(vectors)`, exercise 11's formula for the columns of any (inst, d, n)
tensor.

Shapes. W is (n_instances, d_hidden, n_features) and the set (n_examples, n_instances, n_features)
(as exercise 12 makes it). Arrange the hidden vectors as the *columns* of an (n_instances, d_hidden,
n_examples) tensor, the layout W has for features, so that `dimensionality` applies to it unchanged.
The result has shape (n_instances, n_examples).

What to write: `data_point_dimensionality`. A correct answer gives D_t = 1 for examples whose hidden
vectors are orthogonal, 1/2 for two examples with antipodal hidden vectors, and 0 for an example the
model maps to h_t = 0; it changes when the *examples* change, even if W's columns do not move.
"""

import einops
import torch
from jaxtyping import Float
from torch import Tensor


def dimensionality(vectors: Float[Tensor, "inst d n"]) -> Float[Tensor, "inst n"]:
    """Given (exercise 11, solved): D_i = ‖v_i‖² / Σ_j (v̂_i · v_j)² for each column v_i of each
    instance."""
    norms = vectors.norm(dim=1)
    unit = vectors / norms.clamp_min(1e-8)[:, None, :]
    overlap = einops.einsum(unit, vectors, "inst d i, inst d j -> inst i j")
    return norms**2 / (overlap**2).sum(-1).clamp_min(1e-8)


def data_point_dimensionality(
    W: Float[Tensor, "inst d_hidden feats"], train_set: Float[Tensor, "examples inst feats"]
) -> Float[Tensor, "inst examples"]:
    """The dimensionality of every training example's hidden vector h_t = W x_t.

    Args:
        W: (n_instances, d_hidden, n_features), a trained ToyModel's W.
        train_set: (n_examples, n_instances, n_features), the examples it was trained on.

    Returns:
        (n_instances, n_examples): D[k, t] = ‖h_t‖² / Σ_s (ĥ_t · h_s)² over instance k's examples s,
        with h_t = W[k] x_t.
    """
    # SOLUTION
    # Each example's hidden vector, laid out as W lays out features: (inst, d_hidden, examples).
    hidden = einops.einsum(
        W, train_set, "inst d_hidden feats, examples inst feats -> inst d_hidden examples"
    )

    # The same measure as for features, now over the data points.
    return dimensionality(hidden)
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "compute each example's hidden vector W x_t as a column, then their dimensionality"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # The section's result: the toy model trained on fixed sets of T examples, T from 3 to 1000,
    # three instances per size. Uses *your* ToyModel, loss, feature_dimensionality,
    # fixed_training_set and train_on_fixed_set (exercises 1, 3, 11, 12, 13), loaded from the files
    # next to this one, with the function above. Writes results/superposition/double_descent.png.
    # About a minute on a laptop.
    #
    # (The paper uses 10,000 features of sparsity 0.999 and 50,000 steps per model; 200 features
    # present with probability 0.02, about 4 per example, and 2,000 steps show the same two regimes
    # in a minute.)
    from pathlib import Path

    from arena_course.loading import load_sibling
    from arena_course.superposition.double_descent import (
        plot_double_descent, sweep_training_set_sizes
    )

    ToyModel = load_sibling(__file__, "toy_model_forward").ToyModel
    loss_fn = load_sibling(__file__, "importance_weighted_loss").importance_weighted_loss
    feature_dimensionality = load_sibling(__file__, "feature_dimensionality").feature_dimensionality
    fixed_training_set = load_sibling(__file__, "fixed_training_set").fixed_training_set
    train_on_fixed_set = load_sibling(__file__, "train_on_fixed_set").train_on_fixed_set

    # Fail at once, rather than after training, if the function above isn't written yet.
    data_point_dimensionality(torch.randn(1, 2, 3), torch.rand(4, 1, 3))

    n_features, d_hidden, p, n_instances = 200, 2, 0.02, 3
    sizes = [3, 5, 10, 20, 50, 100, 200, 500, 1000]

    torch.manual_seed(0)
    runs = sweep_training_set_sizes(
        sizes,
        lambda: ToyModel(n_instances, n_features, d_hidden, feature_probability=p),
        fixed_training_set,
        train_on_fixed_set,
        loss_fn,
        steps=2_000,
        lr=1e-2,
        weight_decay=1e-2,
        warmup=200,
        progress=print,
    )
    with torch.no_grad():
        D_features = [feature_dimensionality(run.W) for run in runs]
        D_data = [data_point_dimensionality(run.W, run.train_set) for run in runs]

    path = plot_double_descent(runs,
                               D_features,
                               D_data,
                               (5, 100, 1000),
                               Path("results/superposition/double_descent.png"),
                               title=f"{n_features} features in {d_hidden} dimensions, p = {p}")
    print(f"Wrote {path}")

    # What the plot shows, in numbers.
    test = [float(run.test_loss.mean()) for run in runs]
    peak = max(range(len(runs)), key=lambda i: test[i])
    print(f"Test loss by T (mean of {n_instances} instances; outputting 0 gives exactly 1):")
    print("    " + ", ".join(f"T = {size}: {loss:.2f}" for size, loss in zip(sizes, test)))
    print(f"Highest at T = {sizes[peak]} ({test[peak]:.2f}), against "
          f"{test[0]:.2f} at T = {sizes[0]} "
          f"and {test[-1]:.2f} at T = {sizes[-1]}.")
    for i in (1, len(runs) - 1):  # a small and the largest set
        top_data = float(D_data[i].topk(3, dim=-1).values.mean())
        top_features = float(D_features[i].topk(3, dim=-1).values.mean())
        print(f"T = {sizes[i]}: the 3 largest dimensionalities average "
              f"{top_data:.2f} for data points, "
              f"{top_features:.2f} for features.")
    print(
        "Small sets are memorised: train loss ≈ 0, the hidden vectors "
        "of the few examples spread out as a\n"
        "polygon (bottom left) while the features are a tangle, and on "
        "a fresh example the output is nearly\n"
        "0 (test loss ≈ 1). Large sets teach features: a few features "
        "form a polygon (top right), the data\n"
        "points are small sums of them, and the test loss drops "
        "below 1. In between, the model tries to\n"
        "store more examples than 2 dimensions can separate, with large "
        "weights tuned to them: the test loss\n"
        "peaks far above 1. (One run per size and instance: the "
        "peak's height varies from run to run, its\n"
        "place much less.)"
    )
