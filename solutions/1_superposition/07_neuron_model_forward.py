"""A hidden-layer ReLU: the neuron model
=====================================

Difficulty: 2/5    Importance: 4/5    Time: ~10 minutes

Source: Elhage et al. 2022, "Toy Models of Superposition", section "Superposition in a Privileged
Basis" (https://transformer-circuits.pub/2022/toy_model/index.html).

In the toy model so far, the hidden space has no preferred directions: rotate it (W -> R W for any
rotation R) and the model computes exactly the same function, since WᵀRᵀRW = WᵀW. So it makes no
sense to ask what "hidden dimension 3" means; only the directions of the features do. The paper
calls this a *non-privileged basis*. A residual stream is like that.

A ReLU applied to each hidden unit breaks the symmetry: ReLU(R h) ≠ R ReLU(h). Now each hidden
dimension is a *neuron*, something that can be on or off on its own, and the standard basis is
*privileged*. Real MLP layers are like that, and it is there that one can ask the question that
matters for interpretability: does each neuron stand for one feature (monosemantic), or for several
(polysemantic)?

The neuron model is the toy model with a ReLU on the hidden layer:

    h  = ReLU(W x)              h:  (d_hidden,)   one activation per neuron, never negative
    x' = ReLU(Wᵀ h + b)         x': (n_features,)

with the same shapes as before: W (n_instances, d_hidden, n_features), b_final (n_instances,
n_features), input and output (..., n_instances, n_features). Row W[k, n, :] says how much each
feature drives neuron n of instance k: the per-neuron weight plot at the end of this section draws
those rows.

What to write: `NeuronModel.forward`. A correct answer is the toy model's forward with one more
ReLU, on h: it has the input's shape, is never negative, and a feature stored with negative weights
only (W_i ≤ 0 everywhere) can never switch a neuron on.
"""

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn


class NeuronModel(nn.Module):
    """`n_instances` independent neuron models x -> ReLU(Wᵀ ReLU(W x) + b), trained in parallel.

    Attributes (as in the ToyModel):
        W: (n_instances, d_hidden, n_features). Row W[k, n, :] holds neuron n's input weights.
        b_final: (n_instances, n_features), the output bias.
        feature_probability: (n_instances, n_features), buffer used by the training loop.
        importance: (n_instances, n_features), buffer used by the loss.
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
        """Build the model (same arguments as the ToyModel's).

        Args:
            n_instances: how many independent models to train side by side.
            n_features: the number of input features.
            d_hidden: the number of neurons.
            feature_probability: a number, or a tensor that broadcasts to (n_instances, n_features).
                Default 1.0 (dense).
            importance: same. Default 1.0.
        """
        super().__init__()
        self.n_instances = n_instances
        self.n_features = n_features
        self.d_hidden = d_hidden

        self.W = nn.Parameter(
            nn.init.xavier_normal_(torch.empty(n_instances, d_hidden, n_features))
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
        """Reconstruct the features through a layer of ReLU neurons: ReLU(Wᵀ ReLU(W x) + b_final).

        Args:
            features: the input x, shape (..., n_instances, n_features).

        Returns:
            The reconstruction x', the same shape as `features`, with x'[..., k, :] =
            ReLU(W[k]ᵀ ReLU(W[k] x[..., k, :]) + b_final[k]).
        """
        # SOLUTION
        # The neurons' activations: h = ReLU(W x). This ReLU is the only change from the ToyModel.
        hidden = F.relu(
            einops.einsum(
                features, self.W, "... inst feats, inst d_hidden feats -> ... inst d_hidden"
            )
        )

        # Back up with the transpose, add the bias, ReLU: as before.
        out = einops.einsum(
            hidden, self.W, "... inst d_hidden, inst d_hidden feats -> ... inst feats"
        )
        return F.relu(out + self.b_final)
        # END SOLUTION
        # EXERCISE
        # raise NotImplementedError(
        #     "compute h = ReLU(W x), then ReLU(Wᵀ h + b_final), for each instance"
        # )
        # END EXERCISE


if __name__ == "__main__":
    # A quick look: 2 instances of 10 features in 5 neurons, on a batch of 4 random inputs.
    model = NeuronModel(n_instances=2, n_features=10, d_hidden=5)
    x = torch.rand(4, 2, 10)
    print("input shape: ", tuple(x.shape))
    print("output shape:", tuple(model(x).shape))
