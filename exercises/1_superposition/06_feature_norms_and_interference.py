"""Feature norms and interference
==============================

Difficulty: 2/5    Importance: 4/5    Time: ~15 minutes

Source: Elhage et al. 2022, "Toy Models of Superposition", section "Demonstrating Superposition"
(its figures of 20 features in 5 dimensions)
(https://transformer-circuits.pub/2022/toy_model/index.html).

With 5 features in 2 dimensions we could simply look at the columns of W. With 20 features in 5
dimensions we cannot, so the paper summarises each feature i by two numbers:

    ‖W_i‖                     how strongly feature i is represented: ≈ 1 if the model stores it,
                              ≈ 0 if it dropped it. (W_i is column i of W, feature i's direction.)
    Σ_{j≠i} (Ŵ_i · W_j)²      how much the other features overlap with feature i's direction
                              (Ŵ_i = W_i / ‖W_i‖ is the unit vector along W_i). 0 if feature i has
                              a dimension to itself, orthogonal to every other feature; large if
                              other features are stored along the same direction. The paper uses it
                              as its measure of superposition ("interference").

The projection Ŵ_i · W_j is how much of feature j's direction lies along feature i's: when feature j
is present with value x_j, the model's readout of feature i picks up (W_i · W_j) x_j of it, i.e.
‖W_i‖ (Ŵ_i · W_j) x_j. Squaring makes the sign irrelevant, and leaving out j = i leaves out the
feature itself ((Ŵ_i · W_i)² = ‖W_i‖²).

Dead features. A feature the model dropped can have W_i exactly 0, and then Ŵ_i = 0/0. Convention
(used by the plots and tests): divide by ‖W_i‖ clamped below at 1e-8, so a dead feature has Ŵ_i = 0
and interference 0 (it is not in superposition: it is not represented at all; its norm says so). A
feature with a tiny but nonzero norm still has a unit direction, so its interference is some number
that means little: read interference only for features with a sizeable norm (the plot's bars for the
others have length ≈ 0).

Shapes. W is (n_instances, d_hidden, n_features): column W[k, :, i] is feature i of instance k. Both
results have shape (n_instances, n_features).

What to write: `feature_norms_and_interference`. A correct answer gives, for W with orthonormal
columns, norms 1 and interference 0; for the pentagon (5 unit vectors 72° apart in 2D), interference
2·cos²(72°) + 2·cos²(144°) = 1.5 for every feature. Then run this file: it trains 20 features in 5
dimensions over a range of sparsities and plots these two numbers (see the end of this file), and
shows how correlated and anticorrelated pairs arrange themselves.
"""

import einops
import torch
from jaxtyping import Float
from torch import Tensor


def feature_norms_and_interference(
    W: Float[Tensor, "inst d_hidden feats"],
) -> tuple[Float[Tensor, "inst feats"], Float[Tensor, "inst feats"]]:
    """Each feature's norm, and how much the other features interfere with it.

    Args:
        W: (n_instances, d_hidden, n_features), a ToyModel's W; column W[k, :, i] is feature i's
            direction in instance k's hidden space.

    Returns:
        (norms, interference), both of shape (n_instances, n_features):
        norms[k, i] = ‖W[k, :, i]‖, and
        interference[k, i] = Σ_{j≠i} (Ŵ[k, :, i] · W[k, :, j])², with Ŵ_i = W_i / max(‖W_i‖, 1e-8)
        (so a feature with W_i = 0 has interference 0).
    """
    raise NotImplementedError(
        "return ‖W_i‖ and Σ_{j≠i} (Ŵ_i · W_j)² for every instance and feature"
    )


