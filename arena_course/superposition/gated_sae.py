"""Given code for chapter 1's Gated SAE section: measuring shrinkage across a sweep, and its figure.

The exercises write the Gated SAE's encoder and loss and the relative reconstruction bias γ; the
training loop is section 5's (`toy_sae.train_sae`). This module measures each trained SAE instance on
one large fixed batch, and draws the section's figure: reconstruction error and γ against L0, one
series per kind of SAE. Nothing here is an exercise.

    sweep_sae        train one SAE (one instance per coefficient) and measure it
    measure_sae      L0, reconstruction error and γ of each instance, on one fixed batch
    plot_shrinkage   the section's figure
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from jaxtyping import Float
from torch import Tensor, nn

from arena_course.display import pyplot, save_figure
from arena_course.superposition.toy_sae import DataFn, train_sae
from arena_course.threads import one_thread

# The relative reconstruction bias, as the exercise writes it: (h, h') -> γ per instance.
GammaFn = Callable[[Float[Tensor, "batch inst d_in"], Float[Tensor, "batch inst d_in"]], Float[Tensor, "inst"]]


@torch.no_grad()
def measure_sae(
    sae: nn.Module, data_fn: DataFn, gamma_fn: GammaFn, batch_size: int = 20_000, seed: int = 1
) -> dict[str, Tensor]:
    """Each instance's sparsity, reconstruction error and shrinkage, on one fixed batch.

    The batch is drawn under `seed` (and the global random state restored), so that every SAE of a
    comparison is measured on the same activations.

    Returns:
        "L0": (inst,), the mean number of nonzero latents per input;
        "mse": (inst,), the mean squared reconstruction error per dimension;
        "gamma": (inst,), gamma_fn(h, h'): below 1, the reconstructions are shrunk.
    """
    with torch.random.fork_rng(devices=[]):  # the caller's random state as it was
        torch.manual_seed(seed)
        h = data_fn(batch_size)
    with one_thread():
        _, _, acts, h_reconstructed = sae(h, 0.0)
    return {
        "L0": (acts.abs() > 1e-8).float().sum(-1).mean(0),
        "mse": (h_reconstructed - h).pow(2).mean(-1).mean(0),
        "gamma": gamma_fn(h, h_reconstructed),
    }


def sweep_sae(
    make_sae: Callable[[int], nn.Module],
    data_fn: DataFn,
    coeffs: Float[Tensor, "inst"],
    gamma_fn: GammaFn,
    *,
    steps: int = 3_000,
    seed: int = 0,
    progress: bool = True,
    description: str = "training SAE",
) -> dict[str, Tensor]:
    """Train `make_sae(len(coeffs))`, instance k with sparsity coefficient coeffs[k] (seeded), and measure it.

    Returns:
        measure_sae's dict, plus "coeff": the coefficients.
    """
    torch.manual_seed(seed)
    sae = make_sae(len(coeffs))
    train_sae(sae, data_fn, sparsity_coeff=coeffs, steps=steps, progress=progress, description=description)
    return {"coeff": coeffs, **measure_sae(sae, data_fn, gamma_fn)}


def plot_shrinkage(points: dict[str, dict[str, Tensor]], path: Path, true_l0: float | None = None) -> Path:
    """The section's figure: reconstruction error (left) and relative reconstruction bias γ (right)
    against L0, one series per kind of SAE, each point one trained SAE labelled with its coefficient.

    Args:
        points: series name -> sweep_sae's dict ("coeff", "L0", "mse", "gamma", each (n,)).
        path: where to write the PNG; folders are created.
        true_l0: the toy model's mean number of active features per input, drawn as a reference line.

    Returns:
        `path`.
    """
    plt = pyplot()
    fig, (ax_mse, ax_gamma) = plt.subplots(1, 2, figsize=(12.5, 5))
    styles = [("tab:blue", "o"), ("tab:green", "D"), ("tab:orange", "s")]
    for (name, p), (color, marker) in zip(points.items(), styles):
        l0, order = p["L0"].cpu(), p["L0"].cpu().argsort()
        for ax, key in [(ax_mse, "mse"), (ax_gamma, "gamma")]:
            y = p[key].cpu()
            ax.plot(l0[order], y[order], color=color, lw=1, alpha=0.5)
            ax.scatter(l0, y, color=color, marker=marker, s=40, label=name, zorder=3)
            for c, a, b in zip(p["coeff"].tolist(), l0.tolist(), y.tolist()):
                ax.annotate(f"{c:.2g}", (a, b), textcoords="offset points", xytext=(4, 4), fontsize=7, color=color)

    ax_gamma.axhline(1.0, color="0.3", ls="--", lw=1)
    low = min(float(p["gamma"].min()) for p in points.values())
    ax_gamma.axhspan(min(low, 0.9) - 0.05, 1.0, color="tab:red", alpha=0.06, lw=0)
    ax_gamma.text(0.98, 0.04, "γ < 1: reconstructions shrunk", transform=ax_gamma.transAxes, ha="right",
                  fontsize=8, color="tab:red")
    ax_gamma.set_ylim(min(low, 0.9) - 0.05, 1.08)
    for ax in (ax_mse, ax_gamma):
        if true_l0 is not None:
            ax.axvline(true_l0, color="0.5", ls=":", lw=1)
        ax.set_xlabel("L0: latents active per input (mean)")
        ax.legend(frameon=False, fontsize=8, loc="upper right" if ax is ax_mse else "center right")
    ax_mse.set_yscale("log")
    ax_mse.set_ylabel("reconstruction error (MSE per dimension, log scale)")
    ax_mse.set_title("Sparsity against reconstruction: lower and further left is better", fontsize=10)
    ax_gamma.set_ylabel("relative reconstruction bias γ")
    ax_gamma.set_title("Shrinkage: γ = 1 means reconstructions of the right size", fontsize=10)
    note = "each point is one SAE, labelled with its sparsity coefficient"
    if true_l0 is not None:
        note += f"; dotted: the toy model's {true_l0:.3g} active features per input"
    fig.suptitle(f"ReLU and Gated SAEs on the toy model's hidden layer ({note})", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
