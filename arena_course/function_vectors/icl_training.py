"""How chapter 3's tiny GPT-J learns in-context learning that shuffled examples break, in under a minute.

GPT-J reads a task off how the examples pair inputs with answers: shuffle the answers and it loses the task,
and the heads that carried it (the function-vector heads) show a positive causal indirect effect. A tiny
model trained on ICL prompts alone reads the task off which answer words appear, which shuffling keeps, so
every head's effect is ~0 (docs/offline_models.md, chapter 3's section, records six recipes that failed).
This recipe makes the pairing matter and spreads what carries it over several heads:

1. Warm-up (the pair check): rows of two "Q: x\\nA: y\\n\\n" pairs, each wrong half the time (y from another
   pair of the same task); at y the model predicts "." if the pair is wrong and the newline if it is right,
   and at "A:" the true answer. Without this first step, a model this small never learns to compare a
   pair's two words within the minute.
2. ICL prompts of the five tasks (5 examples and a query), half of them with the examples' answers shuffled
   (at least one pair wrong, as `ICLDataset.corrupted()` does). After the first wrong pair, every answer
   is trained as a soft label: "." ("the examples show no task") with weight `dot_p`, the true answer with
   the rest. The per-pair flags stay trained.
3. The task-vector loss (Yang et al. 2025, https://arxiv.org/abs/2501.09240, their TVP loss), from a fifth
   of stage 2 on: the mean over clean ICL prompts of one task of block `block`'s output at the last
   position (h, with gradients) replaces the last position of zero-shot prompts of that task there, and
   the right answers are trained for. This is what makes section 2's h transfer.
4. Two regularisers at the last position. On clean rows, each head of the last block has its output
   replaced by its batch mean half the time, so that no head there carries the query the examples' task is
   applied to (that is block 0's job). And a penalty on the sum over heads of blocks 1-2 of the squared
   shift of each head's mean output between shuffled and clean rows: a given total shift costs least
   when many heads share it, so "were the pairs right?" is gathered by several heads instead of one or two.

Rows are built as token ids (every task word is one token of `fv_words()`): no tokenizer, no padding.
"""

from __future__ import annotations

import random
from typing import Any

from arena_course.function_vectors.tasks import AMBIGUOUS_PAIR, ambiguous_queries, load_word_pairs, task_names

WARM_STEPS, WARM_BATCH, WARM_LR = 400, 96, 2.5e-3
STEPS, BATCH, LR = 550, 32, 5e-3
N_EXAMPLES = 5
SHUFFLED, DOT_P = 0.5, 0.6  # share of shuffled prompts; weight of "." after a wrong pair
TV_FROM, TV_BATCH = 0.2, 16  # the task-vector loss from this fraction of stage 2, on this many prompts
MEAN_DROP = 0.5  # probability that a last-block head's last-position output is its clean-row mean
SHIFT_PENALTY = 0.03  # weight of the heads' squared shuffled-vs-clean shift, blocks 1 and up


def recipe_key() -> str:
    """The recipe's settings in a file name: a cached model trained with other settings is not reused."""
    return (f"warm{WARM_STEPS}x{WARM_BATCH}_steps{STEPS}x{BATCH}_shuffled{SHUFFLED}_dot{DOT_P}_tv{TV_FROM}x{TV_BATCH}"
            f"_drop{MEAN_DROP}_shift{SHIFT_PENALTY}")


