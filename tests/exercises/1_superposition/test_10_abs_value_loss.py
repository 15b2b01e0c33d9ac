"""Hidden test for exercise 10: abs_value_loss, the importance-weighted squared error against |x|.

loss[k] = mean over batch of Σ_features importance[k, i] * (|batch[b, k, i]| - out[b, k, i])²
"""

from functools import partial

import torch

from arena_cli.testing import assert_close, call_student, seed
from arena_course.superposition.testing import check_loss_gradient, check_loss_shape
from arena_course.testing import check_tensor


def _inputs(n_batch=6, n_instances=3, n_features=4):
    seed(0)
    batch = 2 * torch.rand(n_batch, n_instances, n_features) - 1  # signed
    out = torch.rand(n_batch, n_instances, n_features) - 0.25  # some negative, so |out| differs from out
    importance = 0.5 + torch.rand(n_instances, n_features)
    return out, batch, importance


def _mistakes(out, batch, importance):
    """What common mistakes compute, for the diagnoses."""
    target = batch.abs()
    sq = (target - out) ** 2
    return {
        "You compared the output with x itself: the target is |x| (batch.abs()).": (importance * (batch - out) ** 2)
        .sum(-1)
        .mean(0),
        "You took the absolute value of the output instead of the input: the target is |batch|.": (
            importance * (batch - out.abs()) ** 2
        )
        .sum(-1)
        .mean(0),
        "You took |batch - out|, not the error against |batch|: (batch.abs() - out) ** 2.": (
            importance * (batch - out).abs()
        )
        .sum(-1)
        .mean(0),
        "You left out the importance.": sq.sum(-1).mean(0),
        "You summed over the batch: take the mean over the batch.": (importance * sq).sum(-1).sum(0),
        "You averaged over features: sum over features (Σ_i) and average only over the batch.": (importance * sq)
        .mean(-1)
        .mean(0),
        "You didn't square the error.": (importance * (target - out).abs()).sum(-1).mean(0),
    }


def _loss(student, out, batch, importance):
    loss = call_student(student.abs_value_loss, out.clone(), batch.clone(), importance.clone())
    return check_tensor(loss, "abs_value_loss", "not a Tensor")


def test_shape(student):
    """Returns one loss per instance, shape (instances,)"""
    out, batch, importance = _inputs()
    check_loss_shape(tuple(_loss(student, out, batch, importance).shape), {
        (): "You reduced over the instances too: keep one loss per instance.",
        (6, 3): "You kept the batch dimension: take the mean over the batch.",
        (3, 4): "You kept the feature dimension: sum over the features.",
    })


def test_matches_reference(student, reference):
    """Matches the reference on a random signed batch"""
    out, batch, importance = _inputs()
    expected = reference.abs_value_loss(out.clone(), batch.clone(), importance.clone())
    assert_close(
        _loss(student, out, batch, importance), expected, name="loss", mistakes=_mistakes(out, batch, importance)
    )


def test_hand_computed(student):
    """Hand-computed example: 1 instance, 2 features, batch of 2"""
    batch = torch.tensor([[[-1.0, 0.0]], [[0.5, -0.5]]])  # (batch 2, inst 1, feats 2)
    out = torch.tensor([[[0.0, 0.0]], [[0.5, 0.0]]])
    importance = torch.tensor([[2.0, 1.0]])
    # example 0: 2 * (|-1| - 0)² + 1 * (0 - 0)² = 2
    # example 1: 2 * (0.5 - 0.5)² + 1 * (|-0.5| - 0)² = 0.25
    # mean over the batch: 1.125
    assert_close(
        _loss(student, out, batch, importance),
        torch.tensor([1.125]),
        name="loss",
        mistakes=_mistakes(out, batch, importance),
    )


def test_zero_at_abs(student):
    """Zero when the output is exactly |x|"""
    _, batch, importance = _inputs()
    assert_close(
        _loss(student, batch.abs(), batch, importance),
        torch.zeros(3),
        name="loss when out = |batch|",
        diagnosis="The target is the absolute value of the input: compare out with batch.abs().",
    )


def test_sign_invariant(student):
    """Flipping the signs of the input does not change the loss"""
    out, batch, importance = _inputs()
    assert_close(
        _loss(student, out, -batch, importance),
        _loss(student, out, batch, importance),
        name="loss for -batch vs batch",
        diagnosis="The target |x| is the same for x and -x: take the absolute value of the input.",
    )


def test_gradients(student):
    """Gradients flow back to the model's output"""
    out, batch, importance = _inputs()
    check_loss_gradient(partial(call_student, student.abs_value_loss), out, batch, importance, batch.abs(),
                        "Don't use `.detach()`, `.item()`, `.numpy()` or `torch.no_grad()`.")
