"""Chapter 2, sections 1 and 2: the IOI task's logit difference, and its direct attribution to layers and
heads. Given code for exercise 5, and the two sections' results.

- `residual_stack_to_logit_diff`: exercise 4's answer, given to exercise 5 so that a mistake in 4
  doesn't block 5. (The results call the student's own version of it.)
- `run_task_result` (section 1, run from exercise 2's file): the logit difference and the probability
  of the right name on every prompt; writes results/ioi/logit_diff.png, reports the worst prompts.
- `run_attribution_result` (section 2, run from exercise 5's file): the direct attribution of the logit
  difference to the accumulated residual stream at each layer, to each layer's attention and MLP
  output, and to every head; writes results/ioi/attribution_layers.png and attribution_heads.png.

Both take the student's functions as arguments and a `ResultSetting` (`arena_course.ioi.results.result_setting`):
GPT-2 small, or with --tiny the tiny model trained on IOI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import einops
import torch
from torch import Tensor

from arena_course.ioi.dataset import IOIDataset
from arena_course.ioi.results import ResultSetting

OUT_DIR = Path("results/ioi")


# --------------------------------------------------------------------------- given code


def at_end(stack: Tensor, data: IOIDataset) -> Tensor:
    """(..., batch, seq, d_model) -> (..., batch, d_model): each prompt's vector at its own end position."""
    batch = torch.arange(len(data), device=stack.device)
    return stack[..., batch, data.word_idx["end"].to(stack.device), :]


def residual_stack_to_logit_diff(residual_stack: Tensor, cache, data: IOIDataset, directions: Tensor) -> Tensor:
    """Exercise 4's answer: each component's direct contribution to the mean logit difference.

    `residual_stack` is (..., batch, d_model), each component at each prompt's end position; it is
    centred, divided by the final LayerNorm's scale at each prompt's end position (frozen from the
    forward pass in `cache`), projected on each prompt's direction and averaged over the prompts.
    Returns the leading dimensions.
    """
    batch = torch.arange(len(data), device=residual_stack.device)
    scale = cache["ln_final.hook_scale"][batch, data.word_idx["end"]]  # (batch, 1)
    scaled = (residual_stack - residual_stack.mean(dim=-1, keepdim=True)) / scale
    return einops.einsum(scaled, directions, "... batch d_model, batch d_model -> ... batch").mean(dim=-1)


# --------------------------------------------------------------------------- section 1: the task


@dataclass
class TaskSummary:
    """What section 1's result measured: per-prompt logit differences and probabilities."""

    logit_diff: Tensor  # (batch,)
    p_io: Tensor  # (batch,)
    p_s: Tensor  # (batch,)
    orders: list[str]  # "BABA" / "ABBA" per prompt
    top_tokens: list[str]  # the model's top prediction at each prompt's end
    sentences: list[str]
    paths: list[Path] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """The fraction of prompts on which the model prefers IO to S."""
        return float((self.logit_diff > 0).float().mean())

    def worst(self, k: int = 5) -> list[int]:
        """The indices of the k prompts with the smallest logit difference, worst first."""
        return self.logit_diff.argsort()[:k].tolist()

    def by_order(self, values: Tensor, order: str) -> Tensor:
        return values[torch.tensor([o == order for o in self.orders])]


def run_task_result(
    setting: ResultSetting,
    *,
    ioi_logit_diff: Callable,
    answer_probabilities: Callable,
    out_dir: Path = OUT_DIR,
) -> TaskSummary:
    """Section 1's result: the student's `ioi_logit_diff` (exercise 1) and `answer_probabilities`
    (exercise 2) on the setting's prompts. Writes `logit_diff{suffix}.png` in `out_dir`."""
    model, data = setting.model, setting.clean
    with torch.no_grad():
        logits = model(data.toks)
        logit_diff = ioi_logit_diff(logits, data, per_prompt=True).detach().float().cpu()
        p_io, p_s = (p.detach().float().cpu() for p in answer_probabilities(logits, data))
        end_logits = logits[torch.arange(len(data)), data.word_idx["end"]]
        top = end_logits.argmax(-1).tolist()
    summary = TaskSummary(
        logit_diff=logit_diff,
        p_io=p_io,
        p_s=p_s,
        orders=[p.order for p in data.prompts],
        top_tokens=[model.tokenizer.decode([t]) for t in top],
        sentences=data.sentences,
    )
    summary.paths.append(plot_task(summary, setting, out_dir / f"logit_diff{setting.suffix}.png"))
    return summary


