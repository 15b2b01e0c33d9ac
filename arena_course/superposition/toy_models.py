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

from arena_course.display import ProgressBar, pyplot, save_figure
from arena_course.threads import one_thread

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
    with one_thread():
        with ProgressBar(progress, steps) as advance:
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
    return losses


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
    plt = pyplot()  # files only, no window
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
    return save_figure(fig, path)


# --------------------------------------------------------------------------- section 1: 20 features in 5 dimensions


def plot_feature_norms(
    norms: Float[Tensor, "inst feats"],
    interference: Float[Tensor, "inst feats"],
    feature_probability: Float[Tensor, "inst"],
    path: Path,
    *,
    d_hidden: int | None = None,
) -> Path:
    """The paper's "n = 20, m = 5" figure: per instance, a bar per feature (its norm ‖W_i‖), coloured
    by how much the other features interfere with it, Σ_{j≠i} (Ŵ_i · W_j)².

    Args:
        norms, interference: (n_instances, n_features), from exercise 6.
        feature_probability: one probability per instance (sparsity S = 1 - p), for the panel titles.
        path: where to write the PNG; folders are created.
        d_hidden: the hidden dimension, for the title (optional).

    Returns:
        `path`.
    """
    plt = pyplot()
    from matplotlib.colors import Normalize

    norms, interference = norms.detach().cpu(), interference.detach().cpu()
    feature_probability = feature_probability.detach().cpu().flatten()
    n_instances, n_features = norms.shape

    # One colour scale for every panel: dark = alone in its direction, bright = in superposition.
    # (A dropped feature's interference is not meaningful, and its bar is invisible anyway.)
    represented = norms > 0.5
    vmax = float(interference[represented].max()) if represented.any() else 1.0
    cmap, norm = plt.cm.viridis, Normalize(0.0, max(vmax, 1e-3))

    fig, axes = plt.subplots(1, n_instances, figsize=(1.9 * n_instances + 1.2, 4.8), sharey=True, squeeze=False)
    fig.subplots_adjust(left=0.07, right=0.88, top=0.82, bottom=0.12, wspace=0.12)
    y = torch.arange(n_features).numpy()
    for k, ax in enumerate(axes[0]):
        ax.barh(y, norms[k].numpy(), color=cmap(norm(interference[k].numpy())), height=0.8)
        ax.set_xlim(0, max(1.3, float(norms.max()) * 1.05))
        ax.axvline(1.0, color="0.8", lw=0.6, zorder=0)
        p = float(feature_probability[k])
        ax.set_title(f"S = {1 - p:.3g}\n{int(represented[k].sum())} features kept", fontsize=9)
        ax.set_xlabel(r"$\|W_i\|$", fontsize=9)
    axes[0, 0].set_yticks(y[::2] if n_features > 20 else y)
    axes[0, 0].set_ylabel("feature i (importance decreasing downwards)", fontsize=9)
    axes[0, 0].invert_yaxis()  # feature 0 (the most important) at the top
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    cbar = fig.colorbar(sm, cax=fig.add_axes((0.9, 0.12, 0.015, 0.7)))
    cbar.set_label(r"interference $\sum_{j \neq i} (\hat{W}_i \cdot W_j)^2$  (superposition)", fontsize=9)
    dims = f" in {d_hidden} dimensions" if d_hidden else ""
    fig.suptitle(
        f"{n_features} features{dims}: feature norms, coloured by superposition, from dense (left) to sparse (right)",
        fontsize=11,
    )
    return save_figure(fig, path)


