"""Chapter 2, section 3 (activation patching): the section's result.

`run_result` runs the student's functions of exercises 6-10 (`ioi_metric`, `patch_residual_stream`,
`patch_blocks`, `patch_head_outputs`, `patch_head_vectors`, plus the given `ioi_logit_diff`) on a result setting
(GPT-2 small, or with --tiny a small model trained on IOI), always patching CLEAN activations INTO the
CORRUPTED run, with the corrupted prompts `clean.flipped()` (S2 replaced by the other name, so the
answer flips), and draws:

- patch_resid.png: the layer x position map of residual-stream patching. Positions mean the same thing
  in every prompt only if the prompts line up, so this sweep runs on prompts of one template (BABA), each
  position labelled by its role (S1, IO, S2, end) or its token.
- patch_blocks.png: the same sweep for each block's residual stream (input), attention output and MLP
  output, side by side: which component moves the information from S2 to the end.
- patch_heads.png: layer x head maps of patching head outputs (z), queries, keys, values and patterns,
  on the mixed prompts of the setting, on one colour scale.

`describe` turns the numbers into a few printed lines: where the information sits, layer by layer, and
which heads restore the most.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from arena_course.display import pyplot, save_figure
from arena_course.ioi.dataset import BABA_TEMPLATES, IOIDataset
from arena_course.ioi.results import ResultSetting

# The head activations of patch_heads.png, in order: exercise 9's output, then exercise 10's four.
HEAD_ACTIVATIONS: tuple[str, ...] = ("output", "q", "k", "v", "pattern")
HEAD_TITLES = {
    "output": "head output (z)",
    "q": "queries",
    "k": "keys",
    "v": "values",
    "pattern": "attention pattern",
}
ROLES: tuple[str, ...] = ("IO", "S1", "S2", "end")
# The components of patch_blocks.png, in the order of exercise 8's grid.
BLOCK_COMPONENTS: tuple[str, ...] = ("resid_pre", "attn_out", "mlp_out")
BLOCK_TITLES = {"resid_pre": "residual stream (block input)", "attn_out": "attention output", "mlp_out": "MLP output"}


@dataclass
class PatchingSummary:
    """What the section's result computed (metric values: 0 = corrupted run, 1 = clean run)."""

    model_name: str
    tiny: bool
    clean_logit_diff: float  # on the setting's prompts
    corrupted_logit_diff: float  # the corrupted run, measured with the clean prompts' answers
    n_prompts: int
    resid: Tensor  # (n_layers, seq): residual-stream patching on one-template prompts
    resid_labels: list[str]  # one label per position of `resid`
    resid_baselines: tuple[float, float]  # clean / corrupted logit difference of those prompts
    blocks: Tensor  # (3, n_layers, seq): BLOCK_COMPONENTS patched by layer and position, same prompts
    heads: dict[str, Tensor]  # HEAD_ACTIVATIONS -> (n_layers, n_heads)
    paths: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------- data and metric


def one_template_prompts(tokenizer: Any, n_prompts: int, seed: int = 0, template: str = BABA_TEMPLATES[0]) -> IOIDataset:
    """`n_prompts` BABA prompts of a single template: all the same length, each role at the same position
    in every prompt, so that a position of the residual-stream sweep means one thing."""
    return IOIDataset.generate(tokenizer, n_prompts, order="BABA", seed=seed, templates=(template,))


def position_labels(data: IOIDataset) -> list[str]:
    """A label for every position of `data.toks`: its role where every prompt has a role there (IO, S1,
    S2; "to (end)" for the end; "IO/S1" where prompts differ), else its token where every prompt has the
    same token, else "[PLACE]" / "[OBJECT]", or "·" (positions that differ between prompts otherwise)."""
    tokenizer, n, seq = data.tokenizer, len(data), data.toks.shape[1]
    role_at: list[list[str | None]] = [[None] * seq for _ in range(n)]
    for role in ROLES:
        for i, pos in enumerate(data.word_idx[role].tolist()):
            role_at[i][pos] = role
    slots: dict[int, str] = {}  # positions of the place and object words
    for i, p in enumerate(data.prompts):
        for word, slot in ((p.place, "[PLACE]"), (p.object, "[OBJECT]")):
            ids = tokenizer.encode(" " + word, add_special_tokens=False)
            for pos, tok in enumerate(data.toks[i].tolist()):
                if len(ids) == 1 and tok == ids[0] and role_at[i][pos] is None:
                    slots.setdefault(pos, slot)
    labels = []
    for pos in range(seq):
        column = data.toks[:, pos]
        same_token = bool((column == column[0]).all())
        token = tokenizer.decode([int(column[0])]).strip()
        roles = {role_at[i][pos] for i in range(n)}
        if None not in roles:
            names = sorted(roles, key=ROLES.index)
            labels.append(f"{token} (end)" if names == ["end"] and same_token else "/".join(names))
        elif same_token:
            labels.append(token)
        else:
            labels.append(slots.get(pos, "·"))
    return labels


