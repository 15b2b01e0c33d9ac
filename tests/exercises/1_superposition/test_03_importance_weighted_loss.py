"""Hidden test for exercise 03: the importance-weighted loss, one value per instance.

loss[k] = mean over batch of Σ_features importance[k, i] * (batch[b, k, i] - out[b, k, i])²
"""

import torch

from arena_cli.testing import assert_close, check, seed
from arena_course.superposition.testing import check_loss_gradient, check_loss_shape


def _inputs(n_batch=6, n_instances=3, n_features=4):
    seed(0)
    batch = torch.rand(n_batch, n_instances, n_features)
    out = torch.rand(n_batch, n_instances, n_features)
    importance = 0.5 + torch.rand(n_instances, n_features)  # all different, none equal to 1
    return out, batch, importance


def _mistakes(out, batch, importance):
    """What common mistakes compute, for the diagnoses."""
    diff = batch - out
    sq = diff**2
    return {
        "You left out the importance: weight each feature's squared error by importance[k, i].": sq.sum(-1).mean(0),
        "You summed over the batch: take the mean over the batch (an estimate of the expectation over x).": (
            importance * sq
        ).sum(-1).sum(0),
        "You averaged over features: the paper sums over features (Σ_i), and averages only over the batch.": (
            importance * sq
        ).mean(-1).mean(0),
        "You didn't square the error: use (batch - out) ** 2.": (importance * diff.abs()).sum(-1).mean(0),
        "You didn't square the error (and it is signed): use (batch - out) ** 2.": (importance * diff).sum(-1).mean(0),
        "You didn't square the error (and it is signed, out - batch): use (batch - out) ** 2.": -(
            importance * diff
        ).sum(-1).mean(0),
        "You squared the importance too: it is importance * (batch - out)², not (importance * (batch - out))².": (
            (importance * diff) ** 2
        ).sum(-1).mean(0),
        "You took a square root: this is the mean squared error, not its root.": (importance * sq)
        .sum(-1)
        .mean(0)
        .sqrt(),
    }


def test_shape(student):
    """Returns one loss per instance, shape (instances,)"""
    out, batch, importance = _inputs()
    loss = student.importance_weighted_loss(out, batch, importance)
    check(
        isinstance(loss, torch.Tensor),
        f"importance_weighted_loss returned {type(loss).__name__}, not a Tensor",
        diagnosis="Did you forget a `return`?" if loss is None else "",
    )
    check_loss_shape(tuple(loss.shape), {
        (): "You reduced over the instances too: keep one loss per instance (the training loop sums them).",
        (6, 3): "You kept the batch dimension: take the mean over the batch.",
        (3, 4): "You kept the feature dimension: sum over the features.",
    })


def test_matches_reference(student, reference):
    """Matches the reference on a random batch"""
    out, batch, importance = _inputs()
    expected = reference.importance_weighted_loss(out, batch, importance)
    actual = student.importance_weighted_loss(out.clone(), batch.clone(), importance.clone())
    assert_close(actual, expected, name="loss", mistakes=_mistakes(out, batch, importance))


def test_hand_computed(student):
    """Hand-computed example: 1 instance, 2 features, batch of 2"""
    batch = torch.tensor([[[1.0, 0.0]], [[0.5, 0.5]]])  # (batch 2, inst 1, feats 2)
    out = torch.tensor([[[0.0, 0.0]], [[0.5, 0.0]]])
    importance = torch.tensor([[2.0, 1.0]])
    # example 0: 2 * (1 - 0)² + 1 * (0 - 0)² = 2
    # example 1: 2 * (0.5 - 0.5)² + 1 * (0.5 - 0)² = 0.25
    # mean over the batch: (2 + 0.25) / 2 = 1.125
    loss = student.importance_weighted_loss(out, batch, importance)
    assert_close(loss, torch.tensor([1.125]), name="loss", mistakes=_mistakes(out, batch, importance))


def test_zero_when_perfect(student):
    """Zero when the output equals the input"""
    _, batch, importance = _inputs()
    loss = student.importance_weighted_loss(batch.clone(), batch, importance)
    assert_close(loss, torch.zeros(3), name="loss for a perfect reconstruction")


def test_unimportant_features_ignored(student):
    """A feature with importance 0 does not count"""
    out, batch, importance = _inputs()
    importance[:, 2] = 0.0
    changed = out.clone()
    changed[:, :, 2] += 10.0  # a huge error, but only on the unimportant feature
    before = student.importance_weighted_loss(out, batch, importance)
    after = student.importance_weighted_loss(changed, batch, importance)
    assert_close(
        after,
        before,
        name="loss after changing only feature 2 (importance 0)",
        diagnosis="Multiply each feature's squared error by its importance, so features with importance 0 "
        "contribute nothing.",
    )


def test_gradients(student):
    """Gradients flow back to the model's output"""
    out, batch, importance = _inputs()
    check_loss_gradient(student.importance_weighted_loss, out, batch, importance, batch,
                        "Don't use `.detach()`, `.item()`, `.numpy()` or `torch.no_grad()`: training needs the "
                        "gradient of the loss with respect to the model's output.")
