"""Chapter 3, section 5 (what a function vector carries): the section's result.

The result (`python exercises/3_function_vectors/15_function_vector_algebra.py [--tiny]`) builds a task's
function vector with the student's exercises 08-09 and then runs exercises 13-15 on it, on GPT-J-6B (NDIF
with NDIF_API_KEY, or a local copy) or with --tiny on the chapter's tiny GPT-J:

- portability (13): top-1 accuracy without and with the FV on prompt forms it wasn't built from (a bar chart);
- decoded vocabulary (14): each task's FV through ln_f and the unembedding, its top tokens (a table);
- vector algebra (15): on "the task applied to the first word of a list", ICL, zero-shot, FV(A->C) and
  FV(A->B) + FV(B->C) compared by accuracy.

Every FV uses one set of heads, the task's top k by causal indirect effect (Todd et al. also use one set
for all tasks, chosen by the effect averaged over tasks).
"""

from __future__ import annotations

import argparse
import random
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
from arena_course.function_vectors.vectors import ambiguous_queries

# Prompt forms for portability: the first is the form the FV is built from; the others it never saw. The tiny
# model's use only its own vocabulary (its last is a sentence of words it knows, in an order it never saw).
GPTJ_TEMPLATES = ("Q: {x}\nA:", "{x} :", 'The word "{x}" means', "When I think of {x}, I usually think of")
TINY_TEMPLATES = ("Q: {x}\nA:", "{x} :", "{x}", "I think the {x} is")
ALGEBRA_NAMES = ("ICL", "zero-shot", "FV(A->C)", "FV(A->B) + FV(B->C)")


@dataclass
class FVPropertiesSetup(ModelSetting):
    """What section 5's result runs on: the task and its clean ICL prompts (for the heads and its FV), the
    pairs and prompt forms of the portability test, the composed tasks, and where and how much to add."""

    task: str
    dataset: ICLDataset  # clean ICL prompts of the task: the heads' effects and its FV
    pairs: list[tuple[str, str]]  # the portability test's (x, y)
    templates: tuple[str, ...]
    first: ICLDataset  # A -> B: the first word of a list (ICL prompts, for its FV)
    first_then_task: ICLDataset  # A -> C: the task applied to the first word (ICL prompts, for its FV)
    composite: ICLDataset  # A -> C again, other prompts: the algebra is measured on them
    layer: int
    k: int
    n_tokens: int = 10  # decoded tokens per task


@dataclass
class FVPropertiesSummary:
    top_heads: list[tuple[int, int]]
    portability: list[tuple[str, float, float]]  # (template, accuracy without, accuracy with)
    decoded: dict[str, list[str]]  # task -> its FV's top tokens
    decoded_in_task: dict[str, int]  # task -> how many of them are the task's answers
    algebra: list[tuple[str, float]]  # (name, accuracy), in ALGEBRA_NAMES' order
    path: Path
    report: str