def baselines(model, clean: IOIDataset, corrupted: IOIDataset, ioi_logit_diff: Callable) -> tuple[float, float, Any]:
    """The clean run's logit difference, the corrupted run's (measured with the CLEAN answers), and the
    clean cache."""
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(clean.toks)
        corrupted_logits = model(corrupted.toks)
    clean_ld = float(ioi_logit_diff(clean_logits, clean))
    corrupted_ld = float(ioi_logit_diff(corrupted_logits, clean))
    return clean_ld, corrupted_ld, clean_cache


# --------------------------------------------------------------------------- the result


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, flush=True)


def run_result(
    setting: ResultSetting,
    *,
    ioi_logit_diff: Callable,
    ioi_metric: Callable,
    patch_residual_stream: Callable,
    patch_blocks: Callable,
    patch_head_outputs: Callable,
    patch_head_vectors: Callable,
    out_dir: Path,
    progress: bool = True,
    seed: int = 0,
) -> PatchingSummary:
    """Run the section's patching sweeps with the given (student's) functions and write both plots.

    Residual-stream patching runs on `len(setting.clean)` one-template prompts (positions line up); the
    head sweeps on the setting's own mixed prompts. Returns the numbers and the paths written.
    """
    model = setting.model
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads

    # Residual stream, on prompts of one template.
    resid_clean = one_template_prompts(model.tokenizer, len(setting.clean), seed=seed)
    resid_corrupted = resid_clean.flipped()
    r_clean_ld, r_corrupted_ld, r_cache = baselines(model, resid_clean, resid_corrupted, ioi_logit_diff)
    resid_metric = partial(ioi_metric, data=resid_clean, clean_logit_diff=r_clean_ld, corrupted_logit_diff=r_corrupted_ld)
    seq = resid_clean.toks.shape[1]
    _say(progress, f"Patching the residual stream: {n_layers} layers x {seq} positions = {n_layers * seq} runs ...")
    with torch.no_grad():
        resid = _grid(patch_residual_stream(model, resid_corrupted.toks, r_cache, resid_metric), (n_layers, seq),
                      "patch_residual_stream")
    _say(progress, f"Patching each block's residual stream, attention and MLP output: {3 * n_layers * seq} runs ...")
    with torch.no_grad():
        blocks = patch_blocks(model, resid_corrupted.toks, r_cache, resid_metric)
        if not isinstance(blocks, Tensor) or tuple(blocks.shape) != (3, n_layers, seq):
            got = tuple(blocks.shape) if isinstance(blocks, Tensor) else type(blocks).__name__
            raise ValueError(f"patch_blocks returned {got}, expected a tensor of shape {(3, n_layers, seq)}")
        blocks = blocks.detach().float().cpu()

    # Heads, on the setting's prompts (all templates; each head is patched at every position).
    clean, corrupted = setting.clean, setting.clean.flipped()
    clean_ld, corrupted_ld, cache = baselines(model, clean, corrupted, ioi_logit_diff)
    metric = partial(ioi_metric, data=clean, clean_logit_diff=clean_ld, corrupted_logit_diff=corrupted_ld)
    heads: dict[str, Tensor] = {}
    for activation in HEAD_ACTIVATIONS:
        _say(progress, f"Patching {HEAD_TITLES[activation]}: {n_layers} layers x {n_heads} heads = {n_layers * n_heads} runs ...")
        with torch.no_grad():
            if activation == "output":
                grid = patch_head_outputs(model, corrupted.toks, cache, metric)
                heads[activation] = _grid(grid, (n_layers, n_heads), "patch_head_outputs")
            else:
                grid = patch_head_vectors(model, corrupted.toks, cache, metric, activation)
                heads[activation] = _grid(grid, (n_layers, n_heads), f"patch_head_vectors(..., {activation!r})")

    summary = PatchingSummary(
        model_name=setting.model_name,
        tiny=setting.tiny,
        clean_logit_diff=clean_ld,
        corrupted_logit_diff=corrupted_ld,
        n_prompts=len(clean),
        resid=resid,
        resid_labels=position_labels(resid_clean),
        resid_baselines=(r_clean_ld, r_corrupted_ld),
        blocks=blocks,
        heads=heads,
    )
    out_dir = Path(out_dir)
    summary.paths = [
        plot_resid(summary, out_dir / f"patch_resid{setting.suffix}.png"),
        plot_blocks(summary, out_dir / f"patch_blocks{setting.suffix}.png"),
        plot_heads(summary, out_dir / f"patch_heads{setting.suffix}.png"),
    ]
    return summary


