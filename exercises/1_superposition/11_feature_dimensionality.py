"""Fractional dimensionality of features
=====================================

Difficulty: 3/5    Importance: 4/5    Time: ~15 minutes

Source: Elhage et al. 2022, "Toy Models of Superposition", section "The Geometry of Superposition",
subsection "Feature Dimensionality" (https://transformer-circuits.pub/2022/toy_model/index.html).

How much of a dimension does each feature get? If the model stores d_hidden features in d_hidden
dimensions, each gets exactly one. With a pentagon of 5 features in 2 dimensions, it is fair to say
that each gets 2/5. The paper makes this precise for any arrangement with the *dimensionality* of
feature i:

                ‖W_i‖²
    D_i = ─────────────────────          (Ŵ_i = W_i / ‖W_i‖, the unit vector along W_i)
           Σ_j (Ŵ_i · W_j)²

The numerator is how strongly feature i is represented; the denominator is how many features share
its direction, counted with their strength along it. The sum is over **all** j, feature i included:
its own term is (Ŵ_i · W_i)² = ‖W_i‖², so D_i = ‖W_i‖² / (‖W_i‖² + Σ_{j≠i} (Ŵ_i · W_j)²), which is
the interference of exercise 6 in disguise. Some values worth checking by hand (the paper's "sticky"
fractions 1, 3/4, 2/3, 1/2, 2/5, 3/8):

    a feature orthogonal to all others:                  D = 1
    a tetrahedron of 4 unit vectors in 3 dimensions:     D = 1 / (1 + 3 · (1/3)²) = 3/4
    a triangle of 3 unit vectors 120° apart:             D = 1 / (1 + 2 cos²120°) = 2/3
    two antipodal features of equal norm (a "digon"):    D = 1/2 each  (‖W‖² / (‖W‖² + ‖W‖²))
    a regular pentagon:                                  D = 1 / (1 + 2 cos²72° + 2 cos²144°) = 2/5
    a square antiprism, 8 features in 3 dimensions:      D = 3/8 each, when they share the 3 equally

The paper's striking finding: as sparsity grows, features do not take any dimensionality whatever,
they stick at such fractions, as if each group of features solved its own small packing problem in
its own subspace. This file's run (50 features in 10 dimensions, from nearly dense to sparse) shows
four of them at once: triangles (2/3) or tetrahedra (3/4) at the dense end of its range (which of
the two depends on the run), digons (1/2) over a wide range, then pentagons (2/5) and square
antiprisms (3/8) as features get sparser. (D = 1 needs a denser setting than this run can train in a
minute; see the comment at the bottom.)

Dead features. A feature the model dropped has W_i = 0, so D_i = 0/0. Convention: D_i = 0 (it gets
no share of any dimension). Compute Ŵ_i with the norm clamped below at 1e-8, as in exercise 6, and
the denominator clamped below at 1e-8 too: then W_i = 0 gives 0 / 1e-8 = 0, and nothing else
changes.

Shapes. W is (n_instances, d_hidden, n_features), column W[k, :, i] feature i of instance k. The
result has shape (n_instances, n_features).

What to write: `feature_dimensionality`. A correct answer gives 1 for orthonormal columns, 1/2 for
an antipodal pair, 2/5 for the pentagon, 0 for an all-zero column. Two checks that need no
reference: D_i does not change when W is scaled (it depends only on the geometry), and the
dimensionalities of an instance sum to at most d_hidden, exactly d_hidden for orthonormal features
and the regular shapes above: the features share out the dimensions.
"""

import einops
import torch
from jaxtyping import Float
from torch import Tensor


def feature_dimensionality(W: Float[Tensor, "inst d_hidden feats"]) -> Float[Tensor, "inst feats"]:
    """The fractional dimensionality D_i = ‖W_i‖² / Σ_j (Ŵ_i · W_j)² of every feature.

    Args:
        W: (n_instances, d_hidden, n_features), a ToyModel's W; column W[k, :, i] is feature i's
            direction in instance k's hidden space.

    Returns:
        (n_instances, n_features): D[k, i] = ‖W_i‖² / Σ_j (Ŵ_i · W_j)² for instance k, the sum over
        all features j including i, with Ŵ_i = W_i / max(‖W_i‖, 1e-8) and the denominator clamped
        below at 1e-8, so that a dead feature (W_i = 0) has D = 0.
    """
    raise NotImplementedError(
        "return ‖W_i‖² / Σ_j (Ŵ_i · W_j)² for every instance and feature (0 for W_i = 0)"
    )


