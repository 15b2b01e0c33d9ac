"""Given code for chapter 1, "Toy models of superposition": the training loop and the plots.

The exercises write the pieces (the model's forward pass, the sparse batches, the loss); this module
puts them together the way Elhage et al. 2022 do, so that a section's result runs the student's own
code. Nothing here is an exercise: read it to see how the pieces are used.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch
from jaxtyping import Float
from torch import Tensor, nn

# What the exercises provide, as the training loop uses them.
BatchFn = Callable[[int, Float[Tensor, "inst feats"]], Float[Tensor, "batch inst feats"]]
LossFn = Callable[
    [Float[Tensor, "batch inst feats"], Float[Tensor, "batch inst feats"], Float[Tensor, "inst feats"]],
    Float[Tensor, "inst"],
]


def lr_schedule(step: int, steps: int, warmup: int) -> float:
    """Learning-rate multiplier: linear warm-up over `warmup` steps, then cosine decay to 0.05."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def train_toy_model(
    model: nn.Module,
    generate_batch: BatchFn,
    loss_fn: LossFn,
    *,
    steps: int = 4_000,
    batch_size: int = 1024,
    lr: float = 2e-2,
    warmup: int = 1000,
    progress: bool = True,
) -> list[float]:
    """Train a ToyModel's instances in place on fresh sparse batches; return the loss every step.

    Each step samples a new batch with the model's own `feature_probability`, reconstructs it, and
    takes an Adam step on the sum over instances of the importance-weighted loss (summing keeps the
    instances independent: each gets the gradient of its own loss).

    Args:
        model: a ToyModel (exercise 1): called on (batch, inst, feats), with buffers
            `feature_probability` and `importance` of shape (inst, feats).
        generate_batch: exercise 2's function, (batch_size, feature_probability) -> batch.
        loss_fn: exercise 3's function, (out, batch, importance) -> loss per instance.
        steps: optimisation steps.
        batch_size: examples per step. Sparse instances need large batches to see each feature at
            all: at p = 1/400 a batch of 1024 holds about 2.5 examples of each feature.
        lr: peak Adam learning rate, reached after `warmup` steps, then cosine-decayed. (Higher than
            the usual 1e-3 so that training takes seconds; tuned together with the warm-up.)
        warmup: linear warm-up steps. A long warm-up matters here: big early steps from the random
            init can kill a feature for good (its column of W shrinks to 0 and its bias goes
            negative, so its ReLU never fires again), leaving a square of 4 features where the
            pentagon should be.
        progress: show a progress bar (rich) in the terminal.

    Returns:
        The total loss (summed over instances) at every step.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_schedule(s, steps, warmup))
    losses: list[float] = []

    # The tensors are tiny (batch x inst x 5): one CPU thread is fastest. Several threads gain nothing
    # and, on a busy machine, waiting for each other can make training several times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with _progress_bar(progress, steps) as advance:
            for step in range(steps):
                with torch.no_grad():  # the data needs no gradient
                    batch = generate_batch(batch_size, model.feature_probability)
                out = model(batch)
                loss = loss_fn(out, batch, model.importance).sum()

                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()

                losses.append(loss.item())
                advance(step, losses[-1])
    finally:
        torch.set_num_threads(threads)
    return losses


class _progress_bar:
    """A rich progress bar as a context manager yielding `advance(step, loss)`; a no-op if disabled."""

    def __init__(self, enabled: bool, steps: int, every: int = 50):
        self.enabled, self.steps, self.every = enabled, steps, every

    def __enter__(self) -> Callable[[int, float], None]:
        if not self.enabled:
            return lambda step, loss: None
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("training"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} steps"),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        self.bar.__enter__()
        task = self.bar.add_task("train", total=self.steps, loss=float("nan"))

        def advance(step: int, loss: float) -> None:
            # Redrawing every step would cost more than the step itself: update every `every` steps.
            if (step + 1) % self.every == 0 or step + 1 == self.steps:
                self.bar.update(task, completed=step + 1, loss=loss)

        return advance

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.bar.__exit__(*exc)


def plot_feature_directions(
    W: Float[Tensor, "inst d_hidden=2 feats"],
    feature_probability: Float[Tensor, "inst"],
    importance: Float[Tensor, "feats"],
    path: Path,
) -> Path:
    """Draw each instance's feature directions (the columns of W) in 2D, one panel per instance.

    Args:
        W: a trained ToyModel's W with d_hidden = 2.
        feature_probability: one probability per instance, for the panel titles (sparsity S = 1 - p).
        importance: one importance per feature, for the legend.
        path: where to write the PNG; folders are created.

    Returns:
        `path`.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt

    W = W.detach().cpu()
    n_instances, d_hidden, n_features = W.shape
    if d_hidden != 2:
        raise ValueError(f"can only draw 2D feature directions, got d_hidden = {d_hidden}")
    importance = importance.detach().cpu().flatten()
    feature_probability = feature_probability.detach().cpu().flatten()

    # One colour per feature, the same in every panel; the legend gives each feature's importance.
    colors = [plt.cm.tab10(i % 10) for i in range(n_features)]

    fig, axes = plt.subplots(1, n_instances, figsize=(2.2 * n_instances, 3.1), squeeze=False)
    for k, ax in enumerate(axes[0]):
        for i in range(n_features):
            x, y = float(W[k, 0, i]), float(W[k, 1, i])
            ax.plot([0, x], [0, y], color=colors[i], lw=1.5)  # the direction as a line from 0 ...
            ax.scatter([x], [y], color=colors[i], s=25, zorder=3, label=f"feature {i}: I = {importance[i]:.2f}")
        p = float(feature_probability[k])
        ax.set_title(f"S = {1 - p:.3f}\n(p = {p:.3g})", fontsize=9)
        ax.set_xlim(-1.5, 1.5)
        ax.set_ylim(-1.5, 1.5)
        ax.set_aspect("equal")
        ax.axhline(0, color="0.85", lw=0.6, zorder=0)
        ax.axvline(0, color="0.85", lw=0.6, zorder=0)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"{n_features} features in {d_hidden} dimensions: the columns of W, from dense (left) to sparse (right)",
        fontsize=11,
    )
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=n_features, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
