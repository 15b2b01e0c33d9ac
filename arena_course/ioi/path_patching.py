"""The result of chapter 2, section 4 (path patching): which heads carry the answer straight to the logits
(the name movers), and which heads feed the name movers' queries, keys and values.

`run_result` runs the student's `path_patch_to_logits` (exercise 11), `name_mover_projections` (12),
`path_patch_to_heads` (13) and `s_inhibition_signal_parts` (14) with their `ioi_logit_diff` and
`ioi_metric` (exercises 1 and 6), as the paper does:

1. orig = the IOI prompts, new = `orig.abc()` (three different names); the metric is 1 on the orig run
   and 0 on the new run, measured with orig's answers.
2. Every head -> the logits (direct path only). The receivers of step 3 are the heads whose direct path
   matters most (the most negative entries): the name movers.
3. Every head -> those name movers' queries (the paper's figure: the S-inhibition heads), keys and
   values.
4. For each name mover, the student's `name_mover_projections` (exercise 12): per prompt, its attention
   from the end to the IO and to S against the projection of its output on that name's unembedding (the
   paper's Fig. 3, name_movers.png).
5. The S-inhibition heads (the senders that lower the name movers' queries most; if no sender does, the
   strongest through any input) patched at the end from prompts whose subject changed position or token
   (`s_inhibition_signal_parts`, exercise 14): the paper's appendix A, printed.

Both grids are plotted as the change in the metric (entry - 1): 0 = no effect, -1 = as broken as the
ABC run. Source: Wang et al. 2022, "Interpretability in the Wild" (https://arxiv.org/abs/2211.00593).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch import Tensor

from arena_course.display import pyplot, save_figure
from arena_course.ioi.dataset import IOIDataset
from arena_course.ioi.results import ResultSetting

# Prompts per run: path patching is 1 + 2 forward passes per head (x3 inputs), so GPT-2 gets fewer.
DEFAULT_PROMPTS = {True: 100, False: 20}  # tiny model, GPT-2 small
N_RECEIVERS = 3  # the paper's three name movers (9.9, 9.6, 10.0 in GPT-2 small)
INPUTS = ("q", "k", "v")
INPUT_NAMES = {"q": "queries", "k": "keys", "v": "values"}
ABC_SEED = 1
SMALL = 0.02  # effects smaller than this (2% of the ABC drop) are not listed in the report


def n_prompts(tiny: bool, requested: int | None = None) -> int:
    """The number of prompts for this section's result: `--prompts` if given, else the default."""
    return requested or DEFAULT_PROMPTS[bool(tiny)]


def head_name(head: tuple[int, int]) -> str:
    """(9, 6) -> "9.6", the paper's way of naming heads."""
    return f"{head[0]}.{head[1]}"