def plot_pair_directions(
    rows: dict[str, tuple[Float[Tensor, "inst 2 feats"], Float[Tensor, "inst"]]],
    path: Path,
) -> Path:
    """Feature directions of models trained on paired features, coloured by pair.

    Args:
        rows: one row of panels per entry, title -> (W, feature_probability): W of shape
            (n_instances, 2, n_features) (pairs are features (2k, 2k + 1)), one probability per instance.
            Each row may have its own number of instances and probabilities.
        path: where to write the PNG; folders are created.

    Returns:
        `path`. Each panel shows the columns of W as lines from 0 (a pair's first feature solid, its
        second dashed, one colour per pair) and its title gives the cosine between the two features of
        each pair: about 0 for orthogonal, -1 for antipodal, 1 for the same direction.
    """
    plt = pyplot()

    n_cols = max(W.shape[0] for W, _ in rows.values())
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(2.4 * n_cols, 2.9 * len(rows) + 0.6), squeeze=False)
    for r, (title, (W, p)) in enumerate(rows.items()):
        W, p = W.detach().cpu(), p.detach().cpu().flatten()
        n_pairs = W.shape[-1] // 2
        for k in range(n_cols):
            ax = axes[r, k]
            ax.set_xticks([])
            ax.set_yticks([])
            if k >= W.shape[0]:
                ax.axis("off")
                continue
            cosines = []
            for pair in range(n_pairs):
                color = plt.cm.tab10(pair % 10)
                for member, style in ((0, "-"), (1, "--")):
                    i = 2 * pair + member
                    x, y = float(W[k, 0, i]), float(W[k, 1, i])
                    ax.plot([0, x], [0, y], color=color, lw=2, ls=style, marker="o", markevery=[1], ms=5,
                            label=f"pair {pair}: feature {i}")
                a, b = W[k, :, 2 * pair], W[k, :, 2 * pair + 1]
                cosines.append(float(a @ b / (a.norm() * b.norm()).clamp_min(1e-8)))
            ax.set_title(f"p = {float(p[k]):.3g}\ncos within pairs: " + ", ".join(f"{c:+.2f}" for c in cosines), fontsize=8)
            ax.set_xlim(-1.5, 1.5)
            ax.set_ylim(-1.5, 1.5)
            ax.set_aspect("equal")
            ax.axhline(0, color="0.85", lw=0.6, zorder=0)
            ax.axvline(0, color="0.85", lw=0.6, zorder=0)
        axes[r, 0].set_ylabel(title, fontsize=10)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle("Feature pairs in 2 dimensions: one colour per pair (features 2k solid, 2k + 1 dashed)", fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return save_figure(fig, path)


# --------------------------------------------------------------------------- section 2: neurons


def neuron_monosemanticity(
    W: Float[Tensor, "inst neurons feats"], nonnegative_inputs: bool = False
) -> Float[Tensor, "inst neurons"]:
    """How much of each neuron's input weight goes to its single strongest feature:
    max_i w_i² / Σ_i w_i² over the weights w = W[k, n, :] that can make the neuron fire.

    1 for a monosemantic neuron (one feature), 1/m when m features share it equally, 0 for a dead
    neuron (no such weight). With `nonnegative_inputs` (features in [0, 1], as in the neuron model) a
    negative weight can only keep the neuron off, never switch it on, so only positive weights count;
    with signed inputs (the |x| model) a weight of either sign can switch it on.
    """
    W = W.detach()
    if nonnegative_inputs:
        W = W.clamp_min(0)
    squares = W**2
    return squares.max(dim=-1).values / squares.sum(dim=-1).clamp_min(1e-12)


def plot_neuron_weights(
    rows: dict[str, tuple[Float[Tensor, "inst neurons feats"], Float[Tensor, "inst"], bool]],
    path: Path,
    *,
    threshold: float = 0.9,
) -> Path:
    """The paper's per-neuron weight plots: for each neuron, a stacked bar of the weight of every
    feature into it (positive weights stacked upwards, negative downwards), one colour per feature.

    A monosemantic neuron is a bar of a single colour; a polysemantic one is a bar of several.
    Neurons are sorted by their strongest feature, so a model with one feature per neuron draws a
    staircase of colours.

    Args:
        rows: one row of panels per model, title -> (W, feature_probability, nonnegative_inputs):
            W of shape (n_instances, n_neurons, n_features), row W[k, n, :] holding neuron n's input
            weights; one probability per instance (sparsity S = 1 - p); whether the inputs are
            non-negative (then only positive weights can switch a neuron on; negative ones are drawn
            faded). See `neuron_monosemanticity`.
        path: where to write the PNG; folders are created.
        threshold: a neuron counts as polysemantic (panel titles) when less than this fraction of its
            squared weight is on its strongest feature.

    Returns:
        `path`.
    """
    plt = pyplot()
    from matplotlib.colors import BoundaryNorm, ListedColormap, Normalize

    n_cols = max(W.shape[0] for W, _, _ in rows.values())
    height = 3.0 * len(rows) + 1.2
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(2.3 * n_cols + 1.4, height), squeeze=False)
    fig.subplots_adjust(left=0.08, right=0.9, top=1 - 1.2 / height, bottom=0.5 / height, wspace=0.3, hspace=0.6)
    for r, (title, (W, p, nonnegative_inputs)) in enumerate(rows.items()):
        W, p = W.detach().cpu(), p.detach().cpu().flatten()
        n_instances, n_neurons, n_features = W.shape
        # Distinct colours for up to 20 features, a gradient (by importance) beyond.
        if n_features <= 20:
            # tab20 lists each colour dark then light: features 0-9 get the 10 dark ones, 10-19 the light.
            palette = [plt.cm.tab20(2 * i) for i in range(10)] + [plt.cm.tab20(2 * i + 1) for i in range(10)]
            cmap = ListedColormap(palette[:n_features])
            norm = BoundaryNorm(torch.arange(n_features + 1).float().sub(0.5).tolist(), n_features)
        else:
            cmap, norm = plt.cm.viridis, Normalize(0, n_features - 1)
        mono = neuron_monosemanticity(W, nonnegative_inputs)
        counted = W.clamp_min(0) if nonnegative_inputs else W
        for k in range(n_cols):
            ax = axes[r, k]
            if k >= n_instances:
                ax.axis("off")
                continue
            # Neurons sorted by their strongest feature, dead neurons last.
            strongest = counted[k].abs().argmax(dim=-1).float()
            alive = counted[k].abs().amax(dim=-1) > 1e-2
            strongest[~alive] = n_features
            order = torch.argsort(strongest, stable=True)
            x = torch.arange(n_neurons).numpy()
            up, down = torch.zeros(n_neurons), torch.zeros(n_neurons)
            for i in range(n_features):
                w = W[k, order, i]
                pos, neg = w.clamp_min(0), w.clamp_max(0)
                color = cmap(norm(i))
                ax.bar(x, pos.numpy(), bottom=up.numpy(), color=color, width=0.8, edgecolor="white", linewidth=0.3)
                ax.bar(x, neg.numpy(), bottom=down.numpy(), color=color, width=0.8, edgecolor="white", linewidth=0.3,
                       alpha=0.35 if nonnegative_inputs else 1.0)
                up, down = up + pos, down + neg
            ax.axhline(0, color="black", lw=0.6)
            n_poly = int(((mono[k] < threshold) & alive).sum())
            ax.set_title(f"S = {1 - float(p[k]):.3g}\n{n_poly} of {n_neurons} neurons polysemantic", fontsize=8)
            ax.set_xticks([] if n_neurons > 12 else list(range(n_neurons)))
            ax.tick_params(labelsize=7)
            ax.set_xlabel("neuron (sorted)", fontsize=8)
        axes[r, 0].set_ylabel(title + "\nweight into neuron", fontsize=9)
        sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
        top, bottom = axes[r, 0].get_position().y1, axes[r, 0].get_position().y0
        cbar = fig.colorbar(sm, cax=fig.add_axes((0.92, bottom, 0.012, top - bottom)))
        if n_features <= 20:
            cbar.set_ticks(list(range(0, n_features, 1 if n_features <= 10 else 2)))
        cbar.set_label("feature (importance ↓)", fontsize=8)
        cbar.ax.tick_params(labelsize=7)
    fig.suptitle(
        "Per-neuron input weights, dense (left) to sparse (right), one colour per feature.\n"
        "A one-colour bar is a monosemantic neuron, a many-colour bar a polysemantic one "
        f"(< {threshold:.0%} of its squared weight on one feature).\n"
        "Faded (below 0, non-negative inputs only): negative weights, which can keep a neuron off but never switch it on.",
        fontsize=10,
    )
    return save_figure(fig, path)


