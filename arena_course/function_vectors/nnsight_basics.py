"""Chapter 3, section 1 (nnsight basics): the section's result.

The result (`python exercises/3_function_vectors/03_intervene_on_output.py [--tiny]`) runs the student's
exercises 01-03 on GPT-J-6B (NDIF with NDIF_API_KEY, or a local copy) or, with `--tiny`, on a tiny GPT-J
trained on the chapter's ICL prompts (`function_vectors.models.trained_tiny_icl_gptj`, about a minute the first time,
then cached; every section's --tiny result runs on it):

- a table of the model's next-token predictions on a few ICL prompts (exercise 01), with the effect of
  zero-ablating the last layer's MLP at the last position (exercise 03);
- results/function_vectors/attention.png: the last layer's attention at the last position, per head,
  over the prompt's tokens (exercise 02).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from arena_course.display import TinySuffix, pyplot, result_parser, save_figure
from arena_course.function_vectors.models import trained_tiny_icl_gptj, use_eager_attention
from arena_course.function_vectors.tasks import ICLDataset, answer_token_ids, load_word_pairs, task_names


# --------------------------------------------------------------------------- the section's result


@dataclass
class ResultSetting(TinySuffix):
    """What the result runs on: the model, whether it runs on NDIF, and how to name it."""

    model: Any
    remote: bool
    tiny: bool

    @property
    def model_name(self) -> str:
        if self.tiny:
            return f"a tiny GPT-J ({self.model.config.n_layer} blocks) trained on ICL prompts"
        return "GPT-J-6B" + (" on NDIF" if self.remote else "")


def result_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = result_parser("Run section 1's result (nnsight basics).",
                           "run on a tiny GPT-J trained on ICL prompts in about half a minute (no download, no key)")
    parser.add_argument("--prompts", type=int, default=2, help="ICL prompts per task (default 2)")
    return parser.parse_args(argv)


def result_setting(tiny: bool) -> ResultSetting:
    """The tiny trained GPT-J, or GPT-J-6B from `load_fv_model()` (NDIF with NDIF_API_KEY, else the local
    cache; raises `ModelUnavailable` with one line when neither can be had). A local model is switched to
    eager attention, so its attention patterns exist; NDIF's copy is used as NDIF loaded it."""
    if tiny:
        return ResultSetting(use_eager_attention(trained_tiny_icl_gptj()), False, True)
    from arena_course.function_vectors.models import load_fv_model

    model, remote = load_fv_model()
    if not remote:
        use_eager_attention(model)
    return ResultSetting(model, remote, False)


@dataclass
class ResultSummary:
    """What the result found (returned for tests; everything is also printed)."""

    table: str
    accuracy: float
    accuracy_ablated: float  # with the MLP that matters most (`ablated_block`) zeroed at the last position
    ablated_block: int
    mean_p_answer: float
    mean_p_answer_ablated: dict[int, float]  # block -> mean P(answer) with its MLP zeroed at the last position
    answer_attention: Tensor | None  # (n_heads,): mean attention from the last token to example answers
    paths: list[Path]


def answer_positions(tokens: Sequence[str]) -> list[int]:
    """Positions of the examples' answers in a tokenized ICL prompt: the token after each "A" ":" except at
    the very end (where the query's answer is to come)."""
    return [i for i in range(2, len(tokens)) if tokens[i - 1].strip() == ":" and tokens[i - 2].strip() == "A"]


def show_token(token: str) -> str:
    return token.replace("\n", "\\n").replace("Ġ", " ").replace("Ċ", "\\n")