def strongest(grid: Tensor, n: int, *, negative: bool = True) -> list[tuple[tuple[int, int], float]]:
    """The n heads with the most negative (or most positive) entries of a (layer, head) grid, with them."""
    flat = grid.flatten()
    order = flat.argsort(descending=not negative)[:n]
    n_heads = grid.shape[1]
    return [((int(i) // n_heads, int(i) % n_heads), float(flat[i])) for i in order]


def strongest_in_size(grid: Tensor, n: int) -> list[tuple[tuple[int, int], float]]:
    """The n heads with the largest |entries| of a (layer, head) grid, with their (signed) entries."""
    order = grid.flatten().abs().argsort(descending=True)[:n]
    n_heads = grid.shape[1]
    return [((int(i) // n_heads, int(i) % n_heads), float(grid.flatten()[i])) for i in order]


def name_movers(effect: Tensor, n: int = N_RECEIVERS) -> list[tuple[int, int]]:
    """The receivers: the n heads whose direct path lowers the metric most (only heads that lower it)."""
    movers = [head for head, value in strongest(effect, n) if value < 0]
    return movers or [strongest(effect, 1)[0][0]]


SIGNAL_SOURCES = ("original", "position", "token", "both")  # the order of s_inhibition_signal_parts' result
N_S_INHIBITION = 4  # the paper's four S-inhibition heads (7.3, 7.9, 8.6, 8.10 in GPT-2 small)


def s_inhibition_heads(to_heads: dict[str, Tensor], receivers: list[tuple[int, int]],
                       n: int = N_S_INHIBITION) -> tuple[list[tuple[int, int]], str]:
    """The senders that feed the name movers: the n most negative entries of the queries' grid (the
    paper's S-inhibition heads), or, when no sender lowers the queries by SMALL, of the three grids summed.
    Receivers, and heads in the last receiver's layer or later (which can't reach it), are left out.
    Returns (heads, "q" or "any")."""
    last = max(layer for layer, _ in receivers)

    def pick(grid: Tensor, threshold: float) -> list[tuple[int, int]]:
        ranked = strongest(grid, grid.numel())
        return [h for h, v in ranked if v <= threshold and h not in receivers and h[0] < last][:n]

    heads = pick(to_heads["q"], -SMALL) if "q" in to_heads else []
    if heads:
        return heads, "q"
    total = sum(to_heads.values())
    return pick(total, -SMALL) or pick(total, float("inf")), "any"


def correlation(x: Tensor, y: Tensor) -> float:
    """Pearson's r of two 1-D tensors (0 when one of them is constant)."""
    x, y = x.float() - x.float().mean(), y.float() - y.float().mean()
    denominator = float(x.norm() * y.norm())
    return float((x * y).sum()) / denominator if denominator > 0 else 0.0


def copying_verdict(r: float) -> str:
    """What a correlation of attention and projection says about a head."""
    if r > 0.5:
        return "it writes the name it attends to (a copying head, as the paper's name movers)."
    if r < -0.5:
        return "it writes against the name it attends to (a negative copying head)."
    return "its output hardly follows what it attends to (not a copying head in this sense)."


@dataclass
class PathSummary:
    """What the result found: both grids (as changes of the metric), the receivers, and the files."""

    model_name: str
    tiny: bool
    n_prompts: int
    clean_logit_diff: float
    abc_logit_diff: float
    to_logits: Tensor  # (layer, head): metric - 1, sender -> logits
    receivers: list[tuple[int, int]]
    to_heads: dict[str, Tensor]  # "q"/"k"/"v" -> (layer, head): metric - 1, sender -> receivers' input
    # Each name mover -> (attention, projection), each (2, batch): rows IO and S (exercise 12).
    movers: dict[tuple[int, int], tuple[Tensor, Tensor]] = field(default_factory=dict)
    s_inhibition: list[tuple[int, int]] = field(default_factory=list)  # the heads patched in step 5
    s_inhibition_from: str = "q"  # the input whose grid they were picked from ("any": all three summed)
    signal_parts: Tensor | None = None  # (4,): logit difference per source of SIGNAL_SOURCES (exercise 14)
    paths: list[Path] = field(default_factory=list)

    def mover_lines(self) -> list[str]:
        """Per name mover: its mean attention to IO and S, and how its projection follows its attention."""
        lines = []
        for head, (attention, projection) in self.movers.items():
            r = correlation(attention.flatten(), projection.flatten())
            verdict = copying_verdict(r)
            if float(attention.mean(dim=1).max()) < 0.1:
                verdict = ("it hardly attends to either name, so its attention can't explain what it writes (it "
                           "reads the names from elsewhere, where earlier heads wrote them).")
            lines.append(
                f"Name mover {head_name(head)}: attention from the end to IO {float(attention[0].mean()):.2f}, to S "
                f"{float(attention[1].mean()):.2f} (mean); projection on IO's unembedding {float(projection[0].mean()):+.2f}, "
                f"on S's {float(projection[1].mean()):+.2f}; correlation of attention and projection (IO and S "
                f"dots together) r = {r:+.2f}: " + verdict
            )
        return lines

    def signal_lines(self) -> list[str]:
        """The S-inhibition heads' logit differences per source, and the two signals' shares."""
        if self.signal_parts is None:
            return []
        v = dict(zip(SIGNAL_SOURCES, self.signal_parts.tolist()))
        picked = ("the senders that lower the name movers' queries most" if self.s_inhibition_from == "q" else
                  "the strongest senders to the name movers through any input (none lowers their queries by "
                  f"{SMALL} or more)")
        return [
            f"S-inhibition heads ({picked}): {', '.join(head_name(h) for h in self.s_inhibition)}. Their output at "
            f"the end patched from other prompts: logit difference {v['original']:.2f} as it is, "
            f"{v['position']:.2f} with the subject's first mention moved (position signal: {v['original'] - v['position']:+.2f}), "
            f"{v['token']:.2f} with other names (token signal: {v['original'] - v['token']:+.2f}), {v['both']:.2f} "
            f"with both ({v['original'] - v['both']:+.2f}).",
        ]

    def report(self) -> list[str]:
        """Lines to print: the numbers, the files, and what to look for."""
        fmt = lambda pairs: ", ".join(f"{head_name(h)} ({v:+.2f})" for h, v in pairs)  # noqa: E731
        lines = [
            f"{self.model_name}, {self.n_prompts} prompts: logit difference {self.clean_logit_diff:.2f} on the IOI "
            f"prompts, {self.abc_logit_diff:.2f} on the ABC prompts (metric 1 and 0; entries below are metric - 1).",
            f"Sender -> logits: most negative {fmt(strongest(self.to_logits, 5))}; "
            f"most positive {fmt(strongest(self.to_logits, 2, negative=False))}.",
            f"Receivers (the name movers, from the first plot): {', '.join(head_name(h) for h in self.receivers)}.",
        ]
        for inp, grid in self.to_heads.items():
            big = [(h, v) for h, v in strongest_in_size(grid, 4) if abs(v) >= SMALL]
            lines.append(f"Sender -> their {INPUT_NAMES[inp]}: " + (f"strongest {fmt(big)}" if big else
                         f"no sender above {SMALL} in size") + f"; total |effect| {float(grid.abs().sum()):.2f}.")
        lines += self.mover_lines() + self.signal_lines()
        lines += [f"Wrote {path}" for path in self.paths]
        lines.append(
            "Look for: in the first plot a few heads well below 0, the name movers (GPT-2 small: 9.9, 9.6, 10.0; "
            "10.7 and 11.10, the negative name movers, above 0). In the second, the heads that feed them: "
            "through the queries, the S-inhibition heads (GPT-2 small: 7.3, 7.9, 8.6, 8.10). In name_movers.png, "
            "GPT-2's name movers attend to IO far more than to S and their projection on a name rises with their "
            "attention to it (the paper's Fig. 3); moving the subject's first mention, or changing the names, "
            "lowers the logit difference through the S-inhibition heads (both signals matter; the paper's "
            "appendix A)."
        )
        if self.tiny:
            lines.append(
                "The tiny model found its own circuit, not GPT-2's: compare the three panels to see which input "
                "of its name movers carries the information from earlier heads (its name movers' queries hardly "
                "depend on earlier heads, as the query patching of section 3 showed). The lines above say, from the "
                "numbers, whether its name movers copy what they attend to and which signal its S-inhibition "
                "candidates carry; its heads need not do what GPT-2's do."
            )
        return lines


def ioi_metric_of(
    model,
    orig: IOIDataset,
    new: IOIDataset,
    ioi_logit_diff: Callable,
    ioi_metric: Callable,
) -> tuple[Callable[[Tensor], Tensor], float, float]:
    """The metric of a patched orig run (1 = orig, 0 = new, both measured with orig's answers), and the two
    logit differences."""
    with torch.no_grad():
        clean = float(ioi_logit_diff(model(orig.toks), orig))
        abc = float(ioi_logit_diff(model(new.toks), orig))
    return partial(ioi_metric, data=orig, clean_logit_diff=clean, corrupted_logit_diff=abc), clean, abc


def plot_grid(ax, grid: Tensor, *, title: str, vmax: float, marked: list[tuple[int, int]] = ()):
    """A (layer, head) heatmap of metric changes, red below 0, blue above, with the `marked` heads boxed."""
    n_layers, n_heads = grid.shape
    image = ax.imshow(grid.numpy(), cmap="RdBu", vmin=-vmax, vmax=vmax, aspect="auto")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_xticks(range(n_heads))
    ax.set_yticks(range(n_layers))
    if n_layers * n_heads <= 48:
        for layer in range(n_layers):
            for head in range(n_heads):
                value = float(grid[layer, head])
                ax.text(head, layer, f"{value:+.2f}", ha="center", va="center", fontsize=8,
                        color="white" if abs(value) > 0.6 * vmax else "black")
    for layer, head in marked:
        ax.add_patch(pyplot().Rectangle((head - 0.5, layer - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2))
    return image


def plot_to_logits(summary: PathSummary, path: Path) -> Path:
    plt = pyplot()
    n_layers, n_heads = summary.to_logits.shape
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * n_heads + 2.5, 1.5 + 0.4 * n_layers))
    vmax = max(float(summary.to_logits.abs().max()), 1e-3)
    image = plot_grid(ax, summary.to_logits, vmax=vmax, marked=summary.receivers,
                      title="each head -> logits (direct path only)")
    fig.colorbar(image, ax=ax, label="change in the IOI metric\n(-1 = as broken as the ABC run)")
    fig.suptitle(f"Path patching, {summary.model_name}, {summary.n_prompts} prompts\n"
                 f"boxed: the name movers (receivers of the next plot)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_to_heads(summary: PathSummary, path: Path) -> Path:
    plt = pyplot()
    n_layers, n_heads = summary.to_logits.shape
    panels = list(summary.to_heads.items())
    fig, axes = plt.subplots(1, len(panels), figsize=(len(panels) * (1.5 + 0.45 * n_heads) + 1.5, 2.0 + 0.4 * n_layers),
                             squeeze=False, constrained_layout=True)
    vmax = max(max(float(g.abs().max()) for _, g in panels), 1e-3)
    for i, (ax, (inp, grid)) in enumerate(zip(axes[0], panels)):
        image = plot_grid(ax, grid, vmax=vmax, marked=summary.receivers,
                          title=f"-> their {INPUT_NAMES[inp]}" + (" (the paper's plot)" if inp == "q" else ""))
        if i:
            ax.set_ylabel("")
    fig.colorbar(image, ax=list(axes[0]), label="change in the IOI metric")
    movers = ", ".join(head_name(h) for h in summary.receivers)
    fig.suptitle(f"Path patching each head -> the name movers {movers} (boxed)\n"
                 f"{summary.model_name}, {summary.n_prompts} prompts", fontsize=10)
    return save_figure(fig, path)


def plot_name_movers(summary: PathSummary, path: Path) -> Path:
    """The paper's Fig. 3, one panel per name mover: per prompt, the attention from the end to a name
    against the projection of the head's output on that name's unembedding; IO and S in two colours."""
    plt = pyplot()
    movers = list(summary.movers.items())
    fig, axes = plt.subplots(1, len(movers), figsize=(4.2 * len(movers) + 0.6, 4.0), squeeze=False)
    for ax, (head, (attention, projection)) in zip(axes[0], movers):
        for row, (label, colour) in enumerate((("IO", "tab:blue"), ("S", "tab:red"))):
            ax.scatter(attention[row].tolist(), projection[row].tolist(), s=12, alpha=0.6, color=colour,
                       label=f"{label} (mean attention {float(attention[row].mean()):.2f})")
        ax.axhline(0, color="0.6", lw=0.7)
        r = correlation(attention.flatten(), projection.flatten())
        ax.set_title(f"head {head_name(head)}: r = {r:+.2f}", fontsize=10)
        ax.set_xlabel("attention probability from the end to the name")
        ax.set_xlim(-0.03, 1.03)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("head output at the end . W_U[:, name]")
    fig.suptitle(f"Name movers: what they attend to against what they write ({summary.model_name}, "
                 f"{summary.n_prompts} prompts)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def run_result(
    setting: ResultSetting,
    *,
    ioi_logit_diff: Callable,
    ioi_metric: Callable,
    path_patch_to_logits: Callable,
    path_patch_to_heads: Callable,
    name_mover_projections: Callable,
    s_inhibition_signal_parts: Callable,
    out_dir: Path,
    inputs: tuple[str, ...] = INPUTS,
    n_receivers: int = N_RECEIVERS,
    progress: bool = True,
) -> PathSummary:
    """Run section 4's result with the given (student's) functions and write the two plots."""
    model, orig = setting.model, setting.clean
    new = orig.abc(seed=ABC_SEED)
    metric, clean, abc = ioi_metric_of(model, orig, new, ioi_logit_diff, ioi_metric)

    # Every head's z on both runs, once: both functions accept them (and compute them if not given).
    names = lambda name: name.endswith("attn.hook_z")  # noqa: E731
    with torch.no_grad():
        _, orig_cache = model.run_with_cache(orig.toks, names_filter=names, return_type=None)
        _, new_cache = model.run_with_cache(new.toks, names_filter=names, return_type=None)

    n_heads = model.cfg.n_layers * model.cfg.n_heads
    say = print if progress else (lambda *a, **k: None)
    say(f"Path patching {n_heads} senders -> logits ({setting.model_name}, {len(orig)} prompts)...", flush=True)
    to_logits = path_patch_to_logits(model, orig, new, metric, orig_cache, new_cache).detach().cpu().float() - 1
    receivers = name_movers(to_logits, n_receivers)

    to_heads = {}
    for inp in inputs:
        say(f"Path patching {n_heads} senders -> the name movers' {INPUT_NAMES[inp]}...", flush=True)
        grid = path_patch_to_heads(model, orig, new, metric, receivers, inp, orig_cache, new_cache)
        to_heads[inp] = grid.detach().cpu().float() - 1

    summary = PathSummary(setting.model_name, setting.tiny, len(orig), clean, abc, to_logits, receivers, to_heads)

    say("The name movers' attention against what they write ...", flush=True)
    with torch.no_grad():
        _, cache = model.run_with_cache(orig.toks)
        for head in receivers:
            attention, projection = name_mover_projections(model, cache, orig, head)
            summary.movers[head] = (attention.detach().cpu().float(), projection.detach().cpu().float())
    if summary.to_heads:
        summary.s_inhibition, summary.s_inhibition_from = s_inhibition_heads(summary.to_heads, receivers)
        say(f"Patching the S-inhibition heads {', '.join(head_name(h) for h in summary.s_inhibition)} from moved "
            "and renamed subjects ...", flush=True)
        with torch.no_grad():
            summary.signal_parts = s_inhibition_signal_parts(model, orig, summary.s_inhibition).detach().cpu().float()

    summary.paths = [
        plot_to_logits(summary, Path(out_dir) / f"path_patch_logits{setting.suffix}.png"),
        plot_to_heads(summary, Path(out_dir) / f"path_patch_heads{setting.suffix}.png"),
        plot_name_movers(summary, Path(out_dir) / f"name_movers{setting.suffix}.png"),
    ]
    return summary
