"""Training data from the toy model's hidden layer
===============================================

Difficulty: 2/5    Importance: 3/5    Time: ~10 minutes

Source: Bricken et al. 2023, "Towards Monosemanticity", section "Setup: Sparse Autoencoders"
(https://transformer-circuits.pub/2023/monosemantic-features); the toy-model version is ARENA's.

An SAE is trained on a model's *activations*, not on the model's inputs: for a language model, the
residual stream or the MLP activations at one layer, collected over many tokens. Here the "model
under study" is a trained toy model (5 features in 2 dimensions, a pentagon), and the activation we
decompose is its hidden layer:

    x ~ sparse features, each present with the toy model's own feature probability
    h = W x              h: (d_hidden,)    W: (d_hidden, n_features)

That h is all the SAE ever sees. It never sees x or W: recovering the 5 directions (the columns of
W) from h alone is its whole job, and because we know W we can check whether it succeeded.

Shapes. The toy model has n_inst instances (for SAEs, usually all copies of one trained model, so
that each SAE instance studies the same thing), W of shape (n_inst, d_hidden, n_features), and
`feature_probability` of shape (n_inst, n_features). Sample the features with `sparse_features`
(given: exactly exercise 2's `generate_batch`), shape (batch, n_inst, n_features), then project each
instance's features with that instance's W:

    h[b, k, :] = W[k] @ x[b, k, :]        h: (batch, n_inst, d_hidden)

No gradients. The toy model is finished and frozen: its activations are data for the SAE, a constant
as far as the SAE's training is concerned. `model.W` is a parameter, so anything computed from it is
part of autograd's graph unless you switch gradient tracking off for the computation (PyTorch's
no-grad context) or detach the result; otherwise every SAE step would build a graph back into the
toy model.

What to write: `sae_training_data`. A correct answer has shape (batch, n_inst, d_hidden), does not
require grad, and each h[b, k] is W[k] times a sparse feature vector drawn with the model's own
probabilities: so h is exactly 0 for the examples in which no feature is present (most of them, for
sparse features). Draw the features once per call, with the model's own probabilities: then, run
after a `torch.manual_seed`, your answer matches the reference exactly.
"""

import einops
import torch
from jaxtyping import Float
from torch import Tensor, nn

from arena_course.superposition.toy_sae import sparse_features


def sae_training_data(model: nn.Module, batch_size: int) -> Float[Tensor, "batch inst d_hidden"]:
    """A batch of the toy model's hidden activations, the SAE's training data.

    Args:
        model: a trained ToyModel (exercise 1): `model.W` of shape (n_inst, d_hidden, n_features)
            and `model.feature_probability` of shape (n_inst, n_features).
        batch_size: the number of examples.

    Returns:
        h of shape (batch_size, n_inst, d_hidden), with h[b, k] = W[k] @ x[b, k] for
        x = sparse_features(batch_size, model.feature_probability). No gradient.
    """
    raise NotImplementedError(
        "sample sparse features with the model's probabilities; return "
        "their hidden activations W x, without gradient"
    )


if __name__ == "__main__":
    # A quick look, on an untrained toy model (the section's result uses a trained one): 2 instances
    # of 5 features in 2 dimensions, probability 0.025.
    from arena_course.loading import load_sibling

    toy = load_sibling(__file__, "toy_model_forward")
    model = toy.ToyModel(n_instances=2, n_features=5, d_hidden=2, feature_probability=0.025)
    h = sae_training_data(model, 1000)
    print("h shape:", tuple(h.shape), " requires grad:", h.requires_grad)
    print(
        "fraction of examples with h = 0 (expect ≈ 0.975^5 ≈ 0.88):",
        float((h == 0).all(-1).float().mean()),
    )