def fv_properties_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of section 5's result (exercise 15's `__main__`)."""
    parser = result_parser(
        "What a function vector carries: the FV (exercises 08-09) on prompt forms it wasn't built from (13), "
        "its decoded vocabulary (14) and FV algebra on a composed task (15), on GPT-J-6B (NDIF with NDIF_API_KEY, "
        "or a local copy) or with --tiny on a tiny GPT-J.",
        "a tiny GPT-J trained on the chapter's prompts (no download)",
    )
    add_function_vector_options(parser, "each FV")
    return parser.parse_args(argv)


def list_pairs(task: str, size: int, *, n_items: int = 3, then_task: bool = False, seed: int = 0) -> list[tuple[str, str]]:
    """`size` pairs ("a, b, c", a) of lists of the task's query words (distinct lists), or with `then_task`
    ("a, b, c", the task's answer for a): the tasks A -> B and A -> C of the vector-algebra test. The FIRST
    word: a model that ignores the task answers for the word next to "A:", the last."""
    table = dict(load_word_pairs(task))
    words, rng, pairs = sorted(table), random.Random(seed), {}
    while len(pairs) < size:
        items = rng.sample(words, n_items)
        pairs[", ".join(items)] = table[items[0]] if then_task else items[0]
    return list(pairs.items())


def fv_properties_setup(args: argparse.Namespace, *, load: Callable[..., Any] | None = None) -> FVPropertiesSetup:
    """GPT-J-6B (remote on NDIF with NDIF_API_KEY, else from the Hugging Face cache) with Todd et al.'s
    settings, or with `args.tiny` the chapter's tiny trained GPT-J (`trained_tiny_icl_gptj`, cached).

    Raises:
        ModelUnavailable: one line, when GPT-J can be had neither way.
    """
    if args.tiny:
        task = args.task or "singular_plural"
        model, remote, templates = trained_tiny_icl_gptj(), False, TINY_TEMPLATES
        config = model.config
        name = f"a tiny GPT-J ({config.n_layer} blocks of {config.n_head} heads) trained on ICL prompts"
        n_prepended, defaults = 5, dict(prompts=32, heads=5, layer=1)
        # Queries that belong to two tasks ("cat": chat or cats): without examples the model has to guess.
        pairs = ambiguous_queries(task) or list(load_word_pairs(task))
    else:
        task = args.task or "antonyms"
        device = "cuda" if torch.cuda.is_available() else "cpu"
        model, remote = load_or_say_tiny(load, "15_function_vector_algebra.py", device=device)
        name, templates = "GPT-J-6B" + (" on NDIF" if remote else ""), GPTJ_TEMPLATES
        n_prepended, defaults = 10, dict(prompts=20, heads=10, layer=9)
        pairs = list(load_word_pairs(task))
    size = args.prompts or defaults["prompts"]
    return FVPropertiesSetup(
        model=model, remote=remote, tiny=args.tiny, name=name, task=task,
        dataset=ICLDataset(load_word_pairs(task), size, n_prepended, seed=0),
        pairs=pairs, templates=templates,
        first=ICLDataset(list_pairs(task, 60, seed=0), size, n_prepended, seed=0),
        first_then_task=ICLDataset(list_pairs(task, 60, then_task=True, seed=0), size, n_prepended, seed=0),
        composite=ICLDataset(list_pairs(task, 60, then_task=True, seed=1), 24, n_prepended, seed=1),
        layer=defaults["layer"] if args.layer is None else args.layer,
        k=args.heads or defaults["heads"],
    )


def plot_portability(rows: list[tuple[str, float, float]], title: str, path: Path) -> Path:
    """Accuracy without and with the FV, one pair of bars per prompt form."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [w for _, w, _ in rows], width=0.4, label="without the FV", color="#9e9e9e")
    ax.bar([x + 0.2 for x in xs], [f for _, _, f in rows], width=0.4, label="with the FV", color="#1f77b4")
    ax.set_xticks(list(xs), [repr(t)[1:-1].replace("{x}", "x") for t, _, _ in rows], rotation=12, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("top-1 accuracy")
    ax.legend()
    ax.set_title("\n".join(textwrap.wrap(title, 90)), fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def run_fv_properties_result(
    setup: FVPropertiesSetup,
    *,
    head_indirect_effects: Callable,
    function_vector: Callable,
    fv_accuracy: Callable,
    decode_function_vector: Callable,
    function_vector_algebra: Callable,
    out_dir: Path,
) -> FVPropertiesSummary:
    """Section 5's result: portability, decoded vocabulary and vector algebra of the task's FV."""
    quiet_transformers()
    model, remote, k = setup.model, setup.remote, setup.k
    with torch.no_grad():
        effects = head_indirect_effects(model, setup.dataset, remote=remote).detach().float().cpu()
        n_heads = effects.shape[1]
        top_heads = [(int(i) // n_heads, int(i) % n_heads) for i in effects.flatten().topk(k).indices]

        def fv_of(dataset: ICLDataset) -> Tensor:  # the same heads for every task, as Todd et al.
            return function_vector(model, dataset, effects, k, remote=remote).detach()

        fv = fv_of(setup.dataset)
        portability = []
        for template in setup.templates:
            without, with_fv = fv_accuracy(model, template, setup.pairs, fv, setup.layer, remote=remote)
            portability.append((template, float(without.float().mean()), float(with_fv.float().mean())))

        decoded, decoded_in_task = {}, {}
        for task in task_names():
            task_fv = fv if task == setup.task else fv_of(ICLDataset(load_word_pairs(task), len(setup.dataset),
                                                                     setup.dataset.n_prepended, seed=0))
            ids, _ = decode_function_vector(model, task_fv, setup.n_tokens, remote=remote)
            decoded[task] = [model.tokenizer.decode([int(i)]) for i in ids]
            answers = {y for _, y in load_word_pairs(task)}
            decoded_in_task[task] = sum(t.strip() in answers for t in decoded[task])

        accuracies = function_vector_algebra(model, setup.composite, fv_of(setup.first_then_task), fv_of(setup.first),
                                             fv, setup.layer, remote=remote)
        algebra = list(zip(ALGEBRA_NAMES, (float(a) for a in accuracies)))

    path = plot_portability(
        portability,
        f"The {setup.task} function vector on prompt forms it wasn't built from ({setup.name}; {len(setup.pairs)} "
        f"queries; FV of {k} heads added to block {setup.layer}'s output at the last position)",
        Path(out_dir) / f"fv_portability{setup.suffix}.png",
    )
    report = _report(setup, top_heads, portability, decoded, decoded_in_task, algebra)
    return FVPropertiesSummary(top_heads, portability, decoded, decoded_in_task, algebra, path, report)


def _report(setup, top_heads, portability, decoded, decoded_in_task, algebra) -> str:
    n = setup.n_tokens
    lines = [
        f"What a function vector carries, on {setup.name}: task {setup.task}; every FV is the sum of the same {setup.k} "
        "heads (the task's top causal indirect effects, layer.head: " + ", ".join(f"{l}.{h}" for l, h in top_heads) + "), added "
        f"to block {setup.layer}'s output at the last position.",
        "",
        f"Portability: top-1 accuracy on {len(setup.pairs)} {setup.task} queries, without -> with the FV",
    ]
    for i, (template, without, with_fv) in enumerate(portability):
        origin = " (the form it was built from)" if i == 0 else ""
        lines.append(f"  {repr(template)[1:-1]:<42} {without:5.0%} -> {with_fv:5.0%}{origin}")
    lines += ["", f"Decoded vocabulary: each task's FV through ln_f and the unembedding, its top {n} tokens "
              "(in brackets: how many are answers of that task)"]
    for task, tokens in decoded.items():
        lines.append(f"  {task:<16} [{decoded_in_task[task]}/{n}] " + " ".join(t.strip() or repr(t) for t in tokens))
    lines += ["", f"Vector algebra: A -> B = the first word of a list, B -> C = {setup.task}, A -> C = {setup.task} of "
              f"the first word; top-1 accuracy on {len(setup.composite)} A -> C prompts:"]
    lines += [f"  {name:<22} {accuracy:5.0%}" for name, accuracy in algebra]
    lines += ["", *_what_it_shows(setup, portability, decoded_in_task, dict(algebra))]
    return "\n".join(lines)


def _what_it_shows(setup, portability, decoded_in_task, algebra) -> list[str]:
    """The plain reading of the numbers: computed from them, so it stays true when the model changes."""
    gains = [(t, f - w) for t, w, f in portability]
    helped = [f'"{repr(t)[1:-1]}" ({100 * g:+.0f})' for t, g in gains[1:] if g > 0.05]
    mostly_task = [t for t, c in decoded_in_task.items() if c >= setup.n_tokens // 2]
    icl, zero = algebra["ICL"], algebra["zero-shot"]
    direct, summed = algebra["FV(A->C)"], algebra["FV(A->B) + FV(B->C)"]
    lines = [
        f"Portability (in accuracy points): the FV changes accuracy by {100 * gains[0][1]:+.0f} on the form it was "
        "built from; "
        + (f"on the others, {', '.join(helped)}" + (" (less than there)." if max(g for _, g in gains[1:]) < gains[0][1]
                                                     else ".")
           if helped else "on no other form does it help by more than 5 points."),
        f"Decoded vocabulary: for {len(mostly_task)} of {len(decoded_in_task)} tasks at least half the top tokens are "
        "the task's answers" + (f" ({', '.join(mostly_task)})." if mostly_task else "."),
    ]
    if icl < 0.2:
        lines.append(f"Algebra: the model can't do the composed task even with examples (ICL {icl:.0%}), so there is "
                     "nothing for either vector to bring out: the comparison says nothing here.")
    else:
        lines.append(f"Algebra: FV(A->B) + FV(B->C) gives {summed:.0%} against {direct:.0%} for FV(A->C), {zero:.0%} "
                     f"zero-shot and {icl:.0%} with examples.")
    if setup.tiny:
        caveat = (
            "On the tiny model: it was trained on \"Q: x\\nA: y\" prompts only, so the other forms are text it has "
            "never seen, and what the FV does there says little about portability in a language model; the "
            "queries are the ones two tasks share (cat: chat or cats), so without examples it has to guess. It has "
            "never seen a list either, so the algebra test shows whether it can do the composed task at all, not "
            "what GPT-J does."
        )
        if len(mostly_task) > len(decoded_in_task) // 2:
            caveat += (" The decoded vocabulary is the part that carries over: its output space is the tasks' answer "
                       "words, and FVs whose top tokens are their task's answers are what Todd et al.'s table shows.")
        else:
            caveat += (" Above all, its top heads carry \"the examples are consistent\" rather than the task (it was "
                       "trained to answer \".\" when they are not; section 3's result), so its FV has little of the task "
                       "in it to decode or to carry to another form. Todd et al.'s table, FVs that decode to their "
                       "task's answers, is GPT-J's.")
        lines += ["", caveat]  # one line: `arena results` wraps it at words to the terminal's width
    return lines
