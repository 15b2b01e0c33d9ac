"""Chapter 3, section 2 (task-encoding hidden states): the section's result.

The result (`python exercises/3_function_vectors/07_hidden_state_logprobs.py [--tiny]`) runs the student's
exercises 05-07 on GPT-J-6B (NDIF with NDIF_API_KEY, or a local copy) or with --tiny on the chapter's tiny
GPT-J (`function_vectors.models.trained_tiny_icl_gptj`, shared by every section's --tiny result):

- results/function_vectors/h_by_layer.png: the log-probability of the right answer on zero-shot prompts,
  with h patched in at each block in turn (exercise 07), against no patch and against the same queries
  with examples in the prompt;
- results/function_vectors/h_completions.txt (also printed): for each query, the zero-shot prediction
  without h, with h of the task, and with h of another task (exercise 05), at the best block; and whether
  the one-pass version (exercise 06) agrees.

Why the tiny model has a task-vector loss. A 3-block GPT-J trained on ICL prompts alone does not form an h that transfers: we tried
(3 and 4 blocks, several seeds, prompts with fixed and varying numbers of examples, ~300 steps each).
Patched at any block, its h lowered the right answer's log-probability on every task; on the queries
where the task matters (the words english_french and singular_plural share: "cat" -> "chat" or "cats") it
pushed towards one task or the other depending on the seed and size; and patched after block 0 it made the
model say the same word for every query. A model that small seems to read the query into the last
position in its first block, so replacing that position loses the query. Yang et al. 2025 ("Task
Vectors in In-Context Learning: Emergence, Formation, and Benefits", https://arxiv.org/abs/2501.09240) saw
the same in small transformers trained from scratch (task vectors weak or spread out), and proposed an
auxiliary loss that puts them at a chosen place: run ICL prompts, average the last position's state at a
chosen block, patch the average into zero-shot prompts, and train on the right answers there. That is
exactly section 2's experiment, used as a training signal. `function_vectors.icl_training` adds it
at block 1, so the tiny model's h works there by construction; the --tiny result checks that the student's code
finds it (and shows what a working h does). GPT-J's curve is the real finding.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from arena_course.display import result_parser
from arena_course.function_vectors.models import (
    ModelSetting,
    TINY_ICL_CONFIG,
    TINY_ICL_EXAMPLES,
    TINY_TASK_VECTOR_BLOCK,
    trained_tiny_icl_gptj,
)
from arena_course.function_vectors.tasks import (
    AMBIGUOUS_PAIR,
    ICLDataset,
    add_task_option,
    ambiguous_queries,
    answer_token_ids,
    load_word_pairs,
)


def with_examples(queries: Sequence[str], pairs: Sequence[tuple[str, str]], n_examples: int,
                  seed: int = 0) -> list[str]:
    """ICL prompts for given queries: `n_examples` pairs of the task (not the query's own) before each."""
    rng = random.Random(seed)
    prompts = []
    for query in queries:
        examples = rng.sample([p for p in pairs if p[0] != query], n_examples)
        prompts.append("".join(f"Q: {x}\nA: {y}\n\n" for x, y in examples) + f"Q: {query}\nA:")
    return prompts


# --------------------------------------------------------------------------- the section's result


class LayerOutOfRange(ValueError):
    """--layer names a block the model doesn't have."""


@dataclass
class ResultSetting(ModelSetting):
    """What the result runs on: the model, the task and another one, the prompts h comes from, the queries."""

    task: str
    other_task: str  # its h goes into the same queries, to show h picks the task
    icl: list[str]  # ICL prompts of `task`: h
    other_icl: list[str]  # ICL prompts of `other_task`: the other h
    queries: list[str]
    answers: list[str]  # the right answers for `task`
    n_examples: int
    note: str = ""  # what to keep in mind reading the result

    @property
    def zero_shot(self) -> list[str]:
        return [f"Q: {q}\nA:" for q in self.queries]


@dataclass
class ResultSummary:
    clean: Tensor  # (batch,) log p(right answer), zero-shot
    patched: Tensor  # (n_layers, batch) the same with h patched at each block
    with_examples: Tensor  # (batch,) the same queries with examples in the prompt
    layer: int  # the block the table patches (the best one, unless chosen)
    rows: list[tuple[str, str, str, str, str]]  # query, right answer, zero-shot, with h, with the other task's h
    one_pass_agrees: int  # prompts on which exercise 06 gives exercise 05's patched token
    paths: list[Path] = field(default_factory=list)
    report: str = ""


def result_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of the section's result (exercise 07's `__main__`)."""
    parser = result_parser(
        "Task-encoding hidden states: h patched into zero-shot prompts at every block (exercise 07) "
        "and the completions it changes (exercises 05-06), "
        "on GPT-J-6B (NDIF with NDIF_API_KEY, or a local copy) "
        "or with --tiny on a tiny GPT-J trained here.",
        "a tiny GPT-J trained on the chapter's ICL prompts (no download)",
    )
    add_task_option(parser)
    parser.add_argument("--layer", type=int, default=None,
                        help="the block the completions table patches (default: the best one by log-probability)")
    return parser.parse_args(argv)


def result_setting(tiny: bool, task: str | None = None, *, load: Callable[..., Any] | None = None) -> ResultSetting:
    """GPT-J-6B (remote on NDIF with NDIF_API_KEY, else from the Hugging Face cache), or with `tiny` the tiny
    GPT-J of `trained_tiny_icl_gptj` (arena_course/function_vectors/models.py).

    Raises:
        ModelUnavailable: one line, when GPT-J can be had neither way.
    """
    from arena_course.models import ModelUnavailable

    if tiny:
        task = task or "singular_plural"
        model, remote = trained_tiny_icl_gptj(), False
        name = f"a tiny GPT-J ({TINY_ICL_CONFIG['n_layers']} blocks) trained on ICL prompts with a task-vector loss"
        n_examples, n_icl = TINY_ICL_EXAMPLES, 32
    else:
        task = task or "antonyms"
        try:
            model, remote = (load or _load_gptj)()
        except ModelUnavailable as e:
            raise ModelUnavailable(
                f"{e} Without either, `python exercises/3_function_vectors/07_hidden_state_logprobs.py --tiny` runs "
                "the same code on a tiny model.", e.reason
            ) from None
        name = "GPT-J-6B" + (" on NDIF" if remote else "")
        n_examples, n_icl = 10, 16

    if tiny and task in AMBIGUOUS_PAIR:
        other = AMBIGUOUS_PAIR[1 - AMBIGUOUS_PAIR.index(task)]
    else:
        other = "english_french" if task != "english_french" else "antonyms"
    pairs, table = load_word_pairs(task), dict(load_word_pairs(task))
    if tiny and task in AMBIGUOUS_PAIR:
        queries = ambiguous_queries(task, other)
        note = (f"The queries are the words {task} and {other} share, so a zero-shot prompt can't say which task is "
                f"meant. The tiny model was trained to carry the task at block {TINY_TASK_VECTOR_BLOCK}'s last position "
                "(see arena_course/function_vectors/icl_training.py), so h works there by construction; where else it works is what "
                "the model made of that. On GPT-J the whole curve is a finding.")
    else:
        queries = ICLDataset(pairs, 12 if tiny else 16, 0, seed=2).queries
        note = ("The tiny model knows each word's task from the word itself except for the words english_french and "
                "singular_plural share: run --task singular_plural to see h matter." if tiny else "")
    return ResultSetting(
        model=model, remote=remote, tiny=tiny, name=name, task=task, other_task=other,
        icl=ICLDataset(pairs, n_icl, n_examples, seed=1).prompts,
        other_icl=ICLDataset(load_word_pairs(other), n_icl, n_examples, seed=1).prompts,
        queries=list(queries), answers=[table[q] for q in queries], n_examples=n_examples, note=note,
    )


def _load_gptj():
    from arena_course.function_vectors.models import load_fv_model

    return load_fv_model("EleutherAI/gpt-j-6b", device="cuda" if torch.cuda.is_available() else "cpu")


def answer_logprobs(model, prompts: Sequence[str], ids: Tensor, remote: bool = False) -> Tensor:
    """log p(ids[i]) at the last position of prompt i: the same measure as exercise 07, without a patch."""
    rows = torch.arange(len(prompts))
    with torch.no_grad(), model.trace(list(prompts), remote=remote):
        logprobs = model.lm_head.output[:, -1].log_softmax(dim=-1)[rows, ids].save()
    return logprobs.detach().cpu()


def plot_by_layer(summary: ResultSummary, setting: ResultSetting, path: Path) -> Path:
    """The right answer's mean log-probability by patched block, against no patch and against examples."""
    from arena_course.display import pyplot, save_figure

    plt = pyplot()
    patched = summary.patched.float()
    layers = torch.arange(patched.shape[0])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    low, high = patched.quantile(0.25, dim=1), patched.quantile(0.75, dim=1)
    ax.fill_between(layers, low, high, color="tab:blue", alpha=0.15, label="h patched: middle half of the queries")
    ax.plot(layers, patched.mean(1), "o-", color="tab:blue", label=f"zero-shot, h of {setting.task} patched at block L")
    ax.axhline(float(summary.clean.mean()), color="tab:red", ls="--", label="zero-shot, no patch")
    ax.axhline(float(summary.with_examples.mean()), color="tab:green", ls=":",
               label=f"{setting.n_examples} examples in the prompt, no patch")
    ax.axvline(summary.layer, color="grey", lw=0.8, alpha=0.6,
               label=f"block {summary.layer}, used for the completions table")
    ax.set_xlabel("block L whose output at the last position is replaced by h")
    ax.set_ylabel("log p(right answer's first token)")
    ax.set_title(f"{setting.task}: h from ICL prompts patched into zero-shot prompts\n{setting.name}, "
                 f"{len(setting.queries)} queries (mean)", fontsize=10)
    if len(layers) <= 12:
        ax.set_xticks(layers.tolist())
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return save_figure(fig, path)


