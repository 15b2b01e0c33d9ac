"""Chapter 3, section 3 (function vectors): the section's result.

The result (`python exercises/3_function_vectors/10_generate_with_function_vector.py [--tiny]`) runs the
student's exercises 08-10 on GPT-J-6B (NDIF with NDIF_API_KEY, or a local copy) or with --tiny on the
chapter's tiny GPT-J: each head's causal indirect effect as a heatmap, the function vector of the top k, and
zero-shot completions without and with it.

The tiny model (`function_vectors.icl_training`) was trained to answer "." (no task) when the examples'
answers are shuffled, so shuffling hides the task from it as from GPT-J, and a few heads of its last
block have clearly positive effects. Those heads carry "the examples are consistent", not the task (the
answer words still say which task it is), so their function vector does not give zero-shot prompts the
task; GPT-J's does. How the tiny model came to this, with its figures: docs/offline_models.md.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from arena_course.display import pyplot, result_parser, save_figure
from arena_course.function_vectors.models import (
    ModelSetting,
    load_or_say_tiny,
    quiet_transformers,
    trained_tiny_icl_gptj,
)
from arena_course.function_vectors.tasks import ICLDataset, add_function_vector_options, load_word_pairs, task_names


@dataclass
class FunctionVectorSetup(ModelSetting):
    """What section 3's result runs on: the model, the task's clean prompts (for the effects and the
    function vector), the zero-shot prompts to generate from, and where and how much to add."""

    task: str
    dataset: ICLDataset  # clean ICL prompts: the heads' effects and their mean outputs
    zero_shot: ICLDataset  # zero-shot prompts ("Q: x\nA:") to generate from
    layer: int  # the block whose output the function vector is added to
    k: int  # how many heads make the function vector
    max_new_tokens: int


@dataclass
class FunctionVectorSummary:
    effects: Tensor  # (n_layers, n_heads)
    top_heads: list[tuple[int, int, float]]  # (layer, head, effect), largest first
    fv: Tensor  # (d_model,)
    rows: list[tuple[str, str, str, str]]  # (query, answer, completion without, completion with)
    correct_without: int
    correct_with: int
    path: Path
    report: str


def function_vector_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of section 3's result (exercise 10's `__main__`)."""
    parser = result_parser(
        "Function vectors: each head's causal indirect effect (exercise 08), the function vector "
        "(09) and generation with it (10), on GPT-J-6B (NDIF with NDIF_API_KEY, or a local copy) or with --tiny "
        "on a tiny GPT-J.",
        "a tiny GPT-J trained on the chapter's prompts (no download)",
    )
    add_function_vector_options(parser, "the function vector")
    return parser.parse_args(argv)


def ambiguous_queries(task: str) -> list[tuple[str, str]]:
    """The task's pairs whose query word is also a query of another task ("cat": chat in english_french, cats in
    singular_plural): with no examples, nothing in the prompt says which answer is meant."""
    others = {x for t in task_names() if t != task for x, _ in load_word_pairs(t)}
    return [(x, y) for x, y in load_word_pairs(task) if x in others]


def zero_shot_prompts(task: str, size: int, *, ambiguous: bool = False, seed: int = 1) -> ICLDataset:
    """`size` zero-shot prompts ("Q: x\nA:") of the task, distinct queries; with `ambiguous`, only queries that
    belong to another task too (when the task has any)."""
    import random

    pairs = list(load_word_pairs(task))
    if ambiguous and ambiguous_queries(task):
        pairs = ambiguous_queries(task)
    chosen = random.Random(seed).sample(pairs, min(size, len(pairs)))
    data = ICLDataset(pairs, len(chosen), 0, seed=seed)
    data.queries, data.answers = [x for x, _ in chosen], [y for _, y in chosen]
    data.examples = [[] for _ in chosen]
    return data


def function_vector_setup(args: argparse.Namespace, *, load: Callable[..., Any] | None = None) -> FunctionVectorSetup:
    """GPT-J-6B (remote on NDIF with NDIF_API_KEY, else from the Hugging Face cache), or with `args.tiny` a tiny
    GPT-J trained on ICL prompts (`function_vectors.trained_tiny_icl_gptj`, shared by every section's --tiny
    result; cached under results/function_vectors after the first run).

    Raises:
        ModelUnavailable: one line, when GPT-J can be had neither way.
    """
    if args.tiny:
        task = args.task or "singular_plural"
        model, remote = trained_tiny_icl_gptj(), False
        config = model.config
        name = f"a tiny GPT-J ({config.n_layer} blocks of {config.n_head} heads) trained on ICL prompts"
        n_prepended, defaults = 5, dict(prompts=32, heads=5, layer=1, tokens=2)
    else:
        task = args.task or "antonyms"
        device = "cuda" if torch.cuda.is_available() else "cpu"
        model, remote = load_or_say_tiny(load, "10_generate_with_function_vector.py", device=device)
        name = "GPT-J-6B" + (" on NDIF" if remote else "")
        n_prepended, defaults = 10, dict(prompts=20, heads=10, layer=9, tokens=5)
    return FunctionVectorSetup(
        model=model,
        remote=remote,
        tiny=args.tiny,
        name=name,
        task=task,
        dataset=ICLDataset(load_word_pairs(task), args.prompts or defaults["prompts"], n_prepended, seed=0),
        zero_shot=zero_shot_prompts(task, 12, ambiguous=args.tiny),
        layer=defaults["layer"] if args.layer is None else args.layer,
        k=args.heads or defaults["heads"],
        max_new_tokens=defaults["tokens"],
    )


def first_word(text: str) -> str:
    """The first word of a completion, lower-cased, without punctuation: " Cold.\\n\\nQ:" -> "cold"."""
    words = text.strip().split()
    return words[0].strip(".,;:!?\"'").lower() if words else ""


