"""Given code for chapter 1's double-descent section (Henighan et al. 2023): the sweep over training-set
sizes and its figure.

The exercises write the pieces (a fixed training set, the full-batch training loop, the data points'
dimensionality); this module runs them for several training-set sizes T and draws what the paper draws:
the test loss against T, the dimensionalities of features and of data points against T, and the hidden
space of a small and a large set. Nothing here is an exercise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from jaxtyping import Float
from torch import Tensor

from arena_course.display import pyplot, save_figure
from arena_course.threads import one_thread


@dataclass
class SizeRun:
    """One training-set size: its instances' trained W, training set, and losses (one per instance)."""

    size: int
    W: Float[Tensor, "inst d_hidden feats"]
    train_set: Float[Tensor, "examples inst feats"]
    train_loss: Float[Tensor, "inst"]
    test_loss: Float[Tensor, "inst"]


def sweep_training_set_sizes(
    sizes: list[int],
    make_model: Callable[[], torch.nn.Module],
    fixed_training_set: Callable[[int, Tensor], Tensor],
    train_on_fixed_set: Callable[..., list[float]],
    loss_fn: Callable[[Tensor, Tensor, Tensor], Tensor],
    *,
    n_test: int = 4_000,
    progress: Callable[[str], None] | None = None,
    **train_kwargs,
) -> list[SizeRun]:
    """Train a fresh model (all its instances) on a fixed set of each size; measure train and test loss.

    Args:
        sizes: the training-set sizes T.
        make_model: a new ToyModel (every instance a separate run), e.g. seeded by the caller.
        fixed_training_set, train_on_fixed_set, loss_fn: exercises 12, 13 and 3.
        n_test: examples in each test set, drawn fresh from the same distribution (never trained on).
        progress: called with a line per size (e.g. print), or None.
        train_kwargs: passed to `train_on_fixed_set` (steps, lr, weight_decay, warmup).

    Returns:
        One SizeRun per size, in order.
    """
    runs = []
    with one_thread():  # tiny tensors: one thread is fastest, and fair to a busy machine
        for size in sizes:
            model = make_model()
            p = model.feature_probability
            train_set = fixed_training_set(size, p)
            train_on_fixed_set(model, train_set, loss_fn, **train_kwargs)
            with torch.no_grad():
                test_set = fixed_training_set(n_test, p)
                run = SizeRun(
                    size=size,
                    W=model.W.detach().clone(),
                    train_set=train_set,
                    train_loss=loss_fn(model(train_set), train_set, model.importance),
                    test_loss=loss_fn(model(test_set), test_set, model.importance),
                )
            runs.append(run)
            if progress is not None:
                progress(f"T = {size:5d}: train loss {run.train_loss.mean():.3f}, test loss {run.test_loss.mean():.3f}")
    return runs


def plot_double_descent(
    runs: list[SizeRun],
    D_features: list[Tensor],
    D_data: list[Tensor],
    shown: tuple[int, ...],
    path: Path,
    *,
    title: str = "",
) -> Path:
    """The paper's figures in one: test and train loss against T; every feature's and every data point's
    dimensionality against T; and, for the sizes in `shown`, instance 0's hidden space: the features' columns
    W_i (top row) and the training examples' hidden vectors h_t = W x_t (bottom row).

    Args:
        runs: from `sweep_training_set_sizes`.
        D_features: per run, (inst, feats), exercise 11's feature dimensionality of its W.
        D_data: per run, (inst, examples), exercise 14's data point dimensionality.
        shown: training-set sizes (from `runs`) whose hidden space to draw.
        path: where to write the PNG; folders are created.
        title: a line to add to the title.

    Returns:
        `path`.
    """
    plt = pyplot()
    by_size = {run.size: run for run in runs}
    sizes = [run.size for run in runs]

    fig = plt.figure(figsize=(4.2 * max(3, len(shown)), 10.5))
    grid = fig.add_gridspec(3, 2 * len(shown), height_ratios=[1.25, 1, 1], hspace=0.45, wspace=0.5)

    # Losses: one dot per instance, the line through the means. Zero output gives loss 1 (unit-norm examples).
    ax = fig.add_subplot(grid[0, : len(shown)])
    for name, color, values in (("test", "tab:red", [r.test_loss for r in runs]),
                                ("train", "tab:blue", [r.train_loss for r in runs])):
        for size, v in zip(sizes, values):
            ax.scatter([size] * len(v), v.cpu().numpy(), color=color, s=10, alpha=0.4, lw=0)
        ax.plot(sizes, [float(v.mean()) for v in values], color=color, marker="o", ms=4, label=f"{name} loss (mean)")
    ax.axhline(1.0, color="0.5", ls="--", lw=0.8, label="output 0 (loss 1)")
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("training-set size T")
    ax.set_ylabel("loss (per example)")
    ax.legend(fontsize=8)
    ax.set_title("Loss against the training-set size", fontsize=10)

    # Dimensionalities: every feature (blue) and every data point (red) of every instance.
    ax = fig.add_subplot(grid[0, len(shown):])
    generator = torch.Generator().manual_seed(0)
    for D_list, color, label in ((D_features, "tab:blue", "features $D_i$"), (D_data, "tab:red", "data points $D_t$")):
        for i, (size, D) in enumerate(zip(sizes, D_list)):
            D = D.detach().cpu().flatten()
            D = D[D > 0.01]
            jitter = torch.exp(0.06 * torch.randn(len(D), generator=generator))
            ax.scatter((size * jitter).numpy(), D.numpy(), color=color, s=9, alpha=0.4, lw=0, label=label if i == 0 else None)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("training-set size T")
    ax.set_ylabel("dimensionality (above 0.01)")
    ax.legend(fontsize=8)
    ax.set_title("Who gets the dimensions: data points (small T) or features (large T)", fontsize=10)

    # The hidden space of chosen sizes: features (columns of W) and data points (hidden vectors), instance 0.
    for c, size in enumerate(shown):
        run = by_size[size]
        W = run.W[0].cpu()
        H = (W @ run.train_set[:, 0, :].T.cpu())  # (d_hidden, examples)
        for r, (vectors, color, what) in enumerate(((W, "tab:blue", "features $W_i$"),
                                                     (H, "tab:red", "data points $h_t = W x_t$"))):
            ax = fig.add_subplot(grid[1 + r, 2 * c: 2 * c + 2])
            lim = 1.15 * max(float(vectors.norm(dim=0).max()), 1e-3)
            for x, y in vectors.T.tolist():
                ax.plot([0, x], [0, y], color=color, lw=1, alpha=0.7)
            ax.scatter(vectors[0].numpy(), vectors[1].numpy(), color=color, s=8, zorder=3)
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"T = {size}: {what}\n(test loss {float(run.test_loss[0]):.2f}; axes to ±{lim:.2g})", fontsize=9)

    fig.suptitle("Double descent in the toy model" + (f": {title}" if title else ""), fontsize=12)
    return save_figure(fig, path)