class _Rows:
    """Training rows as token ids: warm-up pairs, ICL prompts (clean or shuffled), zero-shot queries."""

    def __init__(self, words: tuple[str, ...], rng: random.Random, n_examples: int):
        w2i = {w: i for i, w in enumerate(words)}
        self.Q, self.colon, self.nl, self.A, self.dot = (w2i[t] for t in ("Q", ":", "\n", "A", "."))
        self.tasks = task_names()
        self.pairs = {t: [(w2i[x], w2i[y]) for x, y in load_word_pairs(t)] for t in self.tasks}
        self.answer = {t: dict(p) for t, p in self.pairs.items()}
        self.true = {p for t in self.tasks for p in self.pairs[t]}
        # Half the queries of the two tasks that share words are shared words: the examples must say which.
        self.shared: dict[str, list[int]] = {t: [] for t in self.tasks}
        for task, other in (AMBIGUOUS_PAIR, AMBIGUOUS_PAIR[::-1]):
            self.shared[task] = [w2i[w] for w in ambiguous_queries(task, other)]
        self.rng, self.n_examples = rng, n_examples

    def pair(self, x: int, y: int) -> list[int]:
        return [self.Q, self.colon, x, self.nl, self.A, self.colon, y, self.nl, self.nl]

    def wrong_answer(self, task: str, x: int) -> int:
        while True:
            y = self.rng.choice(self.pairs[task])[1]
            if (x, y) not in self.true:
                return y

    def query(self, task: str) -> tuple[int, int]:
        if self.shared[task] and self.rng.random() < 0.5:
            x = self.rng.choice(self.shared[task])
            return x, self.answer[task][x]
        return self.rng.choice(self.pairs[task])

    def warm(self, n_rows: int, n_pairs: int = 2):
        """(ids, answers, flags): rows of `n_pairs` pairs, each wrong with probability 1/2."""
        rows, answers, flags = [], [], []
        for _ in range(n_rows):
            ids, a, f = [], [], []
            for _ in range(n_pairs):
                task = self.rng.choice(self.tasks)
                x, y = self.rng.choice(self.pairs[task])
                wrong = self.rng.random() < 0.5
                ids += self.pair(x, self.wrong_answer(task, x) if wrong else y)
                a.append(y)
                f.append(self.dot if wrong else self.nl)
            rows.append(ids), answers.append(a), flags.append(f)
        return rows, answers, flags

    def icl(self, task: str, shuffle: bool):
        """(ids, [(answer, after a wrong pair)], flags) of one prompt with its query's answer."""
        query = self.query(task)
        examples = [p for p in self.rng.sample(self.pairs[task], self.n_examples + 1) if p[0] != query[0]]
        examples = examples[: self.n_examples]
        shown = examples
        while shuffle:
            labels = [y for _, y in examples]
            self.rng.shuffle(labels)
            shown = [(x, y) for (x, _), y in zip(examples, labels)]
            if any(p not in self.true for p in shown):
                break
        ids, answers, flags, broken = [], [], [], False
        for (x, y), (_, y_true) in zip(shown, examples):
            ids += self.pair(x, y)
            answers.append((y_true, broken))
            wrong = (x, y) not in self.true
            flags.append(self.dot if wrong else self.nl)
            broken = broken or wrong
        ids += [self.Q, self.colon, query[0], self.nl, self.A, self.colon, query[1]]
        answers.append((query[1], broken))
        return ids, answers, flags


def _in_each_pair(n: int, offset: int):
    """Position `offset` of each of the first n "Q: x\\nA: y\\n\\n" pairs of a row (9 tokens each): 5 is the ":"
    after "A" (it predicts y), 6 is y itself (it predicts the flag)."""
    import torch

    return torch.tensor([9 * i + offset for i in range(n)])


