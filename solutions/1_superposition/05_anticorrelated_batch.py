"""Anticorrelated feature pairs
============================

Difficulty: 2/5    Importance: 2/5    Time: ~10 minutes

Source: Elhage et al. 2022, "Toy Models of Superposition", section "Superposition and Correlated
Features" (https://transformer-circuits.pub/2022/toy_model/index.html).

The opposite of the previous exercise: the two features of a pair are never present together ("this
digit is a 3" and "this digit is a 7"). The paper finds that the model then likes to store them
*antipodally*, W_j ≈ -W_i: one direction, two signs. When feature i is present the hidden vector
points along +W_i and the ReLU passes feature i and blocks feature j (negative); when j is present,
the other way round. Since they never appear together, they never interfere, and a pair costs one
dimension instead of two.

The data, with pairs laid out as before, pair k = features (2k, 2k + 1):

    pair k is active with probability 2p;
    if active, exactly one of its two features is present, each chosen with probability 1/2,
    with a magnitude drawn from U[0, 1]; the other feature is exactly 0;
    if not active, both are 0.

So each feature on its own is present with probability 2p · 1/2 = p, exactly as in `generate_batch`
(this is the convention of ARENA's replication, chosen so that the three kinds of batch have the
same per-feature sparsity and only the correlations differ). It needs 2p ≤ 1, i.e. p ≤ 1/2. As in
the previous exercise, the arguments are those of `generate_batch` and the pair's probability p is
read from its first feature (given).

What to write: the body of `anticorrelated_batch`. A correct answer never has both features of a
pair nonzero in the same example; each feature is nonzero a fraction p of the time; the pair is
active a fraction 2p of the time; values are in [0, 1].
"""

import torch
from jaxtyping import Float
from torch import Tensor


def anticorrelated_batch(
    batch_size: int, feature_probability: Float[Tensor, "inst feats"]
) -> Float[Tensor, "batch inst feats"]:
    """Sample a batch in which features come in anticorrelated pairs: never both present.

    Args:
        batch_size: the number of examples.
        feature_probability: (n_instances, n_features), n_features even, entries at most 1/2.
            Features 2k and 2k + 1 form pair k and must have the same probability p: each of them
            is present with probability p.

    Returns:
        A float tensor of shape (batch_size, n_instances, n_features) on the device of
        `feature_probability`. For every example, instance and pair: with probability 2p the pair is
        active and exactly one of its two features (chosen uniformly) gets a U[0, 1] value; all
        other entries are exactly 0.
    """
    n_instances, n_features = feature_probability.shape
    if n_features % 2:
        raise ValueError(f"features come in pairs: n_features must be even, got {n_features}")
    if not torch.equal(feature_probability[:, 0::2], feature_probability[:, 1::2]):
        raise ValueError("the two features of a pair (2k, 2k + 1) must have the same probability")
    if float(feature_probability.max()) > 0.5:
        raise ValueError(
            "anticorrelated pairs need p <= 1/2 (a pair is active with probability 2p)"
        )
    n_pairs = n_features // 2
    device = feature_probability.device
    shape = (batch_size, n_instances, n_pairs)

    # The probability of each feature, read from the pair's first feature: (n_instances, n_pairs).
    pair_probability = feature_probability[:, 0::2]

    # SOLUTION
    # Is the pair active (probability 2p)? And if so, which of its two features is present (a fair
    # coin, drawn independently of the first flip)?
    pair_active = torch.rand(shape, device=device) < 2 * pair_probability
    first_is_present = torch.rand(shape, device=device) < 0.5

    # (batch, inst, pairs, 2) -> (batch, inst, 2 * pairs): stacking on a new last dimension and
    # flattening puts the two features of pair k next to each other, at 2k and 2k + 1.
    present = torch.stack([pair_active & first_is_present, pair_active & ~first_is_present], dim=-1)
    present = present.flatten(start_dim=-2)

    # Independent U[0, 1] magnitudes, as always.
    magnitude = torch.rand(batch_size, n_instances, n_features, device=device)

    return torch.where(present, magnitude, 0.0)
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "pair active with prob. 2p, then exactly one of features 2k, 2k + 1 (fair coin); U[0, 1]"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # A quick look: 1 instance, 2 pairs (4 features), p = 0.3 (so each pair is active 60% of the
    # time).
    batch = anticorrelated_batch(10_000, torch.full((1, 4), 0.3))
    present = (batch[:, 0] != 0).float()
    print("shape:", tuple(batch.shape))
    print("fraction present per feature (expect ≈ 0.3):", present.mean(0).tolist())
    print(
        "fraction of examples with both features of pair 0 present (expect 0):",
        (present[:, 0] * present[:, 1]).mean().item(),
    )
    print("first 5 examples:")
    print(batch[:5, 0])
