"""Signed sparse batches
=====================

Difficulty: 1/5    Importance: 2/5    Time: ~5 minutes

Source: Elhage et al. 2022, "Toy Models of Superposition", section "Computation in Superposition"
(https://transformer-circuits.pub/2022/toy_model/index.html).

So far the model only had to *store* features and read them back. Can it also *compute* in
superposition, with more features than neurons? The paper's simplest test is the absolute value: the
model gets x and must output |x|, feature by feature. |x| is not linear, so a model must use its
ReLU neurons to compute it, e.g. |x| = ReLU(x) + ReLU(-x), two neurons per feature if each had its
own.

For |x| to be interesting, the inputs must be signed. The data is the sparse data of
`generate_batch` with one change: a present feature's value is drawn uniformly from [-1, 1] instead
of [0, 1].

    feature i is present with probability p_i (independently for every entry);
    if present, its value is drawn from U[-1, 1]; if absent, it is exactly 0.

Shapes and arguments are those of `generate_batch`: `feature_probability` (n_instances, n_features),
result (batch_size, n_instances, n_features).

What to write: `signed_batch`. A correct answer has values in [-1, 1]; a fraction p of entries
nonzero; present values spread evenly over [-1, 1] (mean ≈ 0, about half negative).
"""

import torch
from jaxtyping import Float
from torch import Tensor


def signed_batch(
    batch_size: int, feature_probability: Float[Tensor, "inst feats"]
) -> Float[Tensor, "batch inst feats"]:
    """Sample a batch of sparse, signed feature vectors for every instance.

    Args:
        batch_size: the number of examples.
        feature_probability: (n_instances, n_features); entry [k, i] is the probability that feature
            i is present in an example for instance k.

    Returns:
        A float tensor of shape (batch_size, n_instances, n_features) on the device of
        `feature_probability`: entry [b, k, i] is drawn from U[-1, 1] with probability
        feature_probability[k, i], and is exactly 0 otherwise, independently for every entry.
    """
    n_instances, n_features = feature_probability.shape
    shape = (batch_size, n_instances, n_features)
    device = feature_probability.device

    raise NotImplementedError(
        "make each entry U[-1, 1] with probability feature_probability, else 0"
    )


if __name__ == "__main__":
    # A quick look: 1 instance of 4 features, p = 0.5.
    batch = signed_batch(10_000, torch.full((1, 4), 0.5))
    values = batch[batch != 0]
    print("shape:", tuple(batch.shape))
    print("fraction present (expect ≈ 0.5):", (batch != 0).float().mean().item())
    print("range of present values (expect ≈ -1 to 1):", values.min().item(), values.max().item())
    print(
        "fraction of present values that are negative (expect ≈ 0.5):",
        (values < 0).float().mean().item(),
    )
