"""Given code for chapter 1, sections 5-7: sparse autoencoders (SAEs) on the toy model.

The exercises write the SAE's pieces (its parameters, the normalised decoder, its training data, its
forward pass, resampling of dead latents, JumpReLU); this module puts them together the way Bricken et
al. 2023 ("Towards Monosemanticity") train their SAEs, so that a section's result runs the student's
own code. Nothing here is an exercise: read it to see how the pieces are used.

    toy_model_for_sae   train one toy model (5 features in 2 dimensions) and copy it into every
                        instance: the SAEs' "model under study"
    sparse_features     sparse feature batches (exercise 2's generate_batch, given here)
    independent_decoder_init_   re-draw an SAE's decoder independently of its encoder (the older
                        initialisation, which leaves dead latents: sections 5 and 6)
    train_sae           the training loop: Adam, decoder renormalisation, dead-latent tracking,
                        optional resampling every few hundred steps
    evaluate_sae        L0 and reconstruction error on a large fresh batch
    feature_recovery    how well the decoder directions match the true feature directions
    plot_*              the sections' figures
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from jaxtyping import Bool, Float
from torch import Tensor, nn

from arena_course.display import ProgressBar, pyplot, save_figure
from arena_course.threads import one_thread

# What the exercises provide, as the training loop uses them.
DataFn = Callable[[int], Float[Tensor, "batch inst d_in"]]
ResampleFn = Callable[[nn.Module, Float[Tensor, "window inst d_sae"]], Bool[Tensor, "inst d_sae"] | None]


# --------------------------------------------------------------------------- data


def sparse_features(
    batch_size: int, feature_probability: Float[Tensor, "inst feats"]
) -> Float[Tensor, "batch inst feats"]:
    """Sparse feature vectors, exactly as exercise 2's `generate_batch`: entry [b, k, i] is U[0, 1] with
    probability feature_probability[k, i], else 0."""
    shape = (batch_size, *feature_probability.shape)
    device = feature_probability.device
    present = torch.rand(shape, device=device) < feature_probability
    return torch.where(present, torch.rand(shape, device=device), 0.0)


def toy_model_for_sae(
    toy_model_cls: type[nn.Module],
    generate_batch: Callable,
    loss_fn: Callable,
    n_inst: int,
    *,
    n_features: int = 5,
    d_hidden: int = 2,
    feature_probability: float = 0.025,
    steps: int = 4_000,
    seed: int = 0,
    progress: bool = True,
) -> nn.Module:
    """Train one toy model and copy it into `n_inst` identical instances, frozen.

    Every SAE instance then studies the same model, so the instances differ only in the SAE's own
    random initialisation (and in whatever per-instance setting a result gives them, such as the
    sparsity coefficient). With 5 equally important features of probability 0.025 in 2 dimensions,
    the trained model stores all 5 features as a pentagon: 5 directions in a plane, in superposition.

    Args:
        toy_model_cls: the ToyModel class of exercise 1 (called as
            toy_model_cls(n_instances, n_features, d_hidden, feature_probability=, importance=)).
        generate_batch, loss_fn: exercises 2 and 3, for `train_toy_model`.
        n_inst: the number of (identical) instances to return.
        n_features, d_hidden, feature_probability: the toy model's setting.
        steps: training steps for the toy model.
        seed: the random seed of the toy model's training (so every run studies the same pentagon).
        progress: show a progress bar.

    Returns:
        A ToyModel with `n_inst` instances, all equal to the trained one, with requires_grad False.
    """
    from arena_course.superposition.toy_models import train_toy_model

    with torch.random.fork_rng(devices=[]):  # the caller's random state as it was
        torch.manual_seed(seed)
        single = toy_model_cls(1, n_features, d_hidden, feature_probability=feature_probability, importance=1.0)
        train_toy_model(single, generate_batch, loss_fn, steps=steps, progress=progress)

    model = toy_model_cls(n_inst, n_features, d_hidden, feature_probability=feature_probability, importance=1.0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(dict(single.named_parameters())[name].expand_as(param))
    return model.requires_grad_(False)


# --------------------------------------------------------------------------- training


@dataclass
class SAELog:
    """What `train_sae` records.

    Attributes:
        steps: the steps at which the rows below were recorded.
        dead_fraction: (n_logged, inst), the fraction of each instance's latents that fired on none of
            the last `window` batches (0 before `window` steps have passed).
        L_reconstruction: (n_logged, inst), the mean reconstruction loss of each instance on that step's batch.
        L0: (n_logged, inst), the mean number of latents active per input.
        resample_steps: the steps at which resampling ran.
        n_resampled: how many latents each resampling reset (summed over instances).
        dead: (inst, d_sae), the latents dead at the end of training (no activation in the last window).
    """

    steps: list[int] = field(default_factory=list)
    dead_fraction: Tensor | None = None
    L_reconstruction: Tensor | None = None
    L0: Tensor | None = None
    resample_steps: list[int] = field(default_factory=list)
    n_resampled: list[int] = field(default_factory=list)
    dead: Tensor | None = None


def train_sae(
    sae: nn.Module,
    data_fn: DataFn,
    *,
    sparsity_coeff: float | Tensor,
    steps: int = 3_000,
    batch_size: int = 1024,
    lr: float = 1e-2,
    lr_end: float = 0.1,
    resample: ResampleFn | None = None,
    resample_every: int = 200,
    resample_until: float = 0.9,
    window: int = 100,
    log_every: int = 10,
    progress: bool = True,
    description: str = "training SAE",
) -> SAELog:
    """Train an SAE's instances in place on fresh batches of the toy model's hidden activations.

    Each step:
      1. every `resample_every` steps (until `resample_until` of training, so that the last resampled
         latents have time to learn), call `resample(sae, frac_active_in_window)` on the fraction of
         each batch that each latent fired on, over the last `window` steps; then reset Adam's running
         averages for the latents it returns as resampled (as Bricken et al. do: stale momentum would
         drag a fresh latent straight back to where it died);
      2. draw a batch h = data_fn(batch_size) (no gradient: the toy model is not trained);
      3. take an Adam step on the SAE's total loss, `sae(h, sparsity_coeff)[1]`;
      4. for an untied SAE, write the normalised decoder back into W_dec: the forward pass only ever
         uses W_dec_normalized, but without this the raw W_dec would drift in norm (Adam steps don't
         know about the normalisation), and resampling reads and writes W_dec directly;
      5. record which latents fired on this batch.

    Args:
        sae: a ToySAE (exercises 15-18) or JumpReLUToySAE (exercise 22): called as
            sae(h, sparsity_coeff) -> (loss_dict, loss, acts, h_reconstructed).
        data_fn: batch_size -> h of shape (batch, inst, d_in) (exercise 17's function on a toy model).
        sparsity_coeff: a number, or a tensor of shape (inst,) for one coefficient per instance.
        steps, batch_size, lr: the optimisation. (Peak lr 1e-2 rather than the usual 1e-3 so that
            training takes seconds; the tensors here are tiny.)
        lr_end: the learning rate decays (cosine) from lr to lr * lr_end over training.
        resample: None (no resampling), or a function (sae, frac_active_in_window) -> dead mask of
            shape (inst, d_sae), such as exercise 19's resample_simple with its scale filled in.
        resample_every, resample_until, window: when to resample, and over how many steps a latent
            must stay silent to count as dead (also used for the dead fraction in the log).
        log_every: record the log every this many steps.
        progress: show a progress bar.
        description: the progress bar's label.

    Returns:
        An SAELog.
    """
    optimizer = torch.optim.Adam(sae.parameters(), lr=lr)
    # Cosine decay from lr to lr * lr_end: big steps early, fine-tuning of the directions late.
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_end + (1 - lr_end) * 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    coeff = torch.as_tensor(sparsity_coeff, dtype=torch.float32)

    recent: deque[Tensor] = deque(maxlen=window)  # fraction of the batch each latent fired on, per step
    last_active: Tensor | None = None  # (inst, d_sae): the last step at which each latent fired
    log = SAELog()
    rows: dict[str, list[Tensor]] = {"dead_fraction": [], "L_reconstruction": [], "L0": []}

    # The tensors are tiny: one CPU thread is fastest (and much faster on a busy machine).
    with one_thread():
        with ProgressBar(progress, steps, description) as advance:
            for step in range(steps):
                # 1. Resample dead latents.
                if (
                    resample is not None
                    and step > 0
                    and step % resample_every == 0
                    and step < resample_until * steps
                    and len(recent) == window
                ):
                    resampled = resample(sae, torch.stack(tuple(recent)))
                    log.resample_steps.append(step)
                    if isinstance(resampled, Tensor) and resampled.any():
                        resampled = resampled.bool()
                        _reset_adam_state(optimizer, sae, resampled)
                        last_active[resampled] = step  # a fresh latent: not dead until it idles a window
                        log.n_resampled.append(int(resampled.sum()))
                    else:
                        log.n_resampled.append(0)

                # 2-3. One optimisation step on a fresh batch.
                with torch.no_grad():
                    h = data_fn(batch_size)
                loss_dict, loss, acts, _ = sae(h, coeff)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()

                # 4. Keep the stored decoder unit-norm (tied decoders are the encoder: leave them).
                if not getattr(sae, "tied", False):
                    with torch.no_grad():
                        sae.W_dec.copy_(sae.W_dec_normalized)

                # 5. Which latents fired.
                with torch.no_grad():
                    fired = acts.detach().abs() > 1e-8  # (batch, inst, d_sae)
                    recent.append(fired.float().mean(0))
                    if last_active is None:
                        last_active = torch.zeros(fired.shape[1:], dtype=torch.long)
                    last_active[fired.any(0)] = step

                if step % log_every == 0 or step == steps - 1:
                    dead = (step - last_active >= window) & (step >= window)
                    log.steps.append(step)
                    rows["dead_fraction"].append(dead.float().mean(-1))
                    rows["L_reconstruction"].append(loss_dict["L_reconstruction"].detach().mean(0))
                    rows["L0"].append(fired.float().sum(-1).mean(0))
                advance(step, loss.item())

    for name, values in rows.items():
        setattr(log, name, torch.stack(values))
    log.dead = (steps - 1 - last_active >= window) & (steps > window)
    return log


def _reset_adam_state(optimizer: torch.optim.Adam, sae: nn.Module, resampled: Bool[Tensor, "inst d_sae"]) -> None:
    """Zero Adam's running averages for the parameters of resampled latents: W_enc[:, :, latent],
    W_dec[:, latent, :] (if untied), b_enc[:, latent] and log_theta[:, latent] (JumpReLU)."""
    masks: list[tuple[nn.Parameter, Tensor]] = [(sae.W_enc, resampled[:, None, :].expand_as(sae.W_enc))]
    masks.append((sae.b_enc, resampled))
    if isinstance(getattr(sae, "_W_dec", None), nn.Parameter):
        masks.append((sae._W_dec, resampled[:, :, None].expand_as(sae._W_dec)))
    if isinstance(getattr(sae, "log_theta", None), nn.Parameter):
        masks.append((sae.log_theta, resampled))
    with torch.no_grad():
        for param, mask in masks:
            state = optimizer.state.get(param, {})
            for key in ("exp_avg", "exp_avg_sq"):
                if key in state:
                    state[key][mask] = 0.0


# --------------------------------------------------------------------------- measuring


@torch.no_grad()
def evaluate_sae(
    sae: nn.Module, data_fn: DataFn, sparsity_coeff: float | Tensor = 0.0, batch_size: int = 20_000, seed: int = 1
) -> dict[str, Tensor]:
    """An SAE's sparsity and reconstruction error on one large fresh batch.

    Returns:
        "L0": (inst,), the mean number of latents active per input;
        "mse": (inst,), the mean of the loss dict's L_reconstruction (mean squared error per dimension);
        "dead": (inst, d_sae), latents that fired on none of the inputs.
    """
    with torch.random.fork_rng(devices=[]):  # the caller's random state as it was
        torch.manual_seed(seed)
        h = data_fn(batch_size)
    loss_dict, _, acts, _ = sae(h, torch.as_tensor(sparsity_coeff, dtype=torch.float32))
    fired = acts.abs() > 1e-8
    return {
        "L0": fired.float().sum(-1).mean(0),
        "mse": loss_dict["L_reconstruction"].mean(0),
        "dead": ~fired.any(0),
    }


@torch.no_grad()
def feature_recovery(
    W_dec_normalized: Float[Tensor, "inst d_sae d_in"], W: Float[Tensor, "inst d_in feats"]
) -> Float[Tensor, "inst feats"]:
    """For each true feature (a column of the toy model's W), the largest cosine similarity between
    its direction and any SAE decoder direction: 1 when some latent points exactly along it."""
    W_hat = W / W.norm(dim=1, keepdim=True).clamp_min(1e-8)
    cos = torch.einsum("isd,idf->isf", W_dec_normalized.detach(), W_hat.detach())
    return cos.max(dim=1).values


# --------------------------------------------------------------------------- plots


def _draw_directions(ax, features: Tensor, latents: Tensor, dead: Tensor, title: str) -> None:
    """One 2D panel: true feature directions as grey lines, SAE decoder directions as coloured dots
    (dead latents as red crosses), all scaled to unit length."""
    t = torch.linspace(0, 2 * math.pi, 200)
    ax.plot(t.cos(), t.sin(), color="0.9", lw=0.8, zorder=0)
    for i in range(features.shape[1]):
        x, y = features[:, i] / features[:, i].norm().clamp_min(1e-8)
        ax.plot([0, float(x)], [0, float(y)], color="0.55", lw=2.5, zorder=1, solid_capstyle="round")
    for j in range(latents.shape[0]):
        x, y = latents[j] / latents[j].norm().clamp_min(1e-8)
        if bool(dead[j]):
            ax.scatter([float(x)], [float(y)], marker="x", color="red", s=60, zorder=3, linewidths=2)
        else:
            ax.scatter([float(x)], [float(y)], color="tab:blue", s=45, zorder=2, edgecolors="white", linewidths=0.6)
    ax.set_title(title, fontsize=9)
    ax.set_xlim(-1.25, 1.25)
    ax.set_ylim(-1.25, 1.25)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_sae_features(
    W: Float[Tensor, "inst d_in=2 feats"],
    runs: dict[str, tuple[Float[Tensor, "inst d_sae d_in=2"], SAELog]],
    path: Path,
    recovered_threshold: float = 0.99,
) -> Path:
    """Section 5's figure: for each run (a row), each instance's SAE decoder directions over the toy
    model's true feature directions; below, the fraction of dead latents over training.

    Args:
        W: the toy model's W (d_in = 2): its columns are the true feature directions.
        runs: row title -> (the trained SAE's W_dec_normalized, its training log).
        path: where to write the PNG; folders are created.
        recovered_threshold: a feature counts as found when some decoder direction has cosine
            similarity at least this with it (for the panel titles).

    Returns:
        `path`.
    """
    plt = pyplot()
    from matplotlib.lines import Line2D

    W = W.detach().cpu()
    n_inst, d_in, n_features = W.shape
    if d_in != 2:
        raise ValueError(f"can only draw 2D directions, got d_in = {d_in}")
    n_rows = len(runs)
    colors = ["tab:blue", "tab:red", "tab:green", "tab:orange"]

    fig = plt.figure(figsize=(2.0 * n_inst + 0.6, 2.45 * n_rows + 3.4))
    grid = fig.add_gridspec(n_rows + 1, n_inst, height_ratios=[1.0] * n_rows + [1.25], hspace=0.55, wspace=0.08)
    d_sae = 0
    for row, (title, (W_dec_normalized, log)) in enumerate(runs.items()):
        W_dec_normalized = W_dec_normalized.detach().cpu()
        d_sae = W_dec_normalized.shape[1]
        found = (feature_recovery(W_dec_normalized, W) >= recovered_threshold).sum(-1)
        dead = log.dead.cpu()
        for k in range(n_inst):
            ax = fig.add_subplot(grid[row, k])
            panel_title = f"{int(found[k])}/{n_features} found, {int(dead[k].sum())} dead"
            _draw_directions(ax, W[k], W_dec_normalized[k], dead[k], panel_title)
            if k == 0:
                ax.set_ylabel(title, fontsize=9, color=colors[row % len(colors)], fontweight="bold")

    ax = fig.add_subplot(grid[n_rows, :])
    for row, (title, (_, log)) in enumerate(runs.items()):
        color = colors[row % len(colors)]
        for k in range(n_inst):
            ax.plot(log.steps, log.dead_fraction[:, k], color=color, lw=0.8, alpha=0.25)
        ax.plot(log.steps, log.dead_fraction.mean(-1), color=color, lw=2.2, label=f"{title}: mean over instances")
    ax.set_xlabel("training step")
    ax.set_ylabel("fraction of latents dead")
    highest = max(float(log.dead_fraction.max()) for _, log in runs.values())
    ax.set_ylim(-0.02, max(0.6, highest + 0.22))
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.set_title(
        "dead latents over training (thin lines: single instances): latents with no activation in the last 100 steps",
        fontsize=9,
    )

    handles = [
        Line2D([], [], color="0.55", lw=2.5, label="true feature direction (column of the toy model's W)"),
        Line2D([], [], marker="o", color="tab:blue", lw=0, label="SAE decoder direction (live latent)"),
        Line2D([], [], marker="x", color="red", lw=0, markeredgewidth=2, label="dead latent"),
    ]
    top = 1 - 0.95 / fig.get_figheight()
    anchor = (0.5, top + 0.55 / fig.get_figheight())
    fig.legend(handles=handles, loc="upper center", ncol=3, fontsize=8, frameon=False, bbox_to_anchor=anchor)
    fig.suptitle(
        f"SAEs with {d_sae} latents on the toy model's {d_in}D hidden layer ({n_features} features in superposition): "
        f"one panel per instance",
        fontsize=11,
    )
    fig.subplots_adjust(top=top, bottom=0.07, left=0.04, right=0.99)
    return save_figure(fig, path)


def independent_decoder_init_(sae: nn.Module) -> nn.Module:
    """Re-draw an untied SAE's decoder independently of its encoder (kaiming-uniform, as ARENA's toy SAE
    and the 2023 recipe did), in place, instead of starting it as W_encᵀ. Returns `sae`.

    With independent directions, many latents start out firing on inputs their decoder direction does
    not reconstruct; the reconstruction loss then switches them off, often for good: dead latents."""
    with torch.no_grad():
        sae.W_dec.copy_(nn.init.kaiming_uniform_(torch.empty_like(sae.W_dec)))
    return sae


def plot_resampling(
    logs: dict[str, SAELog],
    recovery: dict[str, Float[Tensor, "inst feats"]],
    path: Path,
    recovered_threshold: float = 0.99,
) -> Path:
    """Section 6's figure: dead latents over training (left) and features recovered (right), one
    colour per resampling method.

    Args:
        logs: method name -> its training log.
        recovery: method name -> feature_recovery(...) of its trained SAE, (inst, feats).
        path: where to write the PNG; folders are created.
        recovered_threshold: the cosine similarity at which a feature counts as found.

    Returns:
        `path`.
    """
    plt = pyplot()
    colors = ["tab:red", "tab:orange", "tab:green", "tab:blue", "tab:purple"]
    fig, (ax_dead, ax_found) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1.6, 1]})

    resample_steps = sorted({s for log in logs.values() for s in log.resample_steps})
    for s in resample_steps:
        ax_dead.axvline(s, color="0.6", lw=0.8, ls=":")
    for (name, log), color in zip(logs.items(), colors):
        ax_dead.plot(log.steps, log.dead_fraction.mean(-1), color=color, lw=2, label=name)
    ax_dead.set_xlabel("training step")
    ax_dead.set_ylabel("fraction of latents dead (mean over instances)")
    ax_dead.set_ylim(bottom=-0.01)
    ax_dead.set_title("dead latents over training (dotted: resampling steps)", fontsize=10)
    ax_dead.legend(frameon=False)

    names = list(recovery)
    for x, (name, color) in enumerate(zip(names, colors)):
        cos = recovery[name].cpu()
        found = (cos >= recovered_threshold).sum(-1).float()  # (inst,)
        n_features = cos.shape[-1]
        ax_found.bar(x, float(found.mean()), color=color, alpha=0.35, width=0.6)
        jitter = (torch.rand(found.shape[0]) - 0.5) * 0.35
        ax_found.scatter(x + jitter, found + (torch.rand(found.shape[0]) - 0.5) * 0.12, color=color, s=14, zorder=3)
        ax_found.text(x, n_features + 0.25, f"{float(found.mean()):.2f}", ha="center", fontsize=9)
    ax_found.set_xticks(range(len(names)), names)
    ax_found.set_ylim(0, n_features + 0.8)
    ax_found.set_ylabel(f"true features found (of {n_features})")
    ax_found.set_title(
        "features found per instance (dots) and mean (bars)\n"
        f"found: some decoder direction has cos ≥ {recovered_threshold}",
        fontsize=10,
    )

    fig.suptitle("Resampling dead latents: an SAE with 5 latents on 5 features in 2 dimensions", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_tradeoff(
    points: dict[str, tuple[Tensor, Tensor, Tensor]],
    path: Path,
    true_l0: float | None = None,
) -> Path:
    """Section 7's figure: reconstruction error against L0, one series per SAE kind.

    Args:
        points: series name -> (coefficients, L0, mse), each of shape (n,): one point per trained
            instance, labelled with its coefficient.
        path: where to write the PNG; folders are created.
        true_l0: the toy model's mean number of active features per input, drawn as a reference line.

    Returns:
        `path`.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.2))
    styles = [("tab:blue", "o"), ("tab:orange", "s"), ("tab:green", "^")]
    for (name, (coeffs, l0, mse)), (color, marker) in zip(points.items(), styles):
        coeffs, l0, mse = coeffs.cpu(), l0.cpu(), mse.cpu()
        order = l0.argsort()
        ax.plot(l0[order], mse[order], color=color, lw=1, alpha=0.5)
        ax.scatter(l0, mse, color=color, marker=marker, s=40, label=name, zorder=3)
        for c, x, y in zip(coeffs.tolist(), l0.tolist(), mse.tolist()):
            ax.annotate(f"{c:.2g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color=color)
    if true_l0 is not None:
        ax.axvline(true_l0, color="0.5", ls="--", lw=1)
        ax.annotate(
            f"toy model: {true_l0:.3g} features\nactive per input",
            (true_l0, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(4, -4),
            textcoords="offset points",
            fontsize=8,
            color="0.4",
            va="top",
        )
    ax.set_yscale("log")
    ax.set_xlabel("L0: latents active per input (mean)")
    ax.set_ylabel("reconstruction error (MSE per dimension, log scale)")
    ax.set_title(
        "Sparsity against reconstruction: lower and further left is better\n"
        "(each point is one SAE, labelled with its sparsity coefficient)",
        fontsize=10,
    )
    ax.legend(frameon=False)
    fig.tight_layout()
    return save_figure(fig, path)