if __name__ == "__main__":
    # The section's result: the dimensionality of every feature of 50 features in 10 dimensions, all
    # equally important, over a range of sparsities. Uses *your* ToyModel, generate_batch and loss
    # (exercises 1-3), loaded from the files next to this one, with the function above. Writes
    # results/superposition/dimensionality.png. About a minute on a laptop.
    #
    # (The paper uses more features and dimensions. This size and sparsity range are the ones where
    # 4,000 steps settle the features: with 100 features, or sparsities closer to dense, many
    # features are still on their way from one arrangement to another when training stops, and sit
    # between the fractions.)
    from pathlib import Path

    from arena_course.loading import load_sibling
    from arena_course.superposition.toy_models import (
        count_on_fractions, plot_feature_dimensionality
    )
    from arena_course.superposition.toy_models import train_toy_model

    ToyModel = load_sibling(__file__, "toy_model_forward").ToyModel
    generate_batch = load_sibling(__file__, "generate_batch").generate_batch
    loss_fn = load_sibling(__file__, "importance_weighted_loss").importance_weighted_loss

    # Fail at once, rather than after training, if the function above isn't written yet.
    feature_dimensionality(torch.randn(1, 2, 3))

    n_features, d_hidden = 50, 10
    # One instance per sparsity, 1/(1 - S) = 1/p from 1.25 to 5 on a log scale.
    feature_probability = 1 / torch.logspace(
        torch.log10(torch.tensor(1.25)), torch.log10(torch.tensor(5.0)), 8
    )

    torch.manual_seed(0)
    model = ToyModel(
        len(feature_probability),
        n_features,
        d_hidden,
        feature_probability=feature_probability[:, None],
    )
    train_toy_model(model, generate_batch, loss_fn, steps=4_000, batch_size=1024)

    with torch.no_grad():
        dimensionality = feature_dimensionality(model.W)
        # The "dimensions per feature" of each instance: d_hidden / ‖W‖_F². Where the stored
        # features have norm ≈ 1, ‖W‖_F² ≈ the number of features represented.
        dims_per_feature = d_hidden / model.W.pow(2).sum(dim=(1, 2))

    path = plot_feature_dimensionality(
        dimensionality,
        dims_per_feature,
        feature_probability,
        Path("results/superposition/dimensionality.png"),
        title=f"{n_features} features in {d_hidden} dimensions",
    )
    print(f"Wrote {path}")

    # What the plot shows, counted: the represented features (D > 0.15) within 0.03 of each
    # fraction.
    counts, n_represented = count_on_fractions(dimensionality)
    on = sum(counts.values())
    print(f"{n_represented} of {dimensionality.numel()} features represented (D > 0.15); "
          f"{on} ({on / max(n_represented, 1):.0%}) within 0.03 of one of the paper's fractions:")
    for label, count in counts.items():
        print(f"    {label:<30} {count:4d}")
    for k, p in enumerate(feature_probability.tolist()):
        D = dimensionality[k][dimensionality[k] > 0.15]
        print(f"  1/(1-S) = {1 / p:4.2f}: {len(D):2d} features represented, D from "
              f"{float(D.min()):.2f} to {float(D.max()):.2f}"
              if len(D) else f"  1/(1-S) = {1 / p:4.2f}: no feature represented")
    print(
        "Each blue dot is one feature of one instance; the black "
        "line is d / ‖W‖²_F. Read the plot from\n"
        "left to right: the densest instance stores its features in "
        "triangles or tetrahedra (2/3, 3/4), then\n"
        "over a wide range every kept feature is in a digon (1/2), "
        "and sparser still they pack into\n"
        "pentagons and square antiprisms (2/5, 3/8; at the "
        "sparsest, some already lower). An instance\n"
        "between two plateaus can be caught mid-way, its features "
        "between two lines. Grey dots at 0 are\n"
        "features the model dropped; at the dense end many are kept "
        "weakly instead (blue dots just above 0),\n"
        "which is also why the black line is high there. (The paper's "
        "dense end, features with a dimension\n"
        "of their own at D = 1, is left out: equally important "
        "features that dense take far longer than\n"
        "this run to settle.)"
    )