def _grid(value: Any, shape: tuple[int, int], name: str) -> Tensor:
    """The student's grid as a float tensor of the expected shape, or a one-line error saying what came back."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} returned {type(value).__name__}, expected a tensor of shape {shape}")
    if tuple(value.shape) != shape:
        raise ValueError(f"{name} returned shape {tuple(value.shape)}, expected {shape}")
    return value.detach().float().cpu()


# --------------------------------------------------------------------------- plots


def _scale(*grids: Tensor) -> float:
    """A symmetric colour limit: at least 1 (the clean run), more if some patch overshoots."""
    return max([1.0, *(float(g.abs().max()) for g in grids)])


def _annotate(ax, grid: Tensor, vmax: float, fontsize: float) -> None:
    for (i, j), v in zip(torch.cartesian_prod(torch.arange(grid.shape[0]), torch.arange(grid.shape[1])).tolist(),
                         grid.flatten().tolist()):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=fontsize,
                color="white" if abs(v) > 0.6 * vmax else "black")


def plot_resid(summary: PatchingSummary, path: Path) -> Path:
    """The layer x position heatmap of residual-stream patching, positions labelled by role or token."""
    plt = pyplot()
    grid, labels = summary.resid, summary.resid_labels
    n_layers, seq = grid.shape
    vmax = _scale(grid)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.55 * seq + 2.5), max(3.2, 0.42 * n_layers + 2.2)))
    im = ax.imshow(grid, cmap="RdBu", vmin=-vmax, vmax=vmax, aspect="auto")
    ax.set_xticks(range(seq), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n_layers))
    ax.set_xlabel("position (role or token)")
    ax.set_ylabel("layer (patched at resid_pre)")
    if grid.numel() <= 250:
        _annotate(ax, grid, vmax, 7 if grid.numel() <= 100 else 5)
    clean_ld, corrupted_ld = summary.resid_baselines
    ax.set_title(
        f"Residual stream patching, clean -> corrupted: {summary.model_name}\n"
        f"{summary.n_prompts} BABA prompts of one template; logit diff clean {clean_ld:.2f}, corrupted "
        f"{corrupted_ld:.2f}; 0 = corrupted, 1 = clean",
        fontsize=9,
    )
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02, label="IOI metric")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_blocks(summary: PatchingSummary, path: Path) -> Path:
    """Three layer x position heatmaps side by side (residual stream, attention output, MLP output), one
    colour scale, positions labelled as in patch_resid.png."""
    plt = pyplot()
    _, n_layers, seq = summary.blocks.shape
    vmax = _scale(summary.blocks)
    width = max(5.0, 0.36 * seq + 1.5)
    fig, axes = plt.subplots(1, 3, figsize=(3 * width + 1.0, max(3.2, 0.4 * n_layers + 2.4)), squeeze=False,
                             layout="constrained")
    for ax, component, grid in zip(axes[0], BLOCK_COMPONENTS, summary.blocks):
        im = ax.imshow(grid.numpy(), cmap="RdBu", vmin=-vmax, vmax=vmax, aspect="auto")
        ax.set_title(BLOCK_TITLES[component], fontsize=10)
        ax.set_xticks(range(seq), summary.resid_labels, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(n_layers))
        if grid.numel() <= 120:
            _annotate(ax, grid, vmax, 6)
    axes[0][0].set_ylabel("layer")
    fig.colorbar(im, ax=list(axes[0]), fraction=0.02, pad=0.01, label="IOI metric")
    fig.suptitle(f"Patching each block by position, clean -> corrupted: {summary.model_name}, {summary.n_prompts} "
                 "BABA prompts of one template (0 = corrupted, 1 = clean)", fontsize=10)
    return save_figure(fig, path)


def block_lines(summary: PatchingSummary) -> list[str]:
    """Per component, where patching it restores the most; and which of attention and MLP restores more at
    the end, summed over layers."""
    labels = summary.resid_labels
    end = next((i for i, label in enumerate(labels) if label.endswith("(end)")), len(labels) - 1)
    lines = []
    for component, grid in zip(BLOCK_COMPONENTS[1:], summary.blocks[1:]):
        layer, pos = divmod(int(grid.argmax()), grid.shape[1])
        title = BLOCK_TITLES[component]
        lines.append(f"{title[0].upper() + title[1:]}: restores most at layer {layer}, {labels[pos]} "
                     f"({float(grid[layer, pos]):.2f}); at the end, summed over layers, "
                     f"{float(grid[:, end].sum()):.2f}.")
    return lines


def plot_heads(summary: PatchingSummary, path: Path) -> Path:
    """One layer x head heatmap per patched activation (output, q, k, v, pattern), one colour scale."""
    plt = pyplot()
    grids = [summary.heads[a] for a in HEAD_ACTIVATIONS]
    n_layers, n_heads = grids[0].shape
    vmax = _scale(*grids)
    panel = 3.0
    height = panel * min(1.4, max(0.6, n_layers / n_heads)) + 1.0
    fig, axes = plt.subplots(1, len(grids), figsize=(panel * len(grids) + 1.0, height), squeeze=False,
                             layout="constrained")
    for ax, activation, grid in zip(axes[0], HEAD_ACTIVATIONS, grids):
        im = ax.imshow(grid, cmap="RdBu", vmin=-vmax, vmax=vmax)
        ax.set_title(HEAD_TITLES[activation], fontsize=10)
        step = 1 if n_heads <= 12 else 2
        ax.set_xticks(range(0, n_heads, step))
        ax.set_yticks(range(0, n_layers, 1 if n_layers <= 12 else 2))
        ax.set_xlabel("head")
        if grid.numel() <= 48:
            _annotate(ax, grid, vmax, 7)
    axes[0][0].set_ylabel("layer")
    fig.colorbar(im, ax=list(axes[0]), fraction=0.02, pad=0.01, label="IOI metric")
    fig.suptitle(
        f"Patching each head, clean -> corrupted: {summary.model_name}, {summary.n_prompts} prompts "
        f"(0 = corrupted, 1 = clean)",
        fontsize=10,
    )
    return save_figure(fig, path)


# --------------------------------------------------------------------------- what to print


def top_heads(grid: Tensor, k: int = 3, largest: bool = True) -> list[tuple[int, int, float]]:
    """The k heads (layer, head, value) with the largest (or smallest) values of a (layer, head) grid."""
    values, idx = grid.flatten().topk(min(k, grid.numel()), largest=largest)
    n_heads = grid.shape[1]
    return [(int(i) // n_heads, int(i) % n_heads, float(v)) for v, i in zip(values, idx)]


def _heads(entries: Sequence[tuple[int, int, float]]) -> str:
    return ", ".join(f"{layer}.{head} ({value:+.2f})" for layer, head, value in entries)


def describe(summary: PatchingSummary) -> list[str]:
    """A few printed lines: the runs' baselines, the files, where the information is, the top heads,
    and what to look for."""
    lines = [
        f"{summary.model_name}: logit difference clean {summary.clean_logit_diff:.2f}, corrupted "
        f"{summary.corrupted_logit_diff:.2f} (S2 replaced by the other name; measured with the clean answers), "
        f"{summary.n_prompts} prompts.",
        *(f"Wrote {path}" for path in summary.paths),
        "Residual stream: the position whose clean value restores the most, at each layer:",
    ]
    per_layer = [
        f"{layer}: {summary.resid_labels[int(row.argmax())]} {float(row.max()):.2f}" for layer, row in enumerate(summary.resid)
    ]
    lines += ["  " + " | ".join(per_layer[i:i + 6]) for i in range(0, len(per_layer), 6)]
    lines += block_lines(summary)
    for activation in HEAD_ACTIVATIONS:
        grid = summary.heads[activation]
        line = f"{HEAD_TITLES[activation].capitalize()}: most restoring {_heads(top_heads(grid))}"
        lowest = top_heads(grid, 2, largest=False)
        if lowest[0][2] < -0.05:
            line += f"; most negative {_heads([h for h in lowest if h[2] < -0.05])}"
        lines.append(line)
    if summary.tiny:
        lines.append(
            "Look for: the information at S2 in the first layers moving to the end position in the last one; "
            "layer-0 heads restored by their queries and patterns (at S2 they look for an earlier copy of their "
            "name, which the corruption changes), later heads by their values (they carry what was found at S2 "
            "to the end). In patch_blocks.png, the attention outputs carry the information from S2 to the end (the "
            "MLPs act on each position on its own: they can only rewrite it where it already is)."
        )
    else:
        lines.append(
            "Look for: the information at S2 in the early and middle layers moving to the end position in the "
            "later ones; the paper's name movers (9.6, 9.9, 10.0) among the head outputs that restore the most "
            "and its negative name movers (10.7, 11.10) below 0; the S-inhibition heads (7.3, 7.9, 8.6, 8.10) "
            "restored by their values, the name movers by their queries and patterns. In patch_blocks.png, the "
            "attention outputs of the middle and late layers carry the information from S2 to the end (the MLPs "
            "act on each position on its own: they can only rewrite it where it already is)."
        )
    return lines