def train_tiny_icl_gptj(model, *, warm_steps: int = WARM_STEPS, steps: int = STEPS, batch: int = BATCH,
                        block: int = 1, seed: int = 0, progress: bool = True):
    """Train a tiny nnsight-wrapped GPT-J in place, on one torch thread, with this module's recipe (its
    docstring): `warm_steps` of the pair check, then `steps` of ICL prompts (clean and shuffled) with the
    task-vector loss at block `block`. Returns the model, in eval mode."""
    import torch
    import torch.nn.functional as F

    from arena_course.display import ProgressBar
    from arena_course.function_vectors.models import fv_words
    from arena_course.threads import one_thread

    hf = model._module
    n_layers, n_heads = hf.config.n_layer, hf.config.n_head
    rng = random.Random(seed)
    rows = _Rows(fv_words(), rng, N_EXAMPLES)
    out_projs = [hf.transformer.h[b].attn.out_proj for b in range(n_layers)]
    penalised, last_block = out_projs[1:], out_projs[-1]
    state: dict[str, Any] = {}  # what the hooks need to know about the current forward pass

    def task_vector(module, args, output):
        if "h" in state:  # zero-shot run: the last position becomes h
            output = output.clone()
            output[:, -1] = state["h"]
            return output
        state["last"] = output[:, -1]  # ICL run of one task: keep the last position, to average
        return None

    def last_position_heads(module, args):
        clean = state.get("clean")
        if clean is None:
            return None
        z = args[0]
        zh = z[:, -1].view(z.shape[0], n_heads, -1)
        if module in penalised and clean.any() and (~clean).any():
            w = module.weight.view(module.weight.shape[0], n_heads, -1)
            out = torch.einsum("bhd,mhd->bhm", zh, w)  # each head's write to the residual stream
            state["penalty"] = state["penalty"] + (out[~clean].mean(0) - out[clean].mean(0)).pow(2).sum()
        if module is last_block:
            hit = (torch.rand(z.shape[0], n_heads, 1) < MEAN_DROP) & clean[:, None, None]
            z = z.clone()
            z[:, -1] = torch.where(hit, zh[clean].mean(0, keepdim=True).expand_as(zh), zh).flatten(1)
            return (z,)
        return None

    handles = [hf.transformer.h[block].register_forward_hook(task_vector)]
    handles += [m.register_forward_pre_hook(last_position_heads) for m in penalised]

    def forward(ids):
        return hf.transformer(input_ids=torch.tensor(ids), use_cache=False).last_hidden_state

    def warm_loss():
        ids, answers, flags = rows.warm(WARM_BATCH)
        h = forward([r[:-1] for r in ids])
        n = len(answers[0])
        return (F.cross_entropy(hf.lm_head(h[:, _in_each_pair(n, 5)]).flatten(0, 1), torch.tensor(answers).flatten())
                + F.cross_entropy(hf.lm_head(h[:, _in_each_pair(n, 6)]).flatten(0, 1), torch.tensor(flags).flatten()))

    def icl_loss():
        shuffled = [rng.random() < SHUFFLED for _ in range(batch)]
        made = [rows.icl(rng.choice(rows.tasks), s) for s in shuffled]
        state.update(clean=~torch.tensor(shuffled), penalty=torch.tensor(0.0))
        h = forward([r[0][:-1] for r in made])
        state.pop("clean")
        answers = torch.tensor([[a for a, _ in r[1]] for r in made])
        dot = DOT_P * torch.tensor([[float(b) for _, b in r[1]] for r in made])
        logp = hf.lm_head(h[:, _in_each_pair(N_EXAMPLES + 1, 5)]).log_softmax(-1)
        answer_loss = -((1 - dot) * logp.gather(-1, answers[..., None])[..., 0] + dot * logp[..., rows.dot]).mean()
        flag_loss = F.cross_entropy(hf.lm_head(h[:, _in_each_pair(N_EXAMPLES, 6)]).flatten(0, 1),
                                    torch.tensor([r[2] for r in made]).flatten())
        return answer_loss + flag_loss + SHIFT_PENALTY * state.pop("penalty")

    def task_vector_loss():
        task = rng.choice(rows.tasks)
        forward([rows.icl(task, False)[0][:-1] for _ in range(TV_BATCH)])
        state["h"] = state.pop("last").mean(dim=0)
        queries = [rows.query(task) for _ in range(TV_BATCH)]
        h = forward([[rows.Q, rows.colon, x, rows.nl, rows.A, rows.colon] for x, _ in queries])[:, -1]
        state.pop("h")
        return F.cross_entropy(hf.lm_head(h), torch.tensor([y for _, y in queries]))

    def stage(n_steps: int, lr: float, loss_of_step, advance, offset: int):
        optimizer = torch.optim.AdamW(hf.parameters(), lr=lr, weight_decay=0.01)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=n_steps, pct_start=0.1)
        for step in range(n_steps):
            loss = loss_of_step(step)
            state.pop("last", None)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            advance(offset + step, loss.item())

    def stage_two(step):
        loss = icl_loss()
        return loss + task_vector_loss() if step >= TV_FROM * steps else loss

    attention = hf.config._attn_implementation
    with one_thread():
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                hf.train()
                # The explicit softmax(QKᵀ/√d)V: the same function as the fused kernel the model runs with,
                # ~15% cheaper for these small heads and short rows on one CPU thread.
                hf.set_attn_implementation("eager")
                with ProgressBar(progress, warm_steps + steps, "training the tiny GPT-J") as advance:
                    if warm_steps:
                        stage(warm_steps, WARM_LR, lambda step: warm_loss(), advance, 0)
                    stage(steps, LR, stage_two, advance, warm_steps)
        finally:
            for handle in handles:
                handle.remove()
            hf.set_attn_implementation(attention)
            hf.eval()
    return model