def plot_head_effects(effects: Tensor, top_heads: list[tuple[int, int, float]], title: str, path: Path) -> Path:
    """The layer x head heatmap of causal indirect effects (diverging colours centred on 0), the function
    vector's heads outlined."""
    from matplotlib.patches import Rectangle

    plt = pyplot()
    effects = effects.detach().float().cpu()
    n_layers, n_heads = effects.shape
    width, height = min(max(6.5, 2.5 + 0.45 * n_heads), 12), min(max(3.8, 1.8 + 0.3 * n_layers), 12)
    fig, ax = plt.subplots(figsize=(width, height))
    bound = max(float(effects.abs().max()), 1e-12)
    image = ax.imshow(effects.numpy(), cmap="RdBu", vmin=-bound, vmax=bound, aspect="auto", origin="upper")
    for layer, head, _ in top_heads:
        ax.add_patch(Rectangle((head - 0.5, layer - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.5))
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_xticks(range(0, n_heads, 2 if n_heads > 16 else 1))
    ax.set_yticks(range(0, n_layers, 2 if n_layers > 16 else 1))
    ax.set_title("\n".join(textwrap.wrap(title, width=int(width * 11))), fontsize=9)
    fig.colorbar(image, ax=ax, label="rise in P(answer)")
    fig.tight_layout()
    return save_figure(fig, path)


def run_function_vector_result(
    setup: FunctionVectorSetup,
    *,
    head_indirect_effects: Callable,
    function_vector: Callable,
    generate_with_function_vector: Callable,
    out_dir: Path,
) -> FunctionVectorSummary:
    """Section 3's result: the heads' causal indirect effects as a heatmap, the function vector of the top k,
    and zero-shot completions without and with it."""
    quiet_transformers()
    with torch.no_grad():
        effects = head_indirect_effects(setup.model, setup.dataset, remote=setup.remote).detach().float().cpu()
        n_heads = effects.shape[1]
        flat = effects.flatten().topk(setup.k)
        top_heads = [(int(i) // n_heads, int(i) % n_heads, float(v)) for v, i in zip(flat.values, flat.indices)]
        fv = function_vector(setup.model, setup.dataset, effects, setup.k, remote=setup.remote)
        without, with_fv = generate_with_function_vector(
            setup.model, setup.zero_shot.prompts, fv, setup.layer, setup.max_new_tokens, remote=setup.remote
        )
    path = plot_head_effects(
        effects, top_heads,
        f"Causal indirect effect of each head on {setup.name}, task {setup.task} ({len(setup.dataset)} prompts). "
        f"Outlined: the {setup.k} heads of the function vector.",
        Path(out_dir) / f"head_effects{setup.suffix}.png",
    )
    rows = [(q, a, w, f) for q, a, w, f in zip(setup.zero_shot.queries, setup.zero_shot.answers, without, with_fv)]
    correct_without = sum(first_word(w) == a.lower() for _, a, w, _ in rows)
    correct_with = sum(first_word(f) == a.lower() for _, a, _, f in rows)

    def show(text: str) -> str:
        return repr(text)[1:-1]

    width = max(len(show(w)) for _, _, w, _ in rows) + 2
    lines = [
        f"Function vectors on {setup.name}: task {setup.task}, {len(setup.dataset)} clean prompts with "
        f"{setup.dataset.n_prepended} examples each.",
        "Heads with the largest causal indirect effect (layer.head: rise in P(answer)): "
        + ", ".join(f"{layer}.{head}: {value:+.3f}" for layer, head, value in top_heads),
        f"Function vector: the sum of those {setup.k} heads' outputs, norm {float(fv.norm()):.2f}; added to block "
        f"{setup.layer}'s output at the last position of every step.",
        "",
        f"Zero-shot prompts (\"Q: x\\nA:\"), {setup.max_new_tokens} greedy tokens:",
        f"  {'query':<12} {'answer':<12} {'without':<{width}} with the function vector",
    ]
    for q, a, w, f in rows:
        mark = "*" if first_word(f) == a.lower() else " "
        lines.append(f"  {q:<12} {a:<12} {show(w):<{width}} {show(f)} {mark}")
    lines += [
        "",
        f"First word right: {correct_without}/{len(rows)} without, {correct_with}/{len(rows)} with the function "
        "vector (* marks them).",
    ]
    if setup.tiny:
        clear = int((effects >= 0.05).sum())
        blocks = ", ".join(str(b) for b in sorted({layer for layer, _, value in top_heads if value >= 0.05}))
        # One line: `arena results` wraps it at words to the terminal's width.
        lines += ["", (
            f"On the tiny model: it was trained to answer \".\" (no task) when the examples' answers are shuffled, "
            f"so shuffling hides the task from it as it does from GPT-J, and {clear} heads (block {blocks or '-'}) "
            "have an effect of 0.05 or more: their mean output gives part of the answer back. "
            + ("Block 0's heads are negative: they bring the query to the last position, and their mean over prompts "
               "brings another one. " if float(effects[0].max()) < 0 else "")
            + "What the positive heads carry is \"the examples are consistent\", not the task (the answer words still "
            "say which task it is), so their function vector does not give the task to zero-shot prompts (these "
            f"queries belong to two tasks, cat: chat or cats): {correct_with}/{len(rows)} with it against "
            f"{correct_without}/{len(rows)} without. GPT-J's function-vector heads carry the task itself, and "
            "their vector turns many zero-shot answers into the task's.")]
    return FunctionVectorSummary(effects, top_heads, fv.detach().cpu(), rows, correct_without, correct_with, path,
                                 "\n".join(lines))
