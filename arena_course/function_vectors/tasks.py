"""Chapter 3's tasks: word pairs and in-context-learning prompts.

A task is a list of (x, y) word pairs (antonyms: hot -> cold; country_capital: France -> Paris, ...),
stored in arena_course/function_vectors/word_pairs/<task>.tsv. An in-context-learning (ICL) prompt shows the
model a few pairs and then a query:

    Q: hot\\nA: cold\\n\\nQ: big\\nA: small\\n\\nQ: up\\nA:          ->  " down"

`ICLDataset` builds batches of such prompts: `n_prepended` example pairs before each query (0 gives
zero-shot prompts, "Q: up\\nA:"), with the right answer `completions[i]` (" down", with GPT-2/GPT-J's
leading space). `corrupted()` gives the same prompts with the example answers shuffled across pairs, so the
prompt no longer shows the task (Todd et al.'s corrupted prompts).

The models these prompts run on are in `arena_course.function_vectors.models`.

Sources: Todd et al. 2023, "Function Vectors in Large Language Models" (https://arxiv.org/abs/2310.15213);
Turner et al. 2023, "Activation Addition: Steering Language Models Without Optimization"
(https://arxiv.org/abs/2308.10248).
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TASKS_DIR = Path(__file__).parent / "word_pairs"


def task_names() -> list[str]:
    """The word-pair tasks available: the .tsv files in arena_course/function_vectors/word_pairs."""
    return sorted(p.stem for p in TASKS_DIR.glob("*.tsv"))


@lru_cache(maxsize=None)
def load_word_pairs(task: str) -> tuple[tuple[str, str], ...]:
    """The (x, y) pairs of a task, from arena_course/function_vectors/word_pairs/<task>.tsv (tab-separated;
    # comments)."""
    path = TASKS_DIR / f"{task}.tsv"
    if not path.is_file():
        raise ValueError(f"no task {task!r}; tasks: {', '.join(task_names())}")
    pairs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not all(p.strip() for p in parts):
            raise ValueError(f"{path.name}:{n}: expected 'x<TAB>y', got {line!r}")
        pairs.append((parts[0].strip(), parts[1].strip()))
    return tuple(pairs)


def add_task_option(parser: argparse.ArgumentParser) -> None:
    """A result's `--task`: one of `task_names()`, by default antonyms (GPT-J), or singular_plural with --tiny."""
    parser.add_argument("--task", default=None, choices=task_names(),
                        help="the task (default: antonyms; singular_plural with --tiny)")


def add_function_vector_options(parser: argparse.ArgumentParser, what: str) -> None:
    """A function-vector result's `--task`, `--prompts`, `--heads`, `--layer` (`what`: the vector's name)."""
    add_task_option(parser)
    parser.add_argument("--prompts", type=int, default=None, help="clean ICL prompts to average over (default 20; 32 tiny)")
    parser.add_argument("--heads", type=int, default=None, help=f"heads in {what} (default 10; 5 tiny)")
    parser.add_argument("--layer", type=int, default=None, help=f"block whose output gets {what} (default 9; 1 tiny)")


# --------------------------------------------------------------------------- ICL prompts


@dataclass
class ICLDataset:
    """A batch of ICL prompts for one task: each has `n_prepended` example pairs, then a query.

    Attributes:
        prompts: the prompt strings, each ending in "A:" (the model's next token is the answer).
        completions: the right answers, with a leading space (" cold"): GPT-2/GPT-J tokenize words that
            way after "A:".
        queries: the query words x; answers: the answer words y (without the space).
        examples: for each prompt, its (x, y) example pairs, in order.

    Build it with `ICLDataset(word_pairs, size, n_prepended, seed=...)`. Same seed, same prompts.
    """

    word_pairs: Sequence[tuple[str, str]]
    size: int
    n_prepended: int
    seed: int = 0
    bidirectional: bool = False  # also use pairs reversed (y -> x), e.g. for antonyms
    corrupted_labels: bool = False

    def __post_init__(self) -> None:
        pairs = list(self.word_pairs)
        if self.bidirectional:
            pairs += [(y, x) for x, y in pairs]
        if len(pairs) < self.n_prepended + 1:
            raise ValueError(f"{len(pairs)} pairs can't give {self.n_prepended} examples plus a query")
        rng = random.Random(self.seed)
        shuffle_rng = random.Random(f"{self.seed}-corrupted")  # its own RNG: same queries as the clean set
        self.examples: list[list[tuple[str, str]]] = []
        self.queries: list[str] = []
        self.answers: list[str] = []
        for _ in range(self.size):
            chosen = rng.sample(pairs, self.n_prepended + 1)
            examples, (query, answer) = chosen[:-1], chosen[-1]
            if self.corrupted_labels and examples:
                labels = [y for _, y in examples]
                shuffle_rng.shuffle(labels)
                examples = [(x, y) for (x, _), y in zip(examples, labels)]
            self.examples.append(examples)
            self.queries.append(query)
            self.answers.append(answer)

    @property
    def prompts(self) -> list[str]:
        return [
            "".join(f"Q: {x}\nA: {y}\n\n" for x, y in examples) + f"Q: {query}\nA:"
            for examples, query in zip(self.examples, self.queries)
        ]

    @property
    def completions(self) -> list[str]:
        return [" " + a for a in self.answers]

    def corrupted(self) -> ICLDataset:
        """The same queries and example inputs, with the example answers shuffled among the examples: the
        prompt no longer demonstrates the task (most x are paired with another pair's y)."""
        return ICLDataset(self.word_pairs, self.size, self.n_prepended, self.seed, self.bidirectional, True)

    def zero_shot(self) -> ICLDataset:
        """The same queries with no examples: "Q: x\\nA:"."""
        data = ICLDataset(self.word_pairs, self.size, 0, self.seed, self.bidirectional)
        data.queries, data.answers = list(self.queries), list(self.answers)
        data.examples = [[] for _ in self.queries]
        return data

    def __len__(self) -> int:
        return self.size


# --------------------------------------------------------------------------- answers


def answer_token_ids(tokenizer, completions: Sequence[str]):
    """The id of the first token of each completion, as a (batch,) long tensor (" cold" is one token for
    GPT-J; a longer answer is scored by its first token, as Todd et al. do). Raises ValueError for a
    completion with no tokens."""
    import torch

    ids = tokenizer(list(completions), add_special_tokens=False)["input_ids"]
    if any(len(i) == 0 for i in ids):
        empty = [c for c, i in zip(completions, ids) if not i]
        raise ValueError(f"completions with no tokens: {empty!r}")
    return torch.tensor([i[0] for i in ids], dtype=torch.long)


# The two tasks whose inputs overlap with different answers ("cat" -> "chat" / "cats"): on these queries a
# zero-shot prompt can't tell which task is meant, so a model has to read the task off the examples (or h).
AMBIGUOUS_PAIR = ("english_french", "singular_plural")


def ambiguous_queries(task_a: str, task_b: str) -> list[str]:
    """The inputs of both tasks whose answers differ, sorted."""
    a, b = dict(load_word_pairs(task_a)), dict(load_word_pairs(task_b))
    return sorted(x for x in set(a) & set(b) if a[x] != b[x])


