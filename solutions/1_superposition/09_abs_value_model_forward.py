"""A model that computes |x|
=========================

Difficulty: 2/5    Importance: 3/5    Time: ~10 minutes

Source: Elhage et al. 2022, "Toy Models of Superposition", section "Computation in Superposition"
(https://transformer-circuits.pub/2022/toy_model/index.html).

To compute |x| rather than copy x, the model needs two things the neuron model lacks. It is no
longer an autoencoder, so there is no reason for the way out to be the transpose of the way in: it
gets two separate matrices. And it needs its hidden ReLU, since |x| is not linear:

    h  = ReLU(W1 x)             W1: (d_hidden, n_features)    one row per neuron: its input weights
    x' = ReLU(W2 h + b)         W2: (n_features, d_hidden)    one column per neuron: its output
    weights

With one instance dimension in front, as always: W1 (n_instances, d_hidden, n_features), W2
(n_instances, n_features, d_hidden), b_final (n_instances, n_features); input and output
(..., n_instances, n_features).

How can this compute |x|? With two neurons per feature it is exact: a neuron ReLU(x_i) and a neuron
ReLU(-x_i), both written back to output i with weight +1, give ReLU(x_i) + ReLU(-x_i) = |x_i|. With
fewer neurons than 2 × features the model must share neurons between features, and the paper finds
that with sparse inputs it does, in superposition.

What to write: `AbsValueModel.forward`. A correct answer has the input's shape and is never
negative; with W1 = [[1], [-1]], W2 = [[1, 1]] and b = 0 (one feature, two neurons) it computes
exactly |x|. Note the shapes: W2 maps d_hidden to features, so the second product contracts W2's
*last* dimension.
"""

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn


class AbsValueModel(nn.Module):
    """`n_instances` independent models x -> ReLU(W2 ReLU(W1 x) + b), trained to output |x|.

    Attributes:
        W1: (n_instances, d_hidden, n_features). Row W1[k, n, :] holds neuron n's input weights.
        W2: (n_instances, n_features, d_hidden). Column W2[k, :, n] holds neuron n's output weights.
        b_final: (n_instances, n_features), the output bias.
        feature_probability: (n_instances, n_features), buffer used by the training loop.
        importance: (n_instances, n_features), buffer used by the loss.
    """

    W1: Float[Tensor, "inst d_hidden feats"]
    W2: Float[Tensor, "inst feats d_hidden"]
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
        """Build the model (same arguments as the ToyModel's).

        Args:
            n_instances: how many independent models to train side by side.
            n_features: the number of input (and output) features.
            d_hidden: the number of neurons.
            feature_probability: a number, or a tensor that broadcasts to (n_instances, n_features).
                Default 1.0 (dense).
            importance: same. Default 1.0.
        """
        super().__init__()
        self.n_instances = n_instances
        self.n_features = n_features
        self.d_hidden = d_hidden

        self.W1 = nn.Parameter(
            nn.init.xavier_normal_(torch.empty(n_instances, d_hidden, n_features))
        )
        self.W2 = nn.Parameter(
            nn.init.xavier_normal_(torch.empty(n_instances, n_features, d_hidden))
        )
        self.b_final = nn.Parameter(torch.zeros(n_instances, n_features))

        shape = (n_instances, n_features)
        for name, value in [
            ("feature_probability", feature_probability), ("importance", importance)
        ]:
            value = 1.0 if value is None else value
            self.register_buffer(
                name, torch.as_tensor(value, dtype=torch.float32).broadcast_to(shape).clone()
            )

    def forward(self, features: Float[Tensor, "... inst feats"]) -> Float[Tensor, "... inst feats"]:
        """ReLU(W2 ReLU(W1 x) + b_final), for every instance separately.

        Args:
            features: the input x, shape (..., n_instances, n_features).

        Returns:
            The output x', the same shape as `features`, with x'[..., k, :] =
            ReLU(W2[k] ReLU(W1[k] x[..., k, :]) + b_final[k]).
        """
        # SOLUTION
        # The neurons: h = ReLU(W1 x), contracting W1's last dimension (features).
        hidden = F.relu(
            einops.einsum(
                features, self.W1, "... inst feats, inst d_hidden feats -> ... inst d_hidden"
            )
        )

        # The output: W2 h, contracting W2's last dimension (neurons); then bias and ReLU.
        out = einops.einsum(
            hidden, self.W2, "... inst d_hidden, inst feats d_hidden -> ... inst feats"
        )
        return F.relu(out + self.b_final)
        # END SOLUTION
        # EXERCISE
        # raise NotImplementedError(
        #     "compute h = ReLU(W1 x), then ReLU(W2 h + b_final), for each instance"
        # )
        # END EXERCISE


if __name__ == "__main__":
    # A quick look: one feature, two neurons wired as ReLU(x) + ReLU(-x) = |x|.
    model = AbsValueModel(n_instances=1, n_features=1, d_hidden=2)
    with torch.no_grad():
        model.W1.copy_(torch.tensor([[[1.0], [-1.0]]]))  # neuron 0 sees x, neuron 1 sees -x
        model.W2.copy_(torch.tensor([[[1.0, 1.0]]]))  # both write to the output with weight 1
    x = torch.linspace(-1, 1, 5).reshape(5, 1, 1)
    print("x:     ", x.flatten().tolist())
    print("output:", model(x).flatten().tolist(), "(expect |x|)")
