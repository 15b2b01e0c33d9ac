"""Correlated feature pairs
========================

Difficulty: 2/5    Importance: 2/5    Time: ~10 minutes

Source: Elhage et al. 2022, "Toy Models of Superposition", section "Superposition and Correlated
Features" (https://transformer-circuits.pub/2022/toy_model/index.html).

So far every feature was independent: whether "this is a cat" is present says nothing about "this is
a dog". Real features are not like that. Some come together ("this text is in French" and "this word
is 'le'"), some exclude each other ("this digit is a 3" and "this digit is a 7"). The paper asks how
the toy model arranges such features, and finds a clear rule:

    correlated features prefer to be orthogonal (they are often present at the same time, so any
    overlap between them would interfere often);
    anticorrelated features prefer to be antipodal, W_j ≈ -W_i (they are never present at the same
    time, so the ReLU can tell them apart for free: see the next exercise).

In this exercise you generate the correlated data. Features come in pairs, and the two features of a
pair are either both present or both absent:

    pair k = features (2k, 2k + 1): (0, 1), (2, 3), (4, 5), ...   (neighbours, not k and k + n/2)
    pair k is present with probability p; if present, both its features are nonzero;
    each present feature's magnitude is drawn from U[0, 1] independently (the two features of a pair
    share the coin flip, not the value).

Each feature on its own is still present with probability p, exactly as in `generate_batch`; only
the joint distribution changes. That is why this function takes the same arguments as
`generate_batch`, `feature_probability` of shape (n_instances, n_features): it drops into the same
training loop. The two features of a pair must have the same probability, so the pair's probability
is read from its first feature, `feature_probability[:, 0::2]`, shape (n_instances, n_pairs)
(given).

What to write: the body of `correlated_batch`. A correct answer has shape (batch_size, n_instances,
n_features); values in [0, 1]; features 2k and 2k + 1 are zero in exactly the same examples; each is
nonzero a fraction p of the time; and the two present values of a pair differ.
"""

import einops
import torch
from jaxtyping import Float
from torch import Tensor


def correlated_batch(
    batch_size: int, feature_probability: Float[Tensor, "inst feats"]
) -> Float[Tensor, "batch inst feats"]:
    """Sample a batch in which features come in correlated pairs: both present or both absent.

    Args:
        batch_size: the number of examples.
        feature_probability: (n_instances, n_features), n_features even. Features 2k and 2k + 1 form
            pair k and must have the same probability p[k]: the probability that the pair is
            present.

    Returns:
        A float tensor of shape (batch_size, n_instances, n_features) on the device of
        `feature_probability`. For every example, instance and pair, one coin flip with probability
        p decides whether the pair is present; if it is, both features get independent U[0, 1]
        values, otherwise both are exactly 0.
    """
    n_instances, n_features = feature_probability.shape
    if n_features % 2:
        raise ValueError(f"features come in pairs: n_features must be even, got {n_features}")
    if not torch.equal(feature_probability[:, 0::2], feature_probability[:, 1::2]):
        raise ValueError("the two features of a pair (2k, 2k + 1) must have the same probability")
    n_pairs = n_features // 2
    device = feature_probability.device

    # The probability of each pair, read from its first feature: (n_instances, n_pairs).
    pair_probability = feature_probability[:, 0::2]

    raise NotImplementedError(
        "one coin flip per pair (prob. p) shared by features 2k and 2k + 1; U[0, 1] values"
    )


if __name__ == "__main__":
    # A quick look: 1 instance, 2 pairs (4 features), p = 0.3.
    torch.set_printoptions(precision=3, sci_mode=False)
    batch = correlated_batch(10_000, torch.full((1, 4), 0.3))
    present = (batch[:, 0] != 0).float()
    print("shape:", tuple(batch.shape))
    print("fraction present per feature (expect ≈ 0.3):", present.mean(0).tolist())
    print("correlation of presence between features (expect 1 within a pair, ≈ 0 across pairs):")
    print(torch.corrcoef(present.T))
    print("first 5 examples:")
    print(batch[:5, 0])
