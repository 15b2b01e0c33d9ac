"""Hidden test for exercise 13: train_on_fixed_set, full-batch AdamW with weight decay on a fixed set.

Training is deterministic once the model and the set are fixed, so the student's run is compared with the
reference's from the same weights: the losses, then the trained W and b_final. The diagnoses rerun the
reference loop with one common mistake each.
"""

import torch

from arena_cli.testing import assert_close, call_student, check, load_reference, seed
from arena_course.superposition.toy_models import lr_schedule

STEPS, LR, WD, WARMUP = 30, 5e-2, 0.5, 5  # a large decay, so that forgetting it shows


def _setting():
    """A fresh ToyModel (3 instances, 12 features, 2 dims, seeded) and a fixed set of 6 examples."""
    toy = load_reference(__file__, "toy_model_forward")
    seed(0)
    model = toy.ToyModel(3, 12, 2)
    train_set = load_reference(__file__, "fixed_training_set").fixed_training_set(6, torch.full((3, 12), 0.3))
    return model, train_set


def _loss_fn():
    return load_reference(__file__, "importance_weighted_loss").importance_weighted_loss


def _variant(*, optimizer="adamw", weight_decay=WD, schedule=True, minibatch=False):
    """The reference loop with one mistake: (losses, W, b_final)."""
    model, train_set = _setting()
    loss_fn = _loss_fn()
    opt_cls = torch.optim.AdamW if optimizer == "adamw" else torch.optim.Adam
    opt = opt_cls(model.parameters(), lr=LR, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_schedule(s, STEPS, WARMUP) if schedule else 1.0)
    losses = []
    for step in range(STEPS):
        batch = train_set[step % len(train_set)][None] if minibatch else train_set
        loss = loss_fn(model(batch), batch, model.importance).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses, model.W.detach(), model.b_final.detach()


def _mistakes(index: int) -> dict:
    return {
        "You used torch.optim.Adam(..., weight_decay=...): Adam adds the decay to the gradient, AdamW applies it "
        "directly to the weights (decoupled). Use torch.optim.AdamW.": _variant(optimizer="adam")[index],
        "No weight decay: pass weight_decay to AdamW.": _variant(weight_decay=0.0)[index],
        "The learning rate is constant: wrap the optimizer in LambdaLR with lr_schedule(s, steps, warmup), and call "
        "scheduler.step() after each optimizer.step().": _variant(schedule=False)[index],
        "You trained on one example at a time: every step uses the whole training set.": _variant(minibatch=True)[index],
    }


def _run(student):
    model, train_set = _setting()
    losses = call_student(student.train_on_fixed_set, model, train_set, _loss_fn(), steps=STEPS, lr=LR,
                          weight_decay=WD, warmup=WARMUP)
    return losses, model


def test_returns_losses(student):
    """Returns one loss per step, and the loss falls"""
    losses, _ = _run(student)
    check(isinstance(losses, list | tuple) and len(losses) == STEPS,
          f"expected a list of {STEPS} losses, got {type(losses).__name__}"
          + (f" of length {len(losses)}" if hasattr(losses, "__len__") else ""),
          diagnosis="Append the loss (loss.item(), a float) once per step and return the list.")
    check(all(isinstance(v, float) for v in losses), "the losses are not all floats",
          diagnosis="Append loss.item(), a Python float, not the tensor itself.")
    check(losses[-1] < losses[0], f"the loss did not fall: {losses[0]:.4f} -> {losses[-1]:.4f}",
          diagnosis="Call optimizer.zero_grad(), loss.backward() and optimizer.step() every step.")


def test_losses_match_reference(student):
    """The losses match the reference's, step by step (same model, same set)"""
    losses, _ = _run(student)
    expected = _variant()[0]
    assert_close(torch.tensor(losses), torch.tensor(expected), name="losses",
                 mistakes={k: torch.tensor(v) for k, v in _mistakes(0).items()}, atol=1e-4, rtol=1e-4)


def test_trained_weights_match_reference(student):
    """The trained W and b_final match the reference's"""
    _, model = _run(student)
    _, W, b = _variant()
    assert_close(model.W.detach(), W, name="trained W", mistakes=_mistakes(1), atol=1e-4, rtol=1e-3)
    assert_close(model.b_final.detach(), b, name="trained b_final", mistakes=_mistakes(2), atol=1e-4, rtol=1e-3)
