"""Hidden test for exercise 01: ToyModel.forward, x -> ReLU(WᵀWx + b) per instance."""

from functools import partial

import torch
import torch.nn.functional as F

from arena_cli.testing import assert_close, call_student
from arena_course.superposition.testing import biased_twins, check_forward_matches, check_gradients, check_leading_dims
from arena_course.superposition.testing import check_output_shape


def _models(student, reference, n_instances=3, n_features=5, d_hidden=2):
    """The student's and the reference's ToyModel with the same weights, and a nonzero bias (so that
    bias mistakes show)."""
    return biased_twins(student, reference, "ToyModel", n_instances, n_features, d_hidden)


def _forward_variants(W, b, x):
    """What common mistakes compute, for the diagnoses. W: (inst, h, f), b: (inst, f), x: (..., inst, f)."""
    WtW = torch.einsum("ihf,ihg->ifg", W, W)  # (inst, f, f): WᵀW, symmetric
    pre = torch.einsum("ifg,...ig->...if", WtW, x)
    pre0 = torch.einsum("fg,...ig->...if", WtW[0], x)  # instance 0's weights for every instance
    return {
        "You left out the ReLU: the output is ReLU(WᵀWx + b), not WᵀWx + b.": pre + b,
        "You applied the ReLU before adding the bias: it is ReLU(WᵀWx + b), not ReLU(WᵀWx) + b.": F.relu(pre) + b,
        "You left out the bias b_final.": F.relu(pre),
        "Every instance used instance 0's weights: index W by the instance (keep `inst` in your einsum).": F.relu(pre0 + b),
    }


_SIZE_DIAGNOSIS = (
    "A size mismatch in a product usually means it sums over the wrong dimension. W has shape "
    "(inst, d_hidden, feats): h = W x sums over `feats`, and Wᵀ h sums over `d_hidden`. Write both "
    "products with einops.einsum and named dimensions, keeping `inst` and `...` in the output."
)


_forward = partial(call_student, diagnosis=_SIZE_DIAGNOSIS)  # model(x): a crash becomes a failed check


def test_shape(student, reference):
    """Output has shape (batch, instances, features)"""
    stu, _ = _models(student, reference)
    check_output_shape(_forward(stu, torch.rand(4, 3, 5)), (4, 3, 5),
                       "The output has the input's shape: W maps features to d_hidden, Wᵀ maps back to features. "
                       "Keep the `inst` dimension in both products.")


def test_matches_reference(student, reference):
    """Output matches the reference on a random batch (5 features, 2 dimensions, 3 instances)"""
    stu, ref = _models(student, reference)
    x = torch.rand(8, 3, 5)
    check_forward_matches(stu, ref, _forward, x, lambda: _forward_variants(ref.W, ref.b_final, x))


def test_hand_computed(student):
    """Hand-computed example: 3 features in 2 dimensions, one instance"""
    model = student.ToyModel(n_instances=1, n_features=3, d_hidden=2)
    with torch.no_grad():
        # Feature 0 along e1, feature 1 along e2, feature 2 along -e1 (antipodal to feature 0).
        model.W.copy_(torch.tensor([[[1.0, 0.0, -1.0], [0.0, 1.0, 0.0]]]))
        model.b_final.copy_(torch.tensor([[0.0, -0.5, 0.1]]))
    x = torch.tensor([[[0.5, 0.8, 0.2]]])  # (batch 1, inst 1, feats 3)
    # h = W x = (0.5 - 0.2, 0.8) = (0.3, 0.8)
    # Wᵀh = (0.3, 0.8, -0.3);  + b = (0.3, 0.3, -0.2);  ReLU -> (0.3, 0.3, 0.0)
    with torch.no_grad():
        out = _forward(model, x)
    assert_close(
        out,
        torch.tensor([[[0.3, 0.3, 0.0]]]),
        name="forward(x)",
        mistakes={
            "You left out the ReLU: the output is ReLU(WᵀWx + b).": torch.tensor([[[0.3, 0.3, -0.2]]]),
            "You applied the ReLU before adding the bias: it is ReLU(WᵀWx + b).": torch.tensor([[[0.3, 0.3, 0.1]]]),
            "You left out the bias b_final.": torch.tensor([[[0.3, 0.8, 0.0]]]),
        },
    )


def test_transpose(student, reference):
    """Maps back up with Wᵀ (tested with a square, non-symmetric W)"""
    stu, ref = _models(student, reference, n_instances=2, n_features=3, d_hidden=3)
    with torch.no_grad():
        W = torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0], [0.5, 0.0, 1.0]]).expand(2, 3, 3).clone()
        ref.W.copy_(W)
        stu.W.copy_(W)
        x = torch.rand(6, 2, 3)
        b = ref.b_final
        expected = ref(x)
        actual = _forward(stu, x)
    WW = torch.einsum("ihf,ifg->ihg", W, W)  # W W: used W where Wᵀ belongs
    WWt = torch.einsum("ihf,igf->ihg", W, W)  # W Wᵀ: transposed the wrong one
    WtWt = torch.einsum("ifh,igf->ihg", W, W)  # Wᵀ Wᵀ: transposed both
    assert_close(
        actual,
        expected,
        name="forward(x)",
        mistakes={
            "You computed ReLU(W W x + b): going back up uses the transpose, ReLU(Wᵀ (W x) + b). In an "
            "einsum, contract over d_hidden the second time.": F.relu(torch.einsum("igf,...if->...ig", WW, x) + b),
            "You computed ReLU(W Wᵀ x + b): the input is first multiplied by W (contract over features), "
            "then by Wᵀ (contract over d_hidden).": F.relu(torch.einsum("igf,...if->...ig", WWt, x) + b),
            "You computed ReLU(Wᵀ Wᵀ x + b): the first product is W x, which sums over W's last dimension "
            "(feats), not its middle one.": F.relu(torch.einsum("igf,...if->...ig", WtWt, x) + b),
        },
    )


def test_leading_dims(student, reference):
    """Works for any leading dimensions: no batch, or two batch dimensions"""
    stu, ref = _models(student, reference)
    check_leading_dims(stu, ref, _forward, torch.rand(4, 3, 5), torch.rand,
                       "Your forward assumes exactly one batch dimension. Use `...` in your einsum pattern (\"... "
                       "inst feats, inst d_hidden feats -> ... inst d_hidden\") so any leading dimensions pass through.")


def test_gradients(student, reference):
    """Gradients flow back to W and b_final"""
    stu, _ = _models(student, reference)
    check_gradients(_forward(stu, torch.rand(4, 3, 5)), stu, ["W", "b_final"],
                    "Don't use `.detach()`, `.data`, `.numpy()` or `torch.no_grad()` in forward: training needs the "
                    "gradient with respect to W and b_final.",
                    "Use self.{name} itself in forward (not a copy), so gradients reach it.")