def run_result(
    setting: ResultSetting,
    *,
    patch_hidden_state: Callable,
    hidden_state_one_pass: Callable,
    hidden_state_logprobs: Callable,
    out_dir: Path,
    layer: int | None = None,
) -> ResultSummary:
    """Run exercises 05-07 (the functions passed in) and write the plot and the completions table."""
    model, remote, zero_shot = setting.model, setting.remote, setting.zero_shot
    tok = model.tokenizer
    n_layers = len(model.transformer.h)
    if layer is not None and not 0 <= layer < n_layers:
        raise LayerOutOfRange(f"--layer must be a block of the model, 0 to {n_layers - 1}")
    ids = answer_token_ids(tok, [" " + a for a in setting.answers])

    # Exercise 07: h_L patched at each block L, and no patch; the same queries with examples, for reference.
    with torch.no_grad():
        clean, patched = hidden_state_logprobs(model, setting.icl, zero_shot, ids, remote=remote)
    clean, patched = clean.detach().cpu().float(), patched.detach().cpu().float()
    examples = with_examples(setting.queries, load_word_pairs(setting.task), setting.n_examples, seed=3)
    icl_logprobs = answer_logprobs(model, examples, ids, remote)
    if layer is None:
        layer = int(patched.mean(1).argmax())

    # Exercise 05 at that block, with h of the task and of the other task; exercise 06 must agree with it.
    with torch.no_grad():
        before, after = patch_hidden_state(model, setting.icl, zero_shot, layer, remote=remote)
        _, after_other = patch_hidden_state(model, setting.other_icl, zero_shot, layer, remote=remote)
        one_pass = hidden_state_one_pass(model, setting.icl, zero_shot, layer, remote=remote)
    before, after, after_other = before.cpu(), after.cpu(), after_other.cpu()
    agrees = int((one_pass.cpu() == after).sum())

    def word(token) -> str:
        return tok.decode([int(token)]).strip() or repr(tok.decode([int(token)]))

    columns = zip(setting.queries, setting.answers, before, after, after_other)
    rows = [(q, a, word(b), word(p), word(o)) for q, a, b, p, o in columns]
    summary = ResultSummary(clean, patched, icl_logprobs, layer, rows, agrees)

    out_dir = Path(out_dir)
    summary.paths.append(plot_by_layer(summary, setting, out_dir / f"h_by_layer{setting.suffix}.png"))
    summary.report = _report(summary, setting)
    text_path = out_dir / f"h_completions{setting.suffix}.txt"
    text_path.write_text(summary.report + "\n", encoding="utf-8")
    summary.paths.append(text_path)
    summary.report += "\n" + "\n".join(f"Wrote {p}" for p in summary.paths)
    return summary


