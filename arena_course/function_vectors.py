"""Chapter 3's given code: word-pair tasks, in-context-learning prompts, and the models (tiny ones for
tests, GPT-J-6B / GPT-2 XL for results) wrapped in nnsight.

A task is a list of (x, y) word pairs (antonyms: hot -> cold; country_capital: France -> Paris, ...),
stored in arena_course/fv_tasks/<task>.tsv. An in-context-learning (ICL) prompt shows the model a few
pairs and then a query:

    Q: hot\\nA: cold\\n\\nQ: big\\nA: small\\n\\nQ: up\\nA:          ->  " down"

`ICLDataset` builds batches of such prompts: `n_prepended` example pairs before each query (0 gives
zero-shot prompts, "Q: up\\nA:"), with the right answer `completions[i]` (" down", with GPT-2/GPT-J's
leading space). `corrupted()` gives the same prompts with the example answers shuffled across pairs, so the
prompt no longer shows the task (Todd et al.'s corrupted prompts).

Models: `tiny_gptj(seed)` is a random-init model with GPT-J's architecture and module names
(`model.transformer.h[L]`, `.attn.out_proj`, `model.lm_head`) over a word-level vocabulary of every task's
words, wrapped in nnsight's `TransformersModel` (what hidden tests use); `tiny_gpt2(seed)` the same for
GPT-2's architecture (steering). `load_fv_model(name, remote)` loads the real model locally (from the
Hugging Face cache) or, with `remote=True`, runs it on NDIF with the API key in NDIF_API_KEY; when neither
is possible it raises `ModelUnavailable` with one line saying what is needed.

Sources: Todd et al. 2023, "Function Vectors in Large Language Models" (https://arxiv.org/abs/2310.15213);
Turner et al. 2023, "Activation Addition: Steering Language Models Without Optimization"
(https://arxiv.org/abs/2308.10248).
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

TASKS_DIR = Path(__file__).parent / "fv_tasks"
UNK, BOS = "<unk>", "<bos>"


def task_names() -> list[str]:
    """The word-pair tasks available: the .tsv files in arena_course/fv_tasks."""
    return sorted(p.stem for p in TASKS_DIR.glob("*.tsv"))


@lru_cache(maxsize=None)
def load_word_pairs(task: str) -> tuple[tuple[str, str], ...]:
    """The (x, y) pairs of a task, from arena_course/fv_tasks/<task>.tsv (tab-separated; # comments)."""
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


# --------------------------------------------------------------------------- tiny models


def fv_words() -> tuple[str, ...]:
    """The vocabulary of the tiny models: <unk>, <bos>, the prompt format's tokens, every task's words."""
    words = [UNK, BOS, "Q", "A", ":", "\n", ".", ",", "I", "you", "the", "a", "is", "was", "and", "to",
             "of", "it", "that", "my", "very", "not", "think", "feel", "want", "like", "talk", "about",
             "wedding", "weddings", "today", "weather", "city", "anger", "calm"]
    for task in task_names():
        for pair in load_word_pairs(task):
            words += [w for w in pair]
    return tuple(dict.fromkeys(words))


@lru_cache(maxsize=1)
def fv_tokenizer():
    """A word-level tokenizer over `fv_words()` that keeps newlines as tokens ("Q: hot\\nA:" -> Q, :, hot,
    \\n, A, :) and drops spaces, built in memory; " cold" encodes to the one token "cold", as " cold" is
    one token for GPT-J's tokenizer. Cached: don't modify it."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = fv_words()
    tok = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\n|\w+|[^\w\s]"), behavior="removed", invert=True)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        name_or_path="arena-fv-words",
        unk_token=UNK,
        bos_token=BOS,
        eos_token=BOS,
        pad_token=BOS,
        padding_side="left",  # batches of prompts of different lengths all end at position -1
    )


def _hf_tiny(architecture: str, seed: int, n_layers: int, d_model: int, n_heads: int):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, GPTJConfig, GPTJForCausalLM

    vocab = len(fv_words())
    ids = dict(bos_token_id=1, eos_token_id=1, pad_token_id=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if architecture == "gptj":
            config = GPTJConfig(n_layer=n_layers, n_embd=d_model, n_head=n_heads, rotary_dim=d_model // n_heads // 2 * 2,
                                vocab_size=vocab, n_positions=128, **ids)
            hf = GPTJForCausalLM(config)
        else:
            config = GPT2Config(n_layer=n_layers, n_embd=d_model, n_head=n_heads, vocab_size=vocab, n_positions=128, **ids)
            hf = GPT2LMHeadModel(config)
    return hf.eval()


def wrap(hf_model, tokenizer=None):
    """An in-memory Hugging Face causal LM wrapped for nnsight 0.8 (`TransformersModel`)."""
    from nnsight.modeling.transformers import TransformersModel

    return TransformersModel(hf_model, tokenizer=tokenizer or fv_tokenizer(), task="text-generation")


def tiny_gptj(seed: int = 0, *, n_layers: int = 2, d_model: int = 32, n_heads: int = 4):
    """A random-init model with GPT-J's architecture (module names as in GPT-J-6B: `transformer.h[L]`,
    `transformer.h[L].attn.out_proj`, `lm_head`) over `fv_words()`, wrapped in nnsight. ~10 ms."""
    return wrap(_hf_tiny("gptj", seed, n_layers, d_model, n_heads))


def tiny_gpt2(seed: int = 0, *, n_layers: int = 2, d_model: int = 32, n_heads: int = 4):
    """The same as `tiny_gptj` with GPT-2's architecture (GPT-2 XL's module names), for steering."""
    return wrap(_hf_tiny("gpt2", seed, n_layers, d_model, n_heads))


# --------------------------------------------------------------------------- real models


def load_fv_model(name: str = "EleutherAI/gpt-j-6b", *, remote: bool | None = None, device: str = "cpu"):
    """A pretrained model wrapped in nnsight: run remotely on NDIF (`remote=True`, or None with NDIF_API_KEY
    set), else loaded locally from the Hugging Face cache (or downloaded when online).

    Returns (model, remote): pass `remote=remote` to every `model.trace(...)` / `model.generate(...)`.

    Raises:
        ModelUnavailable: one line naming the model, its size, and the two ways to get it (an NDIF API
            key, or the weights in the Hugging Face cache).
    """
    from arena_course.models import ModelUnavailable, describe, hub_cache_dir, is_cached, one_line, why_not_downloadable

    if remote is None:
        remote = bool(os.environ.get("NDIF_API_KEY"))
    how = (
        f"set NDIF_API_KEY (free key from https://login.ndif.us) to run it remotely with nnsight, or download "
        f"it once into the Hugging Face cache ({hub_cache_dir()}) and run where it fits in memory"
    )
    if not remote and not is_cached(name, ("config.json",)):
        blocked = why_not_downloadable()
        if blocked:
            reason = f"no NDIF_API_KEY is set, it is not in the Hugging Face cache and {blocked}"
            raise ModelUnavailable(f"Needs {describe(name)}: {reason}; {how}.", reason)
    try:
        from nnsight.modeling.transformers import TransformersModel

        # Remote: only the config and tokenizer are loaded here (the weights stay on NDIF's servers).
        kwargs: dict[str, Any] = {} if remote else {"device_map": device, "dispatch": True}
        model = TransformersModel(name, task="text-generation", **kwargs)
    except Exception as e:  # noqa: BLE001 - any failure to load becomes one clear line
        reason = f"loading it failed ({type(e).__name__}: {one_line(e)[:200]})"
        raise ModelUnavailable(f"Needs {describe(name)}: {reason}; {how}.", reason) from e
    return model, remote


# --------------------------------------------------------------------------- answers and the tiny trained GPT-J


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

TINY_ICL_CONFIG = dict(n_layers=3, d_model=64, n_heads=4)
TINY_ICL_STEPS, TINY_ICL_BATCH, TINY_ICL_EXAMPLES, TINY_ICL_LR = 400, 32, 5, 5e-3
TINY_TASK_VECTOR_BLOCK = 1  # where the task-vector loss puts the task vector


def ambiguous_queries(task_a: str, task_b: str) -> list[str]:
    """The inputs of both tasks whose answers differ, sorted."""
    a, b = dict(load_word_pairs(task_a)), dict(load_word_pairs(task_b))
    return sorted(x for x in set(a) & set(b) if a[x] != b[x])


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


def _training_text(examples, query, answer: bool) -> str:
    prompt = "".join(f"Q: {x}\nA: {y}\n\n" for x, y in examples) + f"Q: {query[0]}\nA:"
    return prompt + (f" {query[1]}" if answer else "")


def train_tiny_icl_gptj(model, *, steps: int = TINY_ICL_STEPS, batch: int = TINY_ICL_BATCH,
                        n_examples: int = TINY_ICL_EXAMPLES, block: int = TINY_TASK_VECTOR_BLOCK,
                        lr: float = TINY_ICL_LR, seed: int = 0, progress: bool = True):
    """Train a tiny nnsight-wrapped GPT-J, in place, on one torch thread, with two losses per step:

    - ICL: prompts of the chapter's five tasks with `n_examples` examples, cross-entropy of every answer
      (the first answer of a prompt is a zero-shot one, the last has all the examples before it);
    - task vector (Yang et al. 2025, "Task Vectors in In-Context Learning", https://arxiv.org/abs/2501.09240,
      their TVP loss): for one task, the mean over `batch // 2` ICL prompts of block `block`'s output at the
      last position (h, as in exercise 04, with gradients) replaces the last position of zero-shot prompts of
      that task at the same block, and the right answers there are trained for.

    Half the queries of english_french and singular_plural are words the two tasks share ("cat"), so the
    task has to come from the examples (or from h). Without the second loss a model this small does ICL but
    forms no h that transfers (see arena_course/fv_hidden_states.py). Returns the model, in eval mode.
    """
    import torch

    from arena_course.display import ProgressBar
    from arena_course.threads import one_thread

    tok, hf = model.tokenizer, model._module
    tasks = task_names()
    pairs = {t: load_word_pairs(t) for t in tasks}
    shared: dict[str, dict[str, str]] = {t: {} for t in tasks}
    for task, other in (AMBIGUOUS_PAIR, AMBIGUOUS_PAIR[::-1]):
        table = dict(pairs[task])
        shared[task] = {w: table[w] for w in ambiguous_queries(task, other)}
    colon, a_token = tok.convert_tokens_to_ids(":"), tok.convert_tokens_to_ids("A")

    patch: dict[str, Any] = {}

    def hook(module, args, output):
        if "h" in patch:  # zero-shot run: the last position becomes h
            output = output.clone()
            output[:, -1] = patch["h"]
            return output
        patch["last"] = output[:, -1]  # ICL run: keep the last position, to average
        return None

    handle = hf.transformer.h[block].register_forward_hook(hook)
    rng = random.Random(seed)
    with one_thread():
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
                            texts.append(_training_text(*_training_prompt(pairs[task], n_examples, rng, shared[task]),
                                                        answer=True))
                        enc = tok(texts, return_tensors="pt", padding=True)
                        ids = enc["input_ids"]
                        logits = hf(**enc).logits[:, :-1]
                        at_answer = (ids[:, :-1] == colon) & (ids.roll(1, dims=1)[:, :-1] == a_token)
                        icl_loss = torch.nn.functional.cross_entropy(logits[at_answer], ids[:, 1:][at_answer])

                        # Task vector: h from ICL prompts of one task, patched into zero-shot prompts of it.
                        task = rng.choice(tasks)
                        icl = [_training_text(*_training_prompt(pairs[task], n_examples, rng, None), answer=False)
                               for _ in range(batch // 2)]
                        patch.clear()
                        hf(**tok(icl, return_tensors="pt", padding=True))
                        patch["h"] = patch.pop("last").mean(dim=0)
                        queries = [_training_prompt(pairs[task], 0, rng, shared[task])[1] for _ in range(batch // 2)]
                        zero_shot = tok([_training_text([], q, answer=False) for q in queries], return_tensors="pt",
                                        padding=True)
                        targets = answer_token_ids(tok, [" " + y for _, y in queries])
                        tv_loss = torch.nn.functional.cross_entropy(hf(**zero_shot).logits[:, -1], targets)
                        patch.clear()

                        optimizer.zero_grad()
                        (icl_loss + tv_loss).backward()
                        optimizer.step()
                        schedule.step()
                        advance(step, (icl_loss + tv_loss).item())
        finally:
            handle.remove()
            hf.eval()
    return model


def trained_tiny_icl_gptj(cache_dir: Path | None = Path("results/function_vectors"), progress: bool = True,
                          seed: int = 0):
    """The tiny GPT-J (3 blocks, d_model 64) that every section's `--tiny` result runs on: trained on the
    chapter's ICL prompts with a task-vector loss at block 1 (`train_tiny_icl_gptj`, ~30 s on one CPU
    thread), and cached in `cache_dir` after the first time (`cache_dir=None`: no cache). `seed` seeds the
    initialisation and the training prompts (the results use 0; tests also train others)."""
    from arena_course.models import load_or_train

    model = tiny_gptj(seed, **TINY_ICL_CONFIG)
    key = "_".join(f"{k}{v}" for k, v in TINY_ICL_CONFIG.items())
    key += f"_steps{TINY_ICL_STEPS}_batch{TINY_ICL_BATCH}_lr{TINY_ICL_LR}_block{TINY_TASK_VECTOR_BLOCK}"
    key += f"_seed{seed}" if seed else ""
    path = Path(cache_dir) / f".tiny_icl_gptj_{key}.pt" if cache_dir is not None else None
    load_or_train(model._module, path, lambda: train_tiny_icl_gptj(model, seed=seed, progress=progress))
    model._module.eval()
    return model
