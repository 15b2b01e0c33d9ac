"""The loss for computing |x|
==========================

Difficulty: 1/5    Importance: 3/5    Time: ~5 minutes

Source: Elhage et al. 2022, "Toy Models of Superposition", section "Computation in Superposition"
(https://transformer-circuits.pub/2022/toy_model/index.html).

The model of the previous exercise is trained to output the absolute value of its input, with the
same importance-weighted squared error as before, only against a different target:

    L = E_x [ Σ_i I_i (|x_i| - x'_i)² ]

Same shapes and reductions as `importance_weighted_loss` (exercise 3): `out` and `batch` are (batch,
n_instances, n_features), `importance` (n_instances, n_features), and the result is one loss per
instance, shape (n_instances,): **sum** over features, **mean** over the batch.

    loss[k] = mean over b of  Σ_i importance[k, i] * (|batch[b, k, i]| - out[b, k, i])²

Then run this file: it trains the neuron model (exercise 7) and the |x| model (exercise 9) at
several sparsities and draws, for each neuron, the weight of every feature into it. See the end of
this file.

What to write: `abs_value_loss`. A correct answer is 0 when out = |batch|, and does not change when
the signs of `batch` are flipped.
"""

import torch
from jaxtyping import Float
from torch import Tensor


def abs_value_loss(
    out: Float[Tensor, "batch inst feats"],
    batch: Float[Tensor, "batch inst feats"],
    importance: Float[Tensor, "inst feats"],
) -> Float[Tensor, "inst"]:
    """The importance-weighted squared error of `out` against |batch|, one loss per instance.

    Args:
        out: the model's output x', shape (batch, n_instances, n_features).
        batch: the input x (signed), same shape.
        importance: (n_instances, n_features), the weight of each feature's squared error.

    Returns:
        Shape (n_instances,): loss[k] = mean over the batch of Σ_i importance[k, i] *
        (|batch[b, k, i]| - out[b, k, i])².
    """
    # SOLUTION
    # The target is |x|; the rest is exercise 3's loss: weight, sum over features, mean over the
    # batch.
    weighted_error = importance * (batch.abs() - out) ** 2
    return weighted_error.sum(dim=-1).mean(dim=0)
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "return mean over batch of Σ_features importance * (|batch| - out)², per instance"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # The section's result: per-neuron weights of two models with a privileged basis (ReLU neurons),
    # from dense to sparse features. Uses *your* NeuronModel (exercise 7), generate_batch (2), loss
    # (3), signed_batch (8) and AbsValueModel (9), loaded from the files next to this one, with the
    # loss above. Writes results/superposition/neurons.png. About 30 s on a laptop.
    from pathlib import Path

    from arena_course.loading import load_sibling
    from arena_course.superposition.toy_models import plot_neuron_weights, train_toy_model

    NeuronModel = load_sibling(__file__, "neuron_model_forward").NeuronModel
    generate_batch = load_sibling(__file__, "generate_batch").generate_batch
    importance_weighted_loss = load_sibling(
        __file__, "importance_weighted_loss"
    ).importance_weighted_loss
    signed_batch = load_sibling(__file__, "signed_batch").signed_batch
    AbsValueModel = load_sibling(__file__, "abs_value_model_forward").AbsValueModel

    # Fail at once, rather than after the first model's training, if the loss above isn't written
    # yet.
    abs_value_loss(torch.rand(2, 1, 3), torch.rand(2, 1, 3), torch.ones(1, 3))

    # One instance per sparsity S = 1 - p. (The neuron model starts at S = 0.25 rather than 0: with
    # every feature always present, it finds a different, less clear-cut solution.)
    neuron_sparsity = torch.tensor([0.25, 0.7, 0.9, 0.97, 0.99])
    abs_sparsity = torch.tensor([0.0, 0.7, 0.9, 0.97, 0.99])

    # (1) The neuron model: 10 features stored in 5 ReLU neurons (and read back with Wᵀ), importance
    # 0.75^i.
    torch.manual_seed(0)
    neuron_model = NeuronModel(
        len(neuron_sparsity),
        10,
        5,
        feature_probability=(1 - neuron_sparsity)[:, None],
        importance=(0.75 ** torch.arange(10))[None, :],
    )
    print("(1) the neuron model: 10 features in 5 neurons")
    train_toy_model(neuron_model, generate_batch, importance_weighted_loss)

    # (2) The |x| model: 20 signed features, their absolute values computed with 10 neurons,
    # importance 0.9^i. (A lower learning rate than the default: with two free matrices, fast
    # training tends to leave stray large weights.)
    torch.manual_seed(0)
    abs_model = AbsValueModel(
        len(abs_sparsity),
        20,
        10,
        feature_probability=(1 - abs_sparsity)[:, None],
        importance=(0.9 ** torch.arange(20))[None, :],
    )
    print("(2) the |x| model: |x| of 20 features with 10 neurons")
    train_toy_model(abs_model, signed_batch, abs_value_loss, lr=5e-3)

    path = plot_neuron_weights(
        {
            # Rows of W / W1: each neuron's input weights. The neuron model's inputs are >= 0, so
            # only positive weights can switch a neuron on; the |x| model's inputs are signed.
            "neuron model\n(10 features, 5 neurons)": (neuron_model.W, 1 - neuron_sparsity, True),
            "|x| model\n(20 features, 10 neurons)": (abs_model.W1, 1 - abs_sparsity, False),
        },
        Path("results/superposition/neurons.png"),
    )
    print(f"Wrote {path}")
    print(
        "Each bar is one neuron, stacked from the weights of the features "
        "that feed it (one colour per feature).\n"
        "Dense (left): every neuron serves one feature (the |x| model uses "
        "two per feature: ReLU(x) and ReLU(-x)).\n"
        "Sparse (right): more features than neurons are kept, and neurons "
        "become polysemantic: many colours per bar."
    )
