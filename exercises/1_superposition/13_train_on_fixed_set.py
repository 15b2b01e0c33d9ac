"""Training on a fixed set: full batch, weight decay
=================================================

Difficulty: 2/5    Importance: 3/5    Time: ~10 minutes

Source: Henighan et al. 2023, "Superposition, Memorization, and Double Descent"
(https://transformer-circuits.pub/2023/toy-double-descent/index.html).

`train_toy_model` (arena_course/superposition/toy_models.py) draws a new batch at every step. With a
fixed set of T examples (exercise 12) there is nothing new to draw: every step shows the model the
**whole set** (full-batch training), the same T examples each time. This is what lets a model
memorise: it can lower the loss on exactly these T examples, whether or not that helps on any other.

The paper trains with AdamW and weight decay. Weight decay pulls every weight a little towards 0 at
each step, so a weight survives only while the loss keeps asking for it: parts of W the training set
has no use for fade away. AdamW applies the decay *decoupled* from the gradient (it shrinks the
weights directly, by lr × weight_decay × weight per step); `torch.optim.Adam(..., weight_decay=...)`
instead adds the decay to the gradient, where Adam's per-parameter scaling changes what it does.
They are different optimisers and train different models: use `torch.optim.AdamW`.

The learning rate follows the chapter's schedule, `lr_schedule(step, steps, warmup)` (imported
below: a linear warm-up, then cosine decay), as a multiplier of `lr`. PyTorch's `LambdaLR` scheduler
(in torch.optim.lr_scheduler) applies such a multiplier: it wraps the optimiser and a function from
the step number to the multiplier, and moves to the next step each time you call its own `step()`,
once per optimiser step.

Each step: the model's output on the whole set, the loss (exercise 3's function, passed in as
`loss_fn`, one value per instance, summed over the instances so that each instance gets the gradient
of its own loss), then the usual zero_grad / backward / step.

What to write: `train_on_fixed_set`. It trains the model in place and returns the summed loss before
each step (a list of `steps` floats). Given the same model and set, a correct answer ends with
exactly the weights of the reference: the run is deterministic, there is nothing random left.
"""

from collections.abc import Callable

import torch
from jaxtyping import Float
from torch import Tensor, nn

from arena_course.superposition.toy_models import lr_schedule


def train_on_fixed_set(
    model: nn.Module,
    train_set: Float[Tensor, "examples inst feats"],
    loss_fn: Callable[[Tensor, Tensor, Tensor], Float[Tensor, "inst"]],
    *,
    steps: int = 2_000,
    lr: float = 1e-2,
    weight_decay: float = 1e-2,
    warmup: int = 200,
) -> list[float]:
    """Train `model` in place on the whole of `train_set` at every step, with AdamW and weight
    decay.

    Args:
        model: a ToyModel (exercise 1), called on (examples, inst, feats), with an `importance`
            buffer.
        train_set: the fixed set (exercise 12), (n_examples, n_instances, n_features).
        loss_fn: exercise 3's loss, (out, batch, importance) -> loss per instance.
        steps: optimisation steps, each on the full set.
        lr: the peak learning rate, multiplied by `lr_schedule(step, steps, warmup)`.
        weight_decay: AdamW's decoupled weight decay.
        warmup: warm-up steps of the schedule.

    Returns:
        The loss summed over instances, before each step (`steps` floats).
    """
    raise NotImplementedError(
        "each step: loss on the whole set, AdamW step with weight decay, scheduler step"
    )


if __name__ == "__main__":
    # A quick look: 100 features in 2 dimensions, memorising 5 examples. The loss should fall to
    # about 0.
    from arena_course.loading import load_sibling

    ToyModel = load_sibling(__file__, "toy_model_forward").ToyModel
    fixed_training_set = load_sibling(__file__, "fixed_training_set").fixed_training_set
    loss_fn = load_sibling(__file__, "importance_weighted_loss").importance_weighted_loss

    torch.manual_seed(0)
    model = ToyModel(1, 100, 2)
    train_set = fixed_training_set(5, torch.full((1, 100), 0.05))
    losses = train_on_fixed_set(model, train_set, loss_fn, steps=1_000)
    print(f"loss on the 5 examples: {losses[0]:.3f} at the start, {losses[-1]:.4f} at the end")
