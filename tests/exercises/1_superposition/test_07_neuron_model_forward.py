"""Hidden test for exercise 07: NeuronModel.forward, x -> ReLU(Wᵀ ReLU(W x) + b) per instance."""

from functools import partial

import torch
import torch.nn.functional as F

from arena_cli.testing import assert_close, call_student
from arena_course.superposition.testing import biased_twins, check_forward_matches, check_gradients, check_leading_dims
from arena_course.superposition.testing import check_output_shape

_SIZE_DIAGNOSIS = (
    "A size mismatch in a product usually means it sums over the wrong dimension. W has shape "
    "(inst, d_hidden, feats): h = W x sums over `feats`, and Wᵀ h sums over `d_hidden`. Write both "
    "products with einops.einsum and named dimensions, keeping `inst` and `...` in the output."
)


def _models(student, reference, n_instances=3, n_features=6, d_hidden=3):
    """The student's and the reference's NeuronModel with the same weights, and a nonzero bias."""
    return biased_twins(student, reference, "NeuronModel", n_instances, n_features, d_hidden)


_forward = partial(call_student, diagnosis=_SIZE_DIAGNOSIS)  # model(x): a crash becomes a failed check


def _variants(W, b, x):
    """What common mistakes compute. W: (inst, h, f), b: (inst, f), x: (..., inst, f)."""
    pre_hidden = torch.einsum("ihf,...if->...ih", W, x)
    up = lambda h: torch.einsum("ihf,...ih->...if", W, h)  # noqa: E731
    return {
        "You left out the hidden ReLU: this model is ReLU(Wᵀ ReLU(W x) + b), the ToyModel with a ReLU on h = W x.": (
            F.relu(up(pre_hidden) + b)
        ),
        "You left out the output ReLU: apply ReLU after adding b_final too.": up(F.relu(pre_hidden)) + b,
        "You applied the output ReLU before adding the bias: it is ReLU(Wᵀ h + b), not ReLU(Wᵀ h) + b.": (
            F.relu(up(F.relu(pre_hidden))) + b
        ),
        "You left out the bias b_final.": F.relu(up(F.relu(pre_hidden))),
    }


def test_shape(student, reference):
    """Output has shape (batch, instances, features)"""
    stu, _ = _models(student, reference)
    check_output_shape(_forward(stu, torch.rand(4, 3, 6)), (4, 3, 6),
                       "The output has the input's shape: W maps features to d_hidden, Wᵀ maps back to features.")


def test_matches_reference(student, reference):
    """Output matches the reference on a random batch (6 features, 3 neurons, 3 instances)"""
    stu, ref = _models(student, reference)
    x = torch.rand(8, 3, 6)
    check_forward_matches(stu, ref, _forward, x, lambda: _variants(ref.W, ref.b_final, x))


def test_hidden_relu(student):
    """Hand-computed example where the hidden ReLU matters: a neuron with negative input stays off"""
    model = student.NeuronModel(n_instances=1, n_features=2, d_hidden=2)
    with torch.no_grad():
        # Neuron 0 reads feature 0 - feature 1; neuron 1 reads feature 1.
        model.W.copy_(torch.tensor([[[1.0, -1.0], [0.0, 1.0]]]))
        model.b_final.zero_()
    x = torch.tensor([[[0.2, 0.6]]])  # (batch 1, inst 1, feats 2)
    # h = ReLU(W x) = ReLU((0.2 - 0.6, 0.6)) = (0, 0.6)
    # Wᵀ h = (1·0 + 0·0.6, -1·0 + 1·0.6) = (0, 0.6);  ReLU -> (0, 0.6)
    # Without the hidden ReLU: h = (-0.4, 0.6), Wᵀ h = (-0.4, 0.4 + 0.6) = (-0.4, 1.0) -> ReLU (0, 1.0)
    with torch.no_grad():
        out = _forward(model, x)
    assert_close(
        out,
        torch.tensor([[[0.0, 0.6]]]),
        name="forward(x)",
        mistakes={
            "You left out the hidden ReLU: neuron 0's input W x is -0.4 here, so ReLU switches it off; without "
            "it, the negative activation leaks into feature 1's output.": torch.tensor([[[0.0, 1.0]]]),
            "You left out the output ReLU: apply ReLU after adding b_final too.": torch.tensor([[[-0.4, 1.0]]]),
        },
    )


def test_leading_dims(student, reference):
    """Works for any leading dimensions: no batch, or two batch dimensions"""
    stu, ref = _models(student, reference)
    check_leading_dims(stu, ref, _forward, torch.rand(4, 3, 6), torch.rand,
                       "Your forward assumes exactly one batch dimension. Use `...` in your einsum patterns so any "
                       "leading dimensions pass through.")


def test_gradients(student, reference):
    """Gradients flow back to W and b_final"""
    stu, _ = _models(student, reference)
    with torch.no_grad():
        stu.b_final.fill_(0.1)  # every output on, so every parameter gets a gradient
    check_gradients(_forward(stu, torch.rand(4, 3, 6)), stu, ["W", "b_final"],
                    "Don't use `.detach()`, `.data`, `.numpy()` or `torch.no_grad()` in forward.",
                    "Use self.{name} itself in forward (not a copy), so gradients reach it.")