def run_result(
    setting: ResultSetting,
    *,
    trace_and_save: Callable,
    attention_patterns: Callable,
    intervene_on_output: Callable,
    n_per_task: int = 2,
    n_prepended: int = 5,
    out_dir: Path = Path("results/function_vectors"),
    seed: int = 0,
) -> ResultSummary:
    """Section 1's result with the student's three functions: the predictions on ICL prompts of every task,
    with and without one block's MLP output at the last position (each block in turn; the table shows the
    one that matters most), and the last block's attention pattern at the last position
    (attention<suffix>.png). Prints a table and returns a summary."""
    model, remote = setting.model, setting.remote
    tokenizer = model.tokenizer
    n_layers = model.config.n_layer
    last = n_layers - 1

    datasets = [(task, ICLDataset(load_word_pairs(task), n_per_task, n_prepended, seed=seed)) for task in task_names()]
    prompts = [p for _, d in datasets for p in d.prompts]
    tasks = [t for t, d in datasets for _ in d.prompts]
    queries = [q for _, d in datasets for q in d.queries]
    completions = [c for _, d in datasets for c in d.completions]
    answers = answer_token_ids(tokenizer, completions)

    print(f"Running {len(prompts)} ICL prompts ({n_prepended} examples each, {n_per_task} per task) on "
          f"{setting.model_name}.")
    rows_of = torch.arange(len(prompts))
    with torch.no_grad():
        # Exercise 01: one trace, hidden states of the middle block, logits and predictions.
        hidden, logits, predictions = (t.detach().cpu() for t in trace_and_save(model, prompts, n_layers // 2, remote=remote))
        p_answer = logits.float().softmax(-1)[rows_of, answers]

        # Exercise 03: the same prompts with one block's MLP output zeroed at the last position, for each
        # block (a spread of 8 blocks on a deep model): which MLPs does the answer depend on?
        blocks = list(range(n_layers)) if n_layers <= 8 else sorted({round(i * last / 7) for i in range(8)})
        ablated = {}
        for layer in blocks:
            before, _, logits_l = (t.detach().cpu() for t in intervene_on_output(model, prompts, layer, 0.0, remote=remote))
            ablated[layer] = (logits_l, before.float().norm(dim=-1).mean().item())
    mean_p = {layer: float(logits_l.float().softmax(-1)[rows_of, answers].mean()) for layer, (logits_l, _) in ablated.items()}
    worst = min(mean_p, key=mean_p.get)
    logits_ablated = ablated[worst][0]
    predictions_ablated = logits_ablated.argmax(-1)
    p_answer_ablated = logits_ablated.float().softmax(-1)[rows_of, answers]

    def word(token_id) -> str:
        return show_token(tokenizer.decode([int(token_id)])).strip() or repr(tokenizer.decode([int(token_id)]))

    rows = [("task", "query", "answer", "predicted", "P(answer)", f"without MLP {worst}", "P(answer)")]
    for i in range(len(prompts)):
        mark = "✓" if predictions[i] == answers[i] else "✗"
        mark_ablated = "✓" if predictions_ablated[i] == answers[i] else "✗"
        rows.append((tasks[i], queries[i], completions[i].strip(), f"{mark} {word(predictions[i])}",
                     f"{p_answer[i]:.2f}", f"{mark_ablated} {word(predictions_ablated[i])}", f"{p_answer_ablated[i]:.2f}"))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    accuracy = float((predictions == answers).float().mean())
    accuracy_ablated = float((predictions_ablated == answers).float().mean())
    lines.append(
        f"Accuracy {accuracy:.0%}; {accuracy_ablated:.0%} with block {worst}'s MLP output zeroed at the last position "
        f"(the block whose MLP matters most there)."
    )
    lines.append(
        f"Mean P(answer) with one block's MLP zeroed at the last position: clean {p_answer.mean():.2f}; "
        + ", ".join(f"block {layer} {mean_p[layer]:.2f}" for layer in blocks)
        + ". The zeroed outputs' norms: "
        + ", ".join(f"{ablated[layer][1]:.1f}" for layer in blocks)
        + f" (the residual stream after block {n_layers // 2}: {hidden[:, -1].float().norm(dim=-1).mean():.1f})."
    )
    table = "\n".join(lines)
    print(table)

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"predictions{setting.suffix}.txt"]
    paths[0].write_text(f"{setting.model_name}, {n_prepended} examples per prompt\n{table}\n", encoding="utf-8")

    # Exercise 02: the last block's attention at the last position, for one prompt of each of three tasks.
    shown = [i * n_per_task for i in range(min(3, len(datasets)))]
    answer_attention = None
    try:
        with torch.no_grad():
            pattern = attention_patterns(model, [prompts[i] for i in shown], last, remote=remote)
    except Exception as e:  # noqa: BLE001 - remotely the pattern may not exist (sdpa on the server)
        if not remote:
            raise
        print(f"The attention pattern could not be read on NDIF ({type(e).__name__}: {str(e).splitlines()[0][:120]}): "
              "its copy of GPT-J may compute attention with sdpa, which never builds the pattern. Run GPT-J locally "
              "(or --tiny) for attention.png.")
    else:
        pattern = pattern.detach().float().cpu()
        tokens = [tokenizer.convert_ids_to_tokens(tokenizer(prompts[i]).input_ids) for i in shown]
        shares = []
        for row, toks in enumerate(tokens):
            offset = pattern.shape[-1] - len(toks)  # left padding
            positions = [offset + p for p in answer_positions(toks)]
            shares.append(pattern[row][:, positions].sum(-1))
        answer_attention = torch.stack(shares).mean(0)
        paths.append(plot_attention(pattern, tokens, [f"{tasks[i]}: {queries[i]} -> {completions[i].strip()}" for i in shown],
                                    last, setting.model_name, out_dir / f"attention{setting.suffix}.png"))
        top = int(answer_attention.argmax())
        print(f"Block {last}'s heads at the last position put {answer_attention.mean():.0%} of their attention on the "
              f"examples' answer tokens on average (head {top}: {answer_attention[top]:.0%}).")
    for path in paths:
        print(f"Wrote {path}")
    print(
        "Table: the model should answer most prompts from the examples alone; a query word of two tasks (e.g. "
        "'black': 'white' or 'noir') shows it reads the task off the examples. Zeroing a block's MLP at the last "
        "position shows how much the answer needs it there.\nattention.png: one row per head; does the last token "
        "read the query word, or the examples' answers (*)?"
        + (f"\n(On the tiny model, zeroing block {worst}'s MLP at the last position takes mean P(answer) from "
           f"{p_answer.mean():.2f} to {mean_p[worst]:.2f}. Its last block's heads read the examples' answers and the "
           "newlines after them, where the model has noted whether each pair was right: it was trained to say \".\" "
           "(no task) when the examples' answers are shuffled, see section 3.)"
           if setting.tiny else "")
    )
    return ResultSummary(table, accuracy, accuracy_ablated, worst, float(p_answer.mean()), mean_p, answer_attention, paths)


def plot_attention(pattern: Tensor, tokens: list[list[str]], titles: list[str], layer: int, model_name: str,
                   path: Path) -> Path:
    """One heatmap per prompt: heads (rows) by the prompt's tokens (columns), the attention from the last
    token. The examples' answer tokens are marked in the tick labels."""
    plt = pyplot()
    n = len(tokens)
    width = max(8.0, 0.28 * max(len(t) for t in tokens) + 2)
    fig, axes = plt.subplots(n, 1, figsize=(width, 1.2 + n * (0.25 * pattern.shape[1] + 1.1)), squeeze=False)
    for row, (toks, title) in enumerate(zip(tokens, titles)):
        ax = axes[row, 0]
        values = pattern[row][:, pattern.shape[-1] - len(toks):]  # drop the left padding
        image = ax.imshow(values, aspect="auto", cmap="Blues", vmin=0, vmax=float(values.max()))
        answers = set(answer_positions(toks))
        ax.set_xticks(range(len(toks)))
        ax.set_xticklabels([show_token(t) + ("*" if i in answers else "") for i, t in enumerate(toks)],
                           rotation=90, fontsize=7)
        ax.set_yticks(range(values.shape[0]))
        ax.set_yticklabels([f"head {h}" for h in range(values.shape[0])], fontsize=7)
        ax.set_title(title, fontsize=9, loc="left")
        fig.colorbar(image, ax=ax, fraction=0.02, pad=0.01)
    fig.suptitle(f"{model_name}: block {layer}'s attention from the last token (* = an example's answer)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