# --------------------------------------------------------------------------- section 3: feature geometry

# The fractions at which the paper finds feature dimensionalities "sticking", and the shape that gives each.
STICKY_FRACTIONS: dict[str, float] = {
    "1  (a dimension of its own)": 1.0,
    "3/4  tetrahedron": 3 / 4,
    "2/3  triangle": 2 / 3,
    "1/2  digon (antipodal pair)": 1 / 2,
    "2/5  pentagon": 2 / 5,
    "3/8  square antiprism": 3 / 8,
}


def count_on_fractions(
    dimensionality: Float[Tensor, "inst feats"], *, represented: float = 0.15, tolerance: float = 0.03
) -> tuple[dict[str, int], int]:
    """How many represented features sit on each sticky fraction.

    A feature is represented when D_i > `represented` (dropped features have D ≈ 0). Each represented
    feature counts for the fraction nearest to its D_i, if that one is within `tolerance` (2/5 and 3/8 are
    only 0.025 apart: nearest, so that no feature counts twice).

    Returns:
        ({fraction's label: count}, the number of represented features).
    """
    D = dimensionality.detach().flatten()
    D = D[D > represented]
    values = torch.tensor(list(STICKY_FRACTIONS.values()))
    distance = (D[:, None] - values[None, :]).abs()  # (represented, fractions)
    nearest = distance.argmin(dim=1)
    on = distance.min(dim=1).values <= tolerance
    counts = {label: int((on & (nearest == k)).sum()) for k, label in enumerate(STICKY_FRACTIONS)}
    return counts, len(D)


