"""The toy model's forward pass
=============================

Difficulty: 2/5    Importance: 4/5    Time: ~10 minutes

Source: Elhage et al. 2022, "Toy Models of Superposition", section "Demonstrating Superposition"
(https://transformer-circuits.pub/2022/toy_model/index.html).

A model has more "features" (things it would like to represent: "this is a cat", "this token is in a
quote") than dimensions in its hidden layer. Can it still represent all of them? The toy model asks
this in the smallest possible setting. A vector x of `n_features` features is squeezed into a hidden
space of `d_hidden < n_features` dimensions by a matrix W, and then read back out with the same
matrix, transposed, plus a bias and a ReLU:

    h  = W x                    h:  (d_hidden,)        W: (d_hidden, n_features)
    x' = ReLU(Wᵀ h + b)         x': (n_features,)      b: (n_features,)

The model is trained to reconstruct its input (x' ≈ x). Column i of W, W[:, i], is the direction in
which feature i is stored in the hidden space. If the model only kept `d_hidden` features, those
columns would be orthogonal and the rest zero. If it stores more features than it has dimensions,
they share dimensions and interfere: that is superposition. The ReLU and the bias are what make this
worthwhile: a small negative bias filters out small interference from other features.

Many models at once. We will want to compare models trained at different settings (sparsity,
importance), and they are tiny, so we train `n_instances` independent models in parallel as one
module. Every parameter has a leading instance dimension:

    W:       (n_instances, d_hidden, n_features)
    b_final: (n_instances, n_features)

and the input has shape (..., n_instances, n_features): any number of leading dimensions (usually
one, the batch), then one feature vector per instance. Instance k's features only ever meet instance
k's weights; instances never mix.

What to write: `ToyModel.forward`. A correct answer has the same shape as its input, is never
negative (it ends in a ReLU), and for instance k computes ReLU(W[k]ᵀ W[k] x[..., k, :] +
b_final[k]). `einops.einsum` with named dimensions is the easiest way to get the instance dimension
right.
"""

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn


class ToyModel(nn.Module):
    """`n_instances` independent toy models x -> ReLU(WᵀWx + b), trained in parallel.

    Attributes:
        W: (n_instances, d_hidden, n_features). Column W[k, :, i] is feature i's direction in the
            hidden space of instance k.
        b_final: (n_instances, n_features), the output bias.
        feature_probability: (n_instances, n_features), the probability each feature is present in a
            training example (a buffer: used by the training loop, not learned).
        importance: (n_instances, n_features), how much each feature's reconstruction error counts
            in the loss (a buffer).
    """

    W: Float[Tensor, "inst d_hidden feats"]
    b_final: Float[Tensor, "inst feats"]
    feature_probability: Float[Tensor, "inst feats"]
    importance: Float[Tensor, "inst feats"]

    def __init__(
        self,
        n_instances: int,
        n_features: int,
        d_hidden: int,
        feature_probability: float | Tensor | None = None,
        importance: float | Tensor | None = None,
    ):
        """Build the model.

        Args:
            n_instances: how many independent models to train side by side.
            n_features: the number of input features (5 in the pentagon experiment).
            d_hidden: the hidden dimension (2 in the pentagon experiment).
            feature_probability: a number, or a tensor that broadcasts to (n_instances, n_features):
                e.g. shape (n_instances, 1) for one probability per instance. Default 1.0 (dense).
            importance: same, e.g. shape (n_features,) for one importance per feature shared by all
                instances. Default 1.0 (all features equally important).
        """
        super().__init__()
        self.n_instances = n_instances
        self.n_features = n_features
        self.d_hidden = d_hidden

        # Xavier-normal init of each instance's (d_hidden, n_features) matrix.
        self.W = nn.Parameter(
            nn.init.xavier_normal_(torch.empty(n_instances, d_hidden, n_features))
        )
        self.b_final = nn.Parameter(torch.zeros(n_instances, n_features))

        # Buffers: saved with the model and moved by `.to(device)`, but not trained.
        shape = (n_instances, n_features)
        self.register_buffer("feature_probability", _broadcast(feature_probability, shape))
        self.register_buffer("importance", _broadcast(importance, shape))

    def forward(self, features: Float[Tensor, "... inst feats"]) -> Float[Tensor, "... inst feats"]:
        """Reconstruct the features: ReLU(Wᵀ W x + b_final), for every instance separately.

        Args:
            features: the input x, shape (..., n_instances, n_features): any leading dimensions
                (usually the batch), then instance k's feature vector.

        Returns:
            The reconstruction x', the same shape as `features`, with x'[..., k, :] =
            ReLU(W[k]ᵀ W[k] x[..., k, :] + b_final[k]).
        """
        # SOLUTION
        # Down to the hidden space: h = W x, for each instance with its own W.
        hidden = einops.einsum(
            features, self.W, "... inst feats, inst d_hidden feats -> ... inst d_hidden"
        )

        # Back up with the transpose of the same matrix: Wᵀ h. Same einsum pattern, now contracting
        # over d_hidden instead of feats.
        out = einops.einsum(
            hidden, self.W, "... inst d_hidden, inst d_hidden feats -> ... inst feats"
        )

        # Add the bias, then the ReLU (in that order: the bias can push small values below zero).
        return F.relu(out + self.b_final)
        # END SOLUTION
        # EXERCISE
        # raise NotImplementedError("compute h = W x, then ReLU(Wᵀ h + b_final), for each instance")
        # END EXERCISE


def _broadcast(value: float | Tensor | None, shape: tuple[int, int]) -> Tensor:
    """`value` (None meaning 1.0) as a float tensor of exactly `shape`, copied so it owns its
    memory."""
    if value is None:
        value = 1.0
    return torch.as_tensor(value, dtype=torch.float32).broadcast_to(shape).clone()


if __name__ == "__main__":
    # A quick look: 3 instances of 5 features in 2 dimensions, on a batch of 4 random inputs.
    model = ToyModel(n_instances=3, n_features=5, d_hidden=2)
    x = torch.rand(4, 3, 5)
    print("input shape: ", tuple(x.shape))
    print("output shape:", tuple(model(x).shape))
