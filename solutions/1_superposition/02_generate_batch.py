"""Sparse feature batches
======================

Difficulty: 2/5    Importance: 3/5    Time: ~10 minutes

Source: Elhage et al. 2022, "Toy Models of Superposition", section "Demonstrating Superposition"
(https://transformer-circuits.pub/2022/toy_model/index.html).

The toy model is trained on synthetic data whose features we control. Real features are *sparse*:
most of the time "this token is in a quote" or "this image contains a wheel" is simply absent. The
paper's data captures that with two rules, applied to every feature of every example independently:

    feature i is present with probability p_i  (its "feature probability"; the paper's sparsity is
                                               S_i = 1 - p_i)
    if present, its value is drawn uniformly from [0, 1]; if absent, it is exactly 0.

Sparsity is what makes superposition pay. If two features are rarely present at the same time, the
model can store them in overlapping directions and rarely suffer from the interference. With p = 1
(dense) every feature is always there and interference always hurts; with p = 0.01 two given
features are both present in only 1 example in 10,000.

Shapes. We train many model instances at once (see the previous exercise), each with its own feature
probabilities, so `feature_probability` has shape (n_instances, n_features) and the batch has shape
(batch_size, n_instances, n_features). Every entry of the batch gets its own random draws: no two
examples, instances or features share a coin flip.

What to write: `generate_batch`. A correct answer has values in [0, 1]; a fraction close to p[k, i]
of the entries batch[:, k, i] is nonzero; and the nonzero entries are spread evenly over [0, 1]
(mean about 0.5), including those of a feature with a small p. Whether a feature is present and how
large it is are two separate random questions.
"""

import torch
from jaxtyping import Float
from torch import Tensor


def generate_batch(
    batch_size: int, feature_probability: Float[Tensor, "inst feats"]
) -> Float[Tensor, "batch inst feats"]:
    """Sample a batch of sparse feature vectors for every instance.

    Args:
        batch_size: the number of examples.
        feature_probability: (n_instances, n_features); entry [k, i] is the probability that feature
            i is present in an example for instance k.

    Returns:
        A float tensor of shape (batch_size, n_instances, n_features) on the device of
        `feature_probability`: entry [b, k, i] is drawn from U[0, 1] with probability
        feature_probability[k, i], and is exactly 0 otherwise, independently for every entry.
    """
    n_instances, n_features = feature_probability.shape
    shape = (batch_size, n_instances, n_features)
    device = feature_probability.device

    # SOLUTION
    # One coin flip per entry: present when a uniform draw falls below p. (Strictly below, so that
    # p = 0 never fires; broadcasting lines p up with the last two dimensions.)
    present = torch.rand(shape, device=device) < feature_probability

    # An independent magnitude per entry, uniform on [0, 1]. (Reusing the coin-flip draws would
    # give magnitudes below p only.)
    magnitude = torch.rand(shape, device=device)

    return torch.where(present, magnitude, 0.0)
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "make each entry U[0, 1] with probability feature_probability, else 0"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # A quick look: 2 instances of 4 features; instance 0 dense (p = 1), instance 1 sparse (p =
    # 0.2).
    p = torch.tensor([[1.0] * 4, [0.2] * 4])
    batch = generate_batch(10_000, p)
    print("shape:", tuple(batch.shape))
    print("fraction present per instance and feature (expect ≈ p):")
    print((batch != 0).float().mean(0))
    print("mean of the present values (expect ≈ 0.5):", batch[batch != 0].mean().item())