def _report(summary: ResultSummary, setting: ResultSetting) -> str:
    right = [r[1] for r in summary.rows]
    n = len(right)

    def correct(column: int) -> int:
        return sum(r[column] == a for r, a in zip(summary.rows, right))

    headers = ("query", "right answer", "zero-shot", f"with h of {setting.task}", f"with h of {setting.other_task}")
    widths = [max(len(h), *(len(r[i]) for r in summary.rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    means = summary.patched.mean(1)
    lines = [
        f"Task-encoding hidden states: {setting.task}, {setting.name}; h = mean over {len(setting.icl)} ICL prompts "
        f"({setting.n_examples} examples each) of a block's output at the last position.",
        "",
        "log p(right answer), mean over the queries (exercise 07):",
        f"  zero-shot, no patch {float(summary.clean.mean()):7.2f}      with {setting.n_examples} examples in the "
        f"prompt {float(summary.with_examples.mean()):7.2f}",
        "  h patched at block  " + " ".join(f"{L:>6d}" for L in range(len(means))),
        "                      " + " ".join(f"{float(m):6.2f}" for m in means),
        "",
        f"Zero-shot completions, h patched at block {summary.layer} (exercise 05):",
        line(headers),
        *(line(r) for r in summary.rows),
        f"right: {correct(2)}/{n} zero-shot, {correct(3)}/{n} with h of {setting.task}. " + _other_column(summary, setting),
        f"One pass (exercise 06) gives exercise 05's patched tokens on {summary.one_pass_agrees}/{n} prompts"
        + (" (a difference can only be floating-point noise from the different padding)."
           if summary.one_pass_agrees < n else "."),
    ]
    if setting.note:
        lines.append(setting.note)
    return "\n".join(lines)


def _other_column(summary: ResultSummary, setting: ResultSetting) -> str:
    """What the last column shows: how many queries h of the other task turns to that task's answer."""
    table = dict(load_word_pairs(setting.other_task))
    known = [(r[0], r[4]) for r in summary.rows if r[0] in table]
    text = f"The last column is the same queries with h of {setting.other_task}"
    if not known:
        return text + "."
    hits = sum(table[query] == said for query, said in known)
    return text + f": {hits}/{len(known)} of those in its word list get its answer."
