"""Chapter 3, section 2 (task-encoding hidden states): the section's result, and the tiny model it runs on
with --tiny.

The result (`python exercises/3_function_vectors/07_hidden_state_logprobs.py [--tiny]`) runs the student's
exercises 05-07 on GPT-J-6B (NDIF with NDIF_API_KEY, or a local copy) or on a tiny GPT-J trained here:

- results/function_vectors/h_by_layer.png: the log-probability of the right answer on zero-shot prompts,
  with h patched in at each block in turn (exercise 07), against no patch and against the same queries
  with examples in the prompt;
- results/function_vectors/h_completions.txt (also printed): for each query, the zero-shot prediction
  without h, with h of the task, and with h of another task (exercise 05), at the best block; and whether
  the one-pass version (exercise 06) agrees.

The tiny model. A 3-block GPT-J trained on ICL prompts alone does not form an h that transfers: we tried
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
exactly section 2's experiment, used as a training signal. `train_with_task_vector_loss` adds it at block
1, so the tiny model's h works there by construction; the --tiny result checks that the student's code
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
from jaxtyping import Int
from torch import Tensor

from arena_course.function_vectors import ICLDataset, load_word_pairs, task_names, tiny_gptj

# The two tasks whose inputs overlap with different answers ("cat" -> "chat" / "cats"): on these queries a
# zero-shot prompt can't tell which task is meant, so the tiny model needs h to answer.
AMBIGUOUS_PAIR = ("english_french", "singular_plural")


def ambiguous_queries(task_a: str, task_b: str) -> list[str]:
    """The inputs of both tasks whose answers differ, sorted."""
    a, b = dict(load_word_pairs(task_a)), dict(load_word_pairs(task_b))
    return sorted(x for x in set(a) & set(b) if a[x] != b[x])


def answer_ids(tokenizer, completions: Sequence[str]) -> Int[Tensor, "batch"]:
    """The first token of each completion (" cold" -> its id): what exercise 07 scores."""
    return torch.tensor([tokenizer(c, add_special_tokens=False)["input_ids"][0] for c in completions])


def with_examples(queries: Sequence[str], pairs: Sequence[tuple[str, str]], n_examples: int,
                  seed: int = 0) -> list[str]:
    """ICL prompts for given queries: `n_examples` pairs of the task (not the query's own) before each."""
    rng = random.Random(seed)
    prompts = []
    for query in queries:
        examples = rng.sample([p for p in pairs if p[0] != query], n_examples)
        prompts.append("".join(f"Q: {x}\nA: {y}\n\n" for x, y in examples) + f"Q: {query}\nA:")
    return prompts


# --------------------------------------------------------------------------- the tiny model

TINY_CONFIG = dict(n_layers=3, d_model=64, n_heads=4)
TINY_STEPS, TINY_BATCH, TINY_EXAMPLES, TINY_LR = 400, 32, 5, 5e-3
TINY_TASK_VECTOR_BLOCK = 1  # where the auxiliary loss puts the task vector


def _training_prompt(pairs, n_examples: int, rng: random.Random, ambiguous: dict[str, str] | None):
    """Examples and a query of one task; with `ambiguous` (query -> answer), half the time the query is one of
    them (so the examples are needed to answer it)."""
    chosen = rng.sample(list(pairs), n_examples + 1)
    examples, query = chosen[:-1], chosen[-1]
    if ambiguous and rng.random() < 0.5:
        word = rng.choice(sorted(ambiguous))
        query = (word, ambiguous[word])
        examples = [p for p in rng.sample(list(pairs), n_examples + 1) if p[0] != word][:n_examples]
    return examples, query


def _text(examples, query, answer: bool) -> str:
    prompt = "".join(f"Q: {x}\nA: {y}\n\n" for x, y in examples) + f"Q: {query[0]}\nA:"
    return prompt + (f" {query[1]}" if answer else "")


def train_with_task_vector_loss(model, *, steps: int = TINY_STEPS, batch: int = TINY_BATCH,
                                n_examples: int = TINY_EXAMPLES, block: int = TINY_TASK_VECTOR_BLOCK, lr: float = TINY_LR,
                                seed: int = 0, progress: bool = True):
    """Train a tiny nnsight-wrapped GPT-J, in place, on two losses per step:

    - ICL: prompts of the chapter's five tasks with `n_examples` examples, cross-entropy of every answer
      (the first answer of a prompt is a zero-shot one, the last has all the examples before it);
    - task vector (Yang et al. 2025's TVP loss): for one task, the mean over `batch // 2` ICL prompts of block
      `block`'s output at the last position (h, as in exercise 04, with gradients) replaces the last position
      of zero-shot prompts of that task at the same block, and the right answers there are trained for.

    Half the queries of english_french and singular_plural are words the two tasks share ("cat"), so the
    task has to come from the examples (or from h). 400 steps, ~30-40 s on a laptop CPU.
    """
    from arena_course.display import ProgressBar

    tok, hf = model.tokenizer, model._module
    tasks = task_names()
    pairs = {t: load_word_pairs(t) for t in tasks}
    shared = {t: {} for t in tasks}
    for task, other in (AMBIGUOUS_PAIR, AMBIGUOUS_PAIR[::-1]):
        table = dict(pairs[task])
        shared[task] = {w: table[w] for w in ambiguous_queries(task, other)}
    colon, a_token = tok.convert_tokens_to_ids(":"), tok.convert_tokens_to_ids("A")

    patch: dict[str, Tensor] = {}

    def hook(module, args, output):
        if "h" in patch:  # zero-shot run: the last position becomes h
            output = output.clone()
            output[:, -1] = patch["h"]
            return output
        patch["last"] = output[:, -1]  # ICL run: keep the last position, to average
        return None

    handle = hf.transformer.h[block].register_forward_hook(hook)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest
    rng = random.Random(seed)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            hf.train()
            optimizer = torch.optim.AdamW(hf.parameters(), lr=lr, weight_decay=0.01)
            schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
            with ProgressBar(progress, steps, "training a tiny GPT-J on ICL prompts") as advance:
                for step in range(steps):
                    # ICL: every answer of every prompt (the position after "A:" predicts it).
                    texts = []
                    for _ in range(batch):
                        task = rng.choice(tasks)
                        texts.append(_text(*_training_prompt(pairs[task], n_examples, rng, shared[task]), answer=True))
                    enc = tok(texts, return_tensors="pt", padding=True)
                    ids = enc["input_ids"]
                    logits = hf(**enc).logits[:, :-1]
                    at_answer = (ids[:, :-1] == colon) & (ids.roll(1, dims=1)[:, :-1] == a_token)
                    icl_loss = torch.nn.functional.cross_entropy(logits[at_answer], ids[:, 1:][at_answer])

                    # Task vector: h from ICL prompts of one task, patched into zero-shot prompts of it.
                    task = rng.choice(tasks)
                    icl = [_text(*_training_prompt(pairs[task], n_examples, rng, None), answer=False)
                           for _ in range(batch // 2)]
                    patch.clear()
                    hf(**tok(icl, return_tensors="pt", padding=True))
                    patch["h"] = patch.pop("last").mean(dim=0)
                    queries = [_training_prompt(pairs[task], 0, rng, shared[task])[1] for _ in range(batch // 2)]
                    zero_shot = tok([_text([], q, answer=False) for q in queries], return_tensors="pt", padding=True)
                    targets = answer_ids(tok, [" " + y for _, y in queries])
                    tv_loss = torch.nn.functional.cross_entropy(hf(**zero_shot).logits[:, -1], targets)
                    patch.clear()

                    optimizer.zero_grad()
                    (icl_loss + tv_loss).backward()
                    optimizer.step()
                    schedule.step()
                    advance(step, (icl_loss + tv_loss).item())
    finally:
        handle.remove()
        torch.set_num_threads(threads)
        hf.eval()
    return model


def trained_tiny_task_vector_model(cache_dir: Path | None = Path("results/function_vectors"), progress: bool = True):
    """The tiny GPT-J of the --tiny result (see `train_with_task_vector_loss`), cached in `cache_dir` after the
    first time."""
    model = tiny_gptj(0, **TINY_CONFIG)
    key = "_".join(f"{k}{v}" for k, v in TINY_CONFIG.items())
    key += f"_steps{TINY_STEPS}_batch{TINY_BATCH}_lr{TINY_LR}_block{TINY_TASK_VECTOR_BLOCK}"
    path = Path(cache_dir) / f".tiny_task_vector_model_{key}.pt" if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            model._module.load_state_dict(torch.load(path, weights_only=True))
            model._module.eval()
            return model
        except Exception:  # noqa: BLE001 - a stale or broken cache is retrained, not an error
            path.unlink(missing_ok=True)
    train_with_task_vector_loss(model, progress=progress)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model._module.state_dict(), path)
    return model


# --------------------------------------------------------------------------- the section's result


class LayerOutOfRange(ValueError):
    """--layer names a block the model doesn't have."""


@dataclass
class ResultSetting:
    """What the result runs on: the model, the task and another one, the prompts h comes from, the queries."""

    model: Any
    remote: bool
    tiny: bool
    name: str  # the model, for titles
    task: str
    other_task: str  # its h goes into the same queries, to show h picks the task
    icl: list[str]  # ICL prompts of `task`: h
    other_icl: list[str]  # ICL prompts of `other_task`: the other h
    queries: list[str]
    answers: list[str]  # the right answers for `task`
    n_examples: int
    note: str = ""  # what to keep in mind reading the result

    @property
    def suffix(self) -> str:
        """Appended to result file names, so tiny and real results don't overwrite each other."""
        return "_tiny" if self.tiny else ""

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
    parser = argparse.ArgumentParser(
        description="Task-encoding hidden states: h patched into zero-shot prompts at every block (exercise 07) and "
        "the completions it changes (exercises 05-06), on GPT-J-6B (NDIF with NDIF_API_KEY, or a local copy) or "
        "with --tiny on a tiny GPT-J trained here."
    )
    parser.add_argument("--tiny", action="store_true",
                        help="a tiny GPT-J trained on the chapter's ICL prompts (no download)")
    parser.add_argument("--task", default=None, choices=task_names(),
                        help="the task (default: antonyms; singular_plural with --tiny)")
    parser.add_argument("--layer", type=int, default=None,
                        help="the block the completions table patches (default: the best one by log-probability)")
    return parser.parse_args(argv)


def result_setting(tiny: bool, task: str | None = None, *, load: Callable[..., Any] | None = None) -> ResultSetting:
    """GPT-J-6B (remote on NDIF with NDIF_API_KEY, else from the Hugging Face cache), or with `tiny` the tiny
    GPT-J of `trained_tiny_task_vector_model`.

    Raises:
        ModelUnavailable: one line, when GPT-J can be had neither way.
    """
    from arena_course.models import ModelUnavailable

    if tiny:
        task = task or "singular_plural"
        model, remote = trained_tiny_task_vector_model(), False
        name = f"a tiny GPT-J ({TINY_CONFIG['n_layers']} blocks) trained on ICL prompts with a task-vector loss"
        n_examples, n_icl = TINY_EXAMPLES, 32
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
                "(see arena_course/fv_hidden_states.py), so h works there by construction; where else it works is what "
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
    from arena_course.function_vectors import load_fv_model

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
    ids = answer_ids(tok, [" " + a for a in setting.answers])

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