def plot_feature_dimensionality(
    dimensionality: Float[Tensor, "inst feats"],
    dims_per_feature: Float[Tensor, "inst"],
    feature_probability: Float[Tensor, "inst"],
    path: Path,
    *,
    title: str = "",
) -> Path:
    """The paper's feature-dimensionality figure: every feature's D_i (a dot) against 1/(1 - S) = 1/p on a
    log axis, the sticky fractions as horizontal lines, and the "dimensions per feature" curve
    d_hidden / ‖W‖_F² through the instances.

    Args:
        dimensionality: (n_instances, n_features), D_i from exercise 11.
        dims_per_feature: (n_instances,), d_hidden / ‖W‖_F² per instance.
        feature_probability: one probability per instance (S = 1 - p, so 1/(1 - S) = 1/p).
        path: where to write the PNG; folders are created.
        title: a line to add to the title (e.g. the model's size).

    Returns:
        `path`.
    """
    plt = pyplot()

    D = dimensionality.detach().cpu()
    x = 1 / feature_probability.detach().cpu().flatten()
    n_instances, n_features = D.shape

    fig, ax = plt.subplots(figsize=(9.5, 5.6))
    fig.subplots_adjust(left=0.08, right=0.74, top=0.88, bottom=0.11)
    for label, value in STICKY_FRACTIONS.items():
        ax.axhline(value, color="0.6", lw=0.8, ls="--", zorder=0)
        ax.text(1.01, value, label, transform=ax.get_yaxis_transform(), va="center", fontsize=8, color="0.3")

    # Jitter each instance's dots sideways a little (multiplicatively: the axis is log) so that the
    # features piling up at one fraction show as a cluster rather than one dot.
    generator = torch.Generator().manual_seed(0)
    jitter = torch.exp(0.04 * torch.randn(n_instances, n_features, generator=generator))
    xs = x[:, None] * jitter
    dead = (D < 0.02).numpy()
    xs, D, x = xs.numpy(), D.numpy(), x.numpy()
    ax.scatter(xs[~dead], D[~dead], s=9, alpha=0.45, color="tab:blue", lw=0, label=r"a feature's dimensionality $D_i$")
    ax.scatter(xs[dead], D[dead], s=9, alpha=0.3, color="0.6", lw=0, label=r"a dropped feature ($W_i \approx 0$, $D_i \approx 0$)")
    ax.plot(x, dims_per_feature.detach().cpu().numpy(), color="black", lw=1.8, marker="o", ms=4,
            label=r"dimensions per feature, $d \,/\, \|W\|_F^2$")

    ax.set_xscale("log")
    ticks = [t for t in (1, 1.5, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000) if x.min() / 1.2 <= t <= x.max() * 1.2]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("1 / (1 - S)   (1 / feature probability; sparser to the right)")
    ax.set_ylabel("dimensionality")
    ax.set_ylim(-0.03, 1.1)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    counts, n_represented = count_on_fractions(dimensionality)
    on = sum(counts.values())
    ax.set_title("Feature dimensionality against sparsity" + (f": {title}" if title else "")
                 + f"\n{on} of {n_represented} represented features (D > 0.15) within 0.03 of a dashed line", fontsize=10)
    return save_figure(fig, path)
