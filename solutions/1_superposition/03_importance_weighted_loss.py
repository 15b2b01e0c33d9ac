"""The importance-weighted loss
=============================

Difficulty: 1/5    Importance: 4/5    Time: ~5 minutes

Source: Elhage et al. 2022, "Toy Models of Superposition", section "Demonstrating Superposition"
(https://transformer-circuits.pub/2022/toy_model/index.html).

Not all features matter equally to a real model: getting "this is a dog" right may be worth more
than "this pixel is a bit brighter". The paper models this with an importance I_i per feature and
trains on the importance-weighted squared reconstruction error:

    L = E_x [ Σ_i I_i (x_i - x'_i)² ]

where x is the input, x' = model(x), and the expectation is estimated by the mean over a batch.
Importance decides which features are worth keeping when there is not enough room for all of them:
with 5 features, 2 dimensions and dense inputs, the model keeps the 2 most important features and
drops the rest.

Shapes and what to return. `out` and `batch` have shape (batch, n_instances, n_features) and
`importance` (n_instances, n_features). Each instance is a separate model, so return one loss per
instance, shape (n_instances,):

    loss[k] = mean over b of  Σ_i importance[k, i] * (batch[b, k, i] - out[b, k, i])²

i.e. **sum** over features, **mean** over the batch, and keep the instance dimension. (The training
loop optimises `loss.sum()`. Summing over instances, rather than averaging, gives each instance
exactly the gradient it would get if trained alone.)

Then run this file: it trains 5 features in 2 dimensions with your model and your batches, over a
range of sparsities, and plots where each feature ends up. See the end of this file.
"""

import torch
from jaxtyping import Float
from torch import Tensor


def importance_weighted_loss(
    out: Float[Tensor, "batch inst feats"],
    batch: Float[Tensor, "batch inst feats"],
    importance: Float[Tensor, "inst feats"],
) -> Float[Tensor, "inst"]:
    """The importance-weighted squared reconstruction error, one loss per instance.

    Args:
        out: the model's reconstruction x', shape (batch, n_instances, n_features).
        batch: the input x, same shape.
        importance: (n_instances, n_features), the weight I of each feature's squared error.

    Returns:
        Shape (n_instances,): loss[k] = mean over the batch of Σ_i importance[k, i] *
        (batch[b, k, i] - out[b, k, i])².
    """
    # SOLUTION
    # Squared error per entry, weighted by its feature's importance (broadcast over the batch).
    weighted_error = importance * (batch - out) ** 2

    # Sum over features (the paper's Σ_i), then average over the batch (the expectation over x).
    return weighted_error.sum(dim=-1).mean(dim=0)
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "return mean over batch of Σ_features importance * (batch - out)², per instance"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # The section's result: 5 features in 2 dimensions, from dense to very sparse.
    #
    # Uses *your* ToyModel (exercise 1) and generate_batch (exercise 2), loaded from the files next
    # to this one, with the loss above. Writes results/superposition/pentagon.png. About 10 s on a
    # laptop.
    from pathlib import Path

    from arena_course.loading import load_sibling
    from arena_course.superposition.toy_models import plot_feature_directions, train_toy_model

    toy_model_forward = load_sibling(__file__, "toy_model_forward")
    generate_batch = load_sibling(__file__, "generate_batch").generate_batch

    n_instances, n_features, d_hidden = 8, 5, 2

    # One feature probability per instance, from p = 1 (dense) down to p = 1/400 (sparse), on a log
    # scale; the same importance 0.9^i for every instance (feature 0 the most important).
    feature_probability = 400 ** -torch.linspace(0, 1, n_instances)
    importance = 0.9 ** torch.arange(n_features)

    torch.manual_seed(0)
    model = toy_model_forward.ToyModel(
        n_instances,
        n_features,
        d_hidden,
        feature_probability=feature_probability[:, None],  # (inst, 1): broadcast over features
        importance=importance[None, :],  # (1, feats): broadcast over instances
    )
    train_toy_model(model, generate_batch, importance_weighted_loss)

    path = plot_feature_directions(
        model.W, feature_probability, importance, Path("results/superposition/pentagon.png")
    )
    print(f"Wrote {path}")
    print(
        "Each panel is one instance; each line is one feature's direction (a column of W).\n"
        "Dense (left): the 2 most important features, orthogonal; the rest dropped (near 0).\n"
        "Sparse (right): all 5 features, 72° apart: a pentagon."
    )
