"""A fixed training set
====================

Difficulty: 2/5    Importance: 3/5    Time: ~10 minutes

Source: Henighan et al. 2023, "Superposition, Memorization, and Double Descent"
(https://transformer-circuits.pub/2023/toy-double-descent/index.html).

So far every training step drew a fresh batch: the model never saw the same example twice, so it
could only learn the *distribution*, the features. That is the infinite-data regime of the first
paper. The follow-up asks what happens with a finite dataset: T examples, drawn once, shown again
and again. Now the model has a second option besides learning features: it can learn the T examples
themselves.

This section trains the same toy model, x -> ReLU(WᵀWx + b), on such a fixed set and varies T. Two
changes from the batches of exercise 2, both as in the paper:

- The set is drawn once (here: one function call) and reused for every step.
- Every example is scaled to unit length, x / ‖x‖, the norm taken over its features. Then every
  example counts the same in the loss, however many features it happens to hold. A rare example with
  no feature at all has nothing to scale: it stays all zeros (divide by the norm clamped below at a
  small number, 1e-8, as in exercise 6; a plain division gives 0/0 = NaN).

Before scaling, an example is made as in exercise 2: each feature independently present with its
probability, with a magnitude uniform on [0, 1], else exactly 0.

Shapes. `feature_probability` is (n_instances, n_features), one probability per instance and
feature, as the model's buffer. The set has shape (n_examples, n_instances, n_features), like a
batch: instance k gets its own examples, set[:, k, :]. The norm of one example is over its last
dimension only, one norm per (example, instance).

What to write: `fixed_training_set`. A correct answer has, for every example with at least one
feature, ‖x‖ = 1 over the features; all-zero examples stay zero (no NaN); each feature is present
(nonzero) with its probability; and the ratios between an example's present values are those of
independent U[0, 1] draws (scaling changes lengths, not directions).
"""

import torch
from jaxtyping import Float
from torch import Tensor


def fixed_training_set(
    n_examples: int, feature_probability: Float[Tensor, "inst feats"]
) -> Float[Tensor, "examples inst feats"]:
    """Draw a training set of sparse examples, each scaled to unit length over its features.

    Args:
        n_examples: T, the number of examples.
        feature_probability: (n_instances, n_features), the probability that each feature is
            present.

    Returns:
        (n_examples, n_instances, n_features), float32: entry [t, k, i] is U[0, 1] with probability
        feature_probability[k, i], else 0; then every example [t, k, :] divided by its norm (clamped
        below at 1e-8, so that an example with no feature stays all zeros).
    """
    # SOLUTION
    shape = (n_examples, *feature_probability.shape)

    # As exercise 2: a coin flip per entry for presence, an independent U[0, 1] magnitude.
    present = torch.rand(shape) < feature_probability
    examples = torch.where(present, torch.rand(shape), 0.0)

    # One norm per example (and instance), over its features; an empty example stays 0, not 0/0.
    norms = examples.norm(dim=-1, keepdim=True)
    return examples / norms.clamp_min(1e-8)
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "draw sparse U[0, 1] examples as in exercise 2, then scale "
    #     "each to unit norm over its features"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # A quick look: 4 examples of one instance with 6 features, each present with probability 0.5.
    examples = fixed_training_set(4, torch.full((1, 6), 0.5))
    print(examples[:, 0])
    print("norms over features:", examples.norm(dim=-1).flatten())
