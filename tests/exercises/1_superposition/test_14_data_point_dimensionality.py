"""Hidden test for exercise 14: data_point_dimensionality, the dimensionality of the hidden vectors W x_t."""

import torch

from arena_cli.testing import assert_close, call_student, check, seed
from arena_course.testing import check_tensor

_CRASH = ("W is (inst, d_hidden, feats) and the set (examples, inst, feats): contract the features, keep the "
          "instance, and put the examples last: (inst, d_hidden, examples).")


def _call(student, W, train_set):
    D = call_student(student.data_point_dimensionality, W.clone(), train_set.clone(), diagnosis=_CRASH)
    return check_tensor(D, "data_point_dimensionality", "not a Tensor")


def _mistakes(reference, W, train_set):
    """What common mistakes compute, for the diagnoses."""
    dim = reference.dimensionality
    return {
        "You returned the features' dimensionality (the columns of W): this exercise measures the training "
        "examples, the columns of H = W x.": dim(W),
        "You used the raw examples x_t (in feature space) instead of their hidden vectors h_t = W x_t.": dim(
            train_set.permute(1, 2, 0)),
        "You mixed the instances: example t of instance k must be multiplied by instance k's own W[k].": dim(
            torch.einsum("kdf,tjf->kdt", W, train_set) / W.shape[0]),
    }


def test_shape(student):
    """Returns one dimensionality per instance and example, shape (instances, examples)"""
    seed(0)
    D = _call(student, torch.randn(3, 2, 8), torch.rand(5, 3, 8))
    check(tuple(D.shape) == (3, 5), f"got shape {tuple(D.shape)}, expected (3, 5): (instances, examples)",
          diagnosis="One value per feature (8 here): you measured the columns of W. This exercise measures the "
          "training examples: the columns of H = W x, one per example." if tuple(D.shape) == (3, 8) else
          "One value per training example: lay the hidden vectors out as columns, (inst, d_hidden, "
          "examples), and apply `dimensionality`; it reduces over d_hidden.")


def test_matches_reference(student, reference):
    """Matches the reference on a random W and set (3 instances, 2 dimensions, 8 features, 5 examples)"""
    seed(0)
    W, train_set = torch.randn(3, 2, 8), torch.rand(5, 3, 8)
    expected = reference.data_point_dimensionality(W.clone(), train_set.clone())
    assert_close(_call(student, W, train_set), expected, name="data point dimensionality",
                 mistakes=_mistakes(reference, W, train_set), atol=1e-4, rtol=1e-3)


def test_hand_computed(student, reference):
    """Hand-computed: orthogonal hidden vectors give 1, antipodal ones 1/2, an example mapped to 0 gives 0"""
    # 4 features in 2 dims: W sends features 0, 1 to +e1, -e1, feature 2 to e2, feature 3 to 0.
    W = torch.tensor([[[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]])
    train_set = torch.eye(4)[:, None, :]  # example t is feature t alone: h = W's column t
    assert_close(_call(student, W, train_set), torch.tensor([[0.5, 0.5, 1.0, 0.0]]), name="data point dimensionality",
                 mistakes=_mistakes(reference, W, train_set), atol=1e-4)
    # The same W, other examples: the answer must follow the examples, not W's columns.
    train_set = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])[:, None, :]  # h = e1, e2: orthogonal
    assert_close(_call(student, W, train_set), torch.tensor([[1.0, 1.0]]), name="data point dimensionality",
                 mistakes=_mistakes(reference, W, train_set), atol=1e-4)
