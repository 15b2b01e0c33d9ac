"""Hidden test for exercise 09: AbsValueModel.forward, x -> ReLU(W2 ReLU(W1 x) + b) per instance."""

from functools import partial

import torch
import torch.nn.functional as F

from arena_cli.testing import assert_close, call_student
from arena_course.superposition.testing import biased_twins, check_forward_matches, check_gradients, check_leading_dims
from arena_course.superposition.testing import check_output_shape

_SIZE_DIAGNOSIS = (
    "A size mismatch in a product usually means it sums over the wrong dimension. W1 is (inst, d_hidden, feats): "
    "h = W1 x sums over `feats`. W2 is (inst, feats, d_hidden): W2 h sums over `d_hidden`, W2's *last* "
    "dimension. With einops.einsum: \"... inst d_hidden, inst feats d_hidden -> ... inst feats\"."
)


def _models(student, reference, n_instances=3, n_features=5, d_hidden=4):
    """The student's and the reference's AbsValueModel with the same weights, and a nonzero bias."""
    return biased_twins(student, reference, "AbsValueModel", n_instances, n_features, d_hidden)


_forward = partial(call_student, diagnosis=_SIZE_DIAGNOSIS)  # model(x): a crash becomes a failed check


def _variants(W1, W2, b, x):
    """What common mistakes compute. W1: (inst, h, f), W2: (inst, f, h), b: (inst, f), x: (..., inst, f)."""
    pre = torch.einsum("ihf,...if->...ih", W1, x)
    h = F.relu(pre)
    up = lambda W, h: torch.einsum("ifh,...ih->...if", W, h)  # noqa: E731
    W1t = W1.transpose(1, 2)  # (inst, f, h): the way back up with W1ᵀ, as in the ToyModel
    return {
        "You left out the hidden ReLU: h = ReLU(W1 x).": F.relu(up(W2, pre) + b),
        "You left out the output ReLU: the output is ReLU(W2 h + b_final).": up(W2, h) + b,
        "You applied the output ReLU before adding the bias: it is ReLU(W2 h + b), not ReLU(W2 h) + b.": F.relu(
            up(W2, h)
        )
        + b,
        "You left out the bias b_final.": F.relu(up(W2, h)),
        "You went back up with W1ᵀ (tied weights, as in the ToyModel): this model has its own output matrix, W2.": (
            F.relu(up(W1t, h) + b)
        ),
    }


def test_shape(student, reference):
    """Output has shape (batch, instances, features)"""
    stu, _ = _models(student, reference)
    check_output_shape(_forward(stu, torch.randn(4, 3, 5)), (4, 3, 5),
                       "The output has the input's shape: W1 maps features to neurons, W2 maps neurons back to features.")


def test_matches_reference(student, reference):
    """Output matches the reference on a random signed batch (5 features, 4 neurons, 3 instances)"""
    stu, ref = _models(student, reference)
    x = 2 * torch.rand(8, 3, 5) - 1
    check_forward_matches(stu, ref, _forward, x, lambda: _variants(ref.W1, ref.W2, ref.b_final, x))


def test_square_weights(student, reference):
    """Uses W2 the right way round (tested with as many neurons as features and a non-symmetric W2)"""
    stu, ref = _models(student, reference, n_instances=2, n_features=3, d_hidden=3)
    with torch.no_grad():
        W2 = torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0], [0.5, 0.0, 1.0]]).expand(2, 3, 3).clone()
        ref.W2.copy_(W2)
        stu.W2.copy_(W2)
        x = 2 * torch.rand(6, 2, 3) - 1
        expected = ref(x)
        actual = _forward(stu, x)
        h = F.relu(torch.einsum("ihf,...if->...ih", ref.W1, x))
        wrong = F.relu(torch.einsum("ihf,...ih->...if", W2, h) + ref.b_final)  # contracted W2's first dim
    assert_close(
        actual,
        expected,
        name="forward(x)",
        mistakes={
            "You contracted W2's first dimension: W2 is (inst, feats, d_hidden), and W2 h sums over d_hidden, its "
            "last dimension (\"... inst d_hidden, inst feats d_hidden -> ... inst feats\").": wrong,
        },
    )


def test_computes_abs(student):
    """Hand-wired example: one feature, neurons ReLU(x) and ReLU(-x), computes |x|"""
    model = student.AbsValueModel(n_instances=1, n_features=1, d_hidden=2)
    with torch.no_grad():
        model.W1.copy_(torch.tensor([[[1.0], [-1.0]]]))  # (inst 1, d_hidden 2, feats 1)
        model.W2.copy_(torch.tensor([[[1.0, 1.0]]]))  # (inst 1, feats 1, d_hidden 2)
        model.b_final.zero_()
    x = torch.linspace(-1, 1, 9).reshape(9, 1, 1)
    with torch.no_grad():
        out = _forward(model, x)
    assert_close(
        out,
        x.abs(),
        name="forward(x) for x = -1, -0.75, ..., 1",
        mistakes={
            "Without the hidden ReLU the two neurons cancel out (x + (-x) = 0): h = ReLU(W1 x).": torch.zeros(9, 1, 1),
        },
    )


def test_leading_dims(student, reference):
    """Works for any leading dimensions: no batch, or two batch dimensions"""
    stu, ref = _models(student, reference)
    check_leading_dims(stu, ref, _forward, torch.randn(4, 3, 5), lambda shape: 2 * torch.rand(shape) - 1,
                       "Your forward assumes exactly one batch dimension. Use `...` in your einsum patterns so any "
                       "leading dimensions pass through.")


def test_gradients(student, reference):
    """Gradients flow back to W1, W2 and b_final"""
    stu, _ = _models(student, reference)
    with torch.no_grad():
        stu.b_final.fill_(0.5)  # every output on, so every parameter gets a gradient
    check_gradients(_forward(stu, 2 * torch.rand(16, 3, 5) - 1), stu, ["W1", "W2", "b_final"],
                    "Don't use `.detach()`, `.data`, `.numpy()` or `torch.no_grad()` in forward.",
                    "Use self.{name} in forward: h = ReLU(W1 x), out = ReLU(W2 h + b_final).")