def plot_task(summary: TaskSummary, setting: ResultSetting, path: Path) -> Path:
    """Two panels: the per-prompt logit difference and the probability of the right name, BABA vs ABBA."""
    from arena_course.display import pyplot, save_figure

    plt = pyplot()
    fig, (ax_ld, ax_p) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = {"BABA": "tab:blue", "ABBA": "tab:orange"}

    lo, hi = float(summary.logit_diff.min()), float(summary.logit_diff.max())
    bins = torch.linspace(min(lo, 0.0) - 0.25, max(hi, 0.0) + 0.25, 26).tolist()
    for order, colour in colours.items():
        values = summary.by_order(summary.logit_diff, order)
        if len(values):
            ax_ld.hist(values.tolist(), bins=bins, alpha=0.55, color=colour,
                       label=f"{order} ({len(values)} prompts, mean {float(values.mean()):.2f})")
            ax_ld.axvline(float(values.mean()), color=colour, linestyle="--", linewidth=1.2)
    ax_ld.axvline(0.0, color="black", linewidth=1)
    ax_ld.set_xlabel("logit difference: logit(IO) - logit(S)")
    ax_ld.set_ylabel("prompts")
    ax_ld.set_title("Logit difference per prompt (right of 0: prefers IO)")
    ax_ld.legend(fontsize=8)

    # Per prompt, sorted by logit difference: P(IO) (filled) and P(S) (hollow), on a log scale so that
    # both a confident model's P(S) ~ 0.001 and an unsure one's P(IO) ~ 0.3 are readable.
    order_idx = summary.logit_diff.argsort()
    rank = torch.empty_like(order_idx)
    rank[order_idx] = torch.arange(len(order_idx))
    floor = 1e-6  # smaller probabilities are drawn at the floor
    for order, colour in colours.items():
        mask = torch.tensor([o == order for o in summary.orders])
        if mask.any():
            x = rank[mask].tolist()
            ax_p.scatter(x, summary.p_io[mask].clamp_min(floor).tolist(), s=14, color=colour,
                         label=f"{order}: P(IO), mean {float(summary.p_io[mask].mean()):.2f}")
            ax_p.scatter(x, summary.p_s[mask].clamp_min(floor).tolist(), s=14, facecolors="none",
                         edgecolors=colour, label=f"{order}: P(S), mean {float(summary.p_s[mask].mean()):.3f}")
    ax_p.set_yscale("log")
    ax_p.set_ylim(floor / 2, 300)  # room above 1 for the legend
    ax_p.set_yticks([10.0**k for k in range(-6, 1)])
    ax_p.set_xlabel("prompt, sorted by logit difference (worst on the left)")
    ax_p.set_ylabel("probability (below 1e-6 drawn at 1e-6)")
    ax_p.set_title("Probability of the right name (IO) and the wrong one (S)")
    ax_p.legend(fontsize=7, loc="upper center", ncol=2)

    fig.suptitle(f"IOI on {setting.model_name}: {len(summary.logit_diff)} prompts, "
                 f"IO preferred on {summary.accuracy:.0%}")
    fig.tight_layout()
    return save_figure(fig, path)