if __name__ == "__main__":
    # The section's result, in two parts. Uses *your* ToyModel, generate_batch, loss, correlated and
    # anticorrelated batches (exercises 1-5), loaded from the files next to this one, with the
    # function above. Writes two PNGs under results/superposition/. About 20 s on a laptop.
    from pathlib import Path

    from arena_course.loading import load_sibling
    from arena_course.superposition.toy_models import (
        plot_feature_norms, plot_pair_directions, train_toy_model
    )

    ToyModel = load_sibling(__file__, "toy_model_forward").ToyModel
    generate_batch = load_sibling(__file__, "generate_batch").generate_batch
    loss_fn = load_sibling(__file__, "importance_weighted_loss").importance_weighted_loss
    correlated_batch = load_sibling(__file__, "correlated_batch").correlated_batch
    anticorrelated_batch = load_sibling(__file__, "anticorrelated_batch").anticorrelated_batch

    # Fail at once, rather than after training, if the function above isn't written yet.
    feature_norms_and_interference(torch.randn(1, 2, 3))

    # (a) 20 features in 5 dimensions, importance 0.9^i, one instance per sparsity S = 1 - p.
    n_features, d_hidden = 20, 5
    sparsity = torch.tensor([0.0, 0.7, 0.9, 0.97, 0.99, 0.997])
    feature_probability = 1 - sparsity
    importance = 0.9 ** torch.arange(n_features)

    torch.manual_seed(0)
    model = ToyModel(
        len(sparsity), n_features, d_hidden, feature_probability=feature_probability[
            :, None
        ], importance=importance[None, :]
    )
    print("(a) 20 features in 5 dimensions, from dense to sparse")
    train_toy_model(model, generate_batch, loss_fn)
    with torch.no_grad():
        norms, interference = feature_norms_and_interference(model.W)
    path_a = plot_feature_norms(
        norms, interference, feature_probability, Path(
            "results/superposition/feature_norms.png"
        ), d_hidden=d_hidden
    )

    # (b) 2 pairs of features (4 features) in 2 dimensions: correlated pairs, then anticorrelated
    # pairs. All features equally important. Anticorrelated pairs need p <= 1/2, and their
    # preference for being antipodal is strongest when they are often active, so their probabilities
    # are higher. (In 2D, 4 sparse features form a square whichever way they are paired up; pairing
    # each feature with its anticorrelated partner only saves the loss of the rare examples where
    # two independent antipodal features are present together, about p² of them. So at low p, or
    # from an unlucky init, a model can settle in the square with the wrong pairs antipodal: a local
    # minimum. Try torch.manual_seed(0) below to see one: the third anticorrelated panel.)
    pair_rows = {}
    for name, batch_fn, probabilities in [
        (
            "correlated pairs\n(both or neither present)",
            correlated_batch,
            torch.tensor([0.3, 0.1, 0.03, 0.01]),
        ),
        (
            "anticorrelated pairs\n(never both present)",
            anticorrelated_batch,
            torch.tensor([0.5, 0.4, 0.3, 0.2]),
        ),
    ]:
        torch.manual_seed(1)
        pair_model = ToyModel(len(probabilities), 4, 2, feature_probability=probabilities[:, None])
        print(f"(b) {name.splitlines()[0]}: 4 features in 2 dimensions")
        train_toy_model(pair_model, batch_fn, loss_fn, steps=3_000)
        pair_rows[name] = (pair_model.W.detach(), probabilities)
    path_b = plot_pair_directions(pair_rows, Path("results/superposition/correlated_pairs.png"))

    print(f"Wrote {path_a}")
    print(
        "  One panel per sparsity; a bar per feature, its length "
        "‖W_i‖, its colour the interference.\n"
        "  Dense (left): only the 5 most important features, each alone in a dimension (dark).\n"
        "  Sparse (right): more and more features kept, all in superposition (bright)."
    )
    print(f"Wrote {path_b}")
    print(
        "  Correlated pairs (top): the two features of a pair end up "
        "orthogonal (cos ≈ 0); when dense they\n"
        "  collapse onto one shared direction (cos = +1, norm 1/√2). "
        "Anticorrelated pairs (bottom): the two\n"
        "  features of a pair end up antipodal (cos = -1): the ReLU tells them apart for free."
    )