def task_report(summary: TaskSummary, k: int = 5) -> str:
    """What section 1's result prints: the means, and the prompts the model gets least right."""
    lines = [
        f"Mean logit difference {float(summary.logit_diff.mean()):.3f} (BABA {float(summary.by_order(summary.logit_diff, 'BABA').mean()):.3f}, "
        f"ABBA {float(summary.by_order(summary.logit_diff, 'ABBA').mean()):.3f}); IO preferred on {summary.accuracy:.0%} of prompts.",
        f"Mean probability of the right name (IO) {float(summary.p_io.mean()):.3f}, of the wrong one (S) {float(summary.p_s.mean()):.3f}.",
        f"The {k} prompts with the smallest logit difference:",
    ]
    for i in summary.worst(k):
        lines.append(
            f"  {float(summary.logit_diff[i]):6.2f}  P(IO) {float(summary.p_io[i]):.2f}  P(S) {float(summary.p_s[i]):.2f}  "
            f"top {summary.top_tokens[i]!r:>10}  [{summary.orders[i]}] {summary.sentences[i]}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- section 2: attribution


@dataclass
class AttributionSummary:
    """What section 2's result measured (all averaged over the prompts)."""

    logit_diff: float  # the model's mean logit difference, from the logits
    bias: float  # mean of b_U[IO] - b_U[S]: the part no residual component accounts for
    accumulated: Tensor  # (n_accumulated,) attribution of the accumulated residual stream
    accumulated_labels: list[str]
    decomposed: Tensor  # (n_components,) attribution of each layer's attention / MLP output and the embeddings
    decomposed_labels: list[str]
    heads: Tensor  # (layer, head)
    paths: list[Path] = field(default_factory=list)

    def top_heads(self, k: int = 3, largest: bool = True) -> list[tuple[int, int, float]]:
        """The k heads with the largest (or most negative) attribution: (layer, head, value)."""
        flat = self.heads.flatten()
        idx = flat.topk(min(k, flat.numel()), largest=largest).indices.tolist()
        n_heads = self.heads.shape[1]
        return [(i // n_heads, i % n_heads, float(flat[i])) for i in idx]


def run_attribution_result(
    setting: ResultSetting,
    *,
    ioi_logit_diff: Callable,
    logit_diff_directions: Callable,
    residual_stack_to_logit_diff: Callable,
    head_logit_attribution: Callable,
    out_dir: Path = OUT_DIR,
) -> AttributionSummary:
    """Section 2's result: the student's exercises 1, 3, 4 and 5 on the setting's prompts. Writes
    `attribution_layers{suffix}.png` and `attribution_heads{suffix}.png` in `out_dir`."""
    model, data = setting.model, setting.clean
    with torch.no_grad():
        logits, cache = model.run_with_cache(data.toks)
        logit_diff = float(ioi_logit_diff(logits, data))
        directions = logit_diff_directions(model, data)
        bias = float((model.b_U[data.io_tokens] - model.b_U[data.s_tokens]).mean())

        accumulated, acc_labels = cache.accumulated_resid(layer=-1, incl_mid=True, return_labels=True)
        acc_attr = residual_stack_to_logit_diff(at_end(accumulated, data), cache, data, directions)
        decomposed, dec_labels = cache.decompose_resid(layer=-1, return_labels=True)
        dec_attr = residual_stack_to_logit_diff(at_end(decomposed, data), cache, data, directions)
        heads = head_logit_attribution(model, cache, data, directions)
    summary = AttributionSummary(
        logit_diff=logit_diff,
        bias=bias,
        accumulated=acc_attr.detach().float().cpu(),
        accumulated_labels=list(acc_labels),
        decomposed=dec_attr.detach().float().cpu(),
        decomposed_labels=list(dec_labels),
        heads=heads.detach().float().cpu(),
    )
    summary.paths.append(plot_layers(summary, setting, out_dir / f"attribution_layers{setting.suffix}.png"))
    summary.paths.append(plot_heads(summary, setting, out_dir / f"attribution_heads{setting.suffix}.png"))
    return summary


def plot_layers(summary: AttributionSummary, setting: ResultSetting, path: Path) -> Path:
    """Left: the accumulated residual stream's attribution at each layer (the logit lens of the logit
    difference). Right: each component's own attribution (embeddings, each attention and MLP output)."""
    from arena_course.display import pyplot, save_figure

    plt = pyplot()
    n_acc, n_dec = len(summary.accumulated_labels), len(summary.decomposed_labels)
    fig, (ax_acc, ax_dec) = plt.subplots(1, 2, figsize=(max(11, 0.32 * (n_acc + n_dec) + 4), 4.6))

    x = list(range(n_acc))
    ax_acc.plot(x, summary.accumulated.tolist(), marker="o", color="tab:purple")
    ax_acc.axhline(summary.logit_diff, color="grey", linestyle="--", linewidth=1,
                   label=f"the model's logit difference ({summary.logit_diff:.2f})")
    ax_acc.axhline(0, color="black", linewidth=0.8)
    ax_acc.set_xticks(x, summary.accumulated_labels, rotation=90, fontsize=8)
    ax_acc.set_ylabel("logit difference (direct)")
    ax_acc.set_title("Accumulated residual stream, read as the output")
    ax_acc.legend(fontsize=8, loc="upper left")

    colours = ["tab:blue" if "attn" in label else "tab:green" if "mlp" in label else "tab:grey"
               for label in summary.decomposed_labels]
    ax_dec.bar(range(n_dec), summary.decomposed.tolist(), color=colours)
    ax_dec.axhline(0, color="black", linewidth=0.8)
    ax_dec.set_xticks(range(n_dec), summary.decomposed_labels, rotation=90, fontsize=8)
    ax_dec.set_title("Each component's direct contribution")
    from matplotlib.patches import Patch

    ax_dec.legend(handles=[Patch(color="tab:blue", label="attention"), Patch(color="tab:green", label="MLP"),
                           Patch(color="tab:grey", label="embeddings")], fontsize=8)

    fig.suptitle(f"Direct logit attribution on {setting.model_name} ({len(setting.clean)} prompts)")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_heads(summary: AttributionSummary, setting: ResultSetting, path: Path) -> Path:
    """A layer x head heatmap of each head's direct attribution, red positive (towards IO), blue negative."""
    from arena_course.display import pyplot, save_figure

    plt = pyplot()
    heads = summary.heads
    n_layers, n_heads = heads.shape
    fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * n_heads + 2.5), max(3.5, 0.42 * n_layers + 1.8)))
    vmax = max(float(heads.abs().max()), 1e-6)
    image = ax.imshow(heads.numpy(), cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
    fontsize = 9 if n_layers * n_heads <= 48 else 6
    for layer in range(n_layers):
        for head in range(n_heads):
            value = float(heads[layer, head])
            if n_layers * n_heads <= 48 or abs(value) >= 0.15 * vmax:
                ax.text(head, layer, f"{value:.2f}", ha="center", va="center", fontsize=fontsize,
                        color="white" if abs(value) > 0.6 * vmax else "black")
    ax.set_xticks(range(n_heads))
    ax.set_yticks(range(n_layers))
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    fig.colorbar(image, ax=ax, label="direct contribution to the logit difference")
    ax.set_title(f"Per-head direct logit attribution\n{setting.model_name}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def attribution_report(summary: AttributionSummary) -> str:
    """What section 2's result prints."""
    final = float(summary.accumulated[-1])
    fmt = lambda hs: ", ".join(f"L{layer}H{head} {value:+.2f}" for layer, head, value in hs)  # noqa: E731
    return "\n".join([
        f"Mean logit difference {summary.logit_diff:.3f}; the final residual stream's direct attribution "
        f"{final:.3f} (the rest, {summary.logit_diff - final:+.3f}, is b_U[IO] - b_U[S], mean {summary.bias:+.3f}).",
        "Components: " + ", ".join(f"{label} {float(v):+.2f}" for label, v in
                                     zip(summary.decomposed_labels, summary.decomposed)),
        f"Heads pushing towards IO: {fmt(summary.top_heads(3))}; against: "
        f"{fmt([h for h in summary.top_heads(2, largest=False) if h[2] < 0]) or 'none'}.",
        f"All heads together: {float(summary.heads.sum()):+.2f} of the {final:.2f} (the rest: MLPs, embeddings, "
        f"attention biases).",
    ])

