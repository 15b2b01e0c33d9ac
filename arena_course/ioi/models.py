"""The models chapter 2 runs on: tiny random-init TransformerLens models over the IOI vocabulary (what
hidden tests use), and one trained on IOI prompts in seconds, so that `--tiny` results have a circuit to find.

Trained on IOI prompts alone, that model grows no duplicate-token or induction heads (exercise 15's scores
stay near 0.1). `DUPLICATE_TOKEN_RECIPE` grows duplicate-token heads in layer 0 (best score 0.57-0.67 in
seeds 0-2, 55 s of one core): first sequences of random tokens in which returning tokens are said twice
(`sequences_with_repeats`) alone, then IOI prompts with a few of them mixed in. It is not the results'
model (section 5's result prints that model's scores beside theirs): its circuit is another one (found by
knockouts, it keeps 22-60% of the logit difference instead of 95-103%, and several of the chapter's tests
of the circuit fail on it; docs/offline_models.md).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from arena_course.ioi.dataset import IOIDataset, ioi_tokenizer
from arena_course.threads import one_thread


def tiny_ioi_model(seed: int = 0, *, n_layers: int = 2, n_heads: int = 4, d_model: int = 32):
    """A random-init TransformerLens model over the IOI vocabulary, with `ioi_tokenizer()` (~30 ms)."""
    from arena_course.models import tiny_model

    return tiny_model(
        seed=seed,
        n_layers=n_layers,
        n_heads=n_heads,
        d_model=d_model,
        n_ctx=32,
        tokenizer=ioi_tokenizer(),
    )


TINY_TRAINED = dict(seed=0, n_layers=3, n_heads=4, d_model=64)  # the --tiny results' model
TINY_STEPS, TINY_BATCH, TINY_REPEATS = 800, 64, 0  # steps; IOI prompts and repeat sequences per step
TINY_WARMUP, TINY_LR = 0, 3e-3  # steps on repeat sequences alone first (WARMUP_ROWS a step); learning rate
WARMUP_ROWS = 32
# Grows duplicate-token heads (see the docstring above); the arguments of `train_on_ioi`.
DUPLICATE_TOKEN_RECIPE = dict(steps=700, batch=48, repeats=8, warmup=600, lr=6e-3)
OTHER_WEIGHT = 0.3  # the weight of the unpredictable next tokens of the repeat sequences in the loss


def sequences_with_repeats(tokenizer, batch: int, generator: torch.Generator, *, length: int = 30,
                           repeats: int = 6) -> tuple[Tensor, Tensor]:
    """`batch` rows of BOS then `length` distinct random tokens, in which `repeats` times a token comes back
    and is said twice in a row ("... x ... x x ..."): (batch, 1 + length), and a mask of the positions of
    the first x of each pair, whose next token (x again) is known.

    Trained to predict that x, and the next token elsewhere (a new random token, so the model cannot just
    repeat every token), the model needs a head that attends from a token to its earlier copy and copies
    it: a duplicate-token head (exercise 12), which IOI prompts alone do not grow in a model this small."""
    special = set(tokenizer.all_special_ids)
    ordinary = torch.tensor([t for t in range(len(tokenizer)) if t not in special])
    tokens = ordinary[torch.rand(batch, len(ordinary), generator=generator).argsort(-1)[:, :length]]
    known = torch.zeros(batch, 1 + length, dtype=torch.bool)
    part = length // repeats  # each pair in its own part of the row, so no pair overwrites another
    for row in range(batch):
        for k in range(repeats):
            again = int(torch.randint(max(2, k * part), (k + 1) * part - 1, (1,), generator=generator))  # where it comes back
            first = int(torch.randint(0, again - 1, (1,), generator=generator))  # its first occurrence
            tokens[row, again : again + 2] = tokens[row, first]
            known[row, again + 1] = True  # tokens[again] sits at position again + 1 (after BOS)
    return torch.cat([torch.full((batch, 1), tokenizer.bos_token_id), tokens], dim=1), known


def train_on_ioi(model, *, steps: int = TINY_STEPS, batch: int = TINY_BATCH, repeats: int = TINY_REPEATS,
                 warmup: int = TINY_WARMUP, lr: float = TINY_LR, seed: int = 0, progress: bool = True):
    """Train `model` for `warmup` steps on repeat sequences alone (`WARMUP_ROWS` a step: say a returning
    token again, `sequences_with_repeats`), then for `steps` steps to complete IOI prompts (cross-entropy
    of the IO name at the end position only) with `repeats` repeat sequences a step.

    A 3-layer model reaches ~100% accuracy on IOI: to do it, it must find the two names, notice which one
    is repeated and predict the other one, so it grows its own small IOI circuit. The repeat sequences
    grow duplicate-token heads, as GPT-2 small has; mixed in from the start, the IOI loss takes the layer-0
    heads first and they grow half as fast, hence the warm-up (and a few sequences later, to keep them).
    """
    from arena_course.display import ProgressBar

    tokenizer = model.tokenizer
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    with one_thread():  # also makes the trained weights the same on every machine
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            generator = torch.Generator().manual_seed(seed)
            what = "training a tiny model on IOI" + (" and repeats" if repeats or warmup else "")
            with ProgressBar(progress, warmup + steps, what) as advance:
                for step in range(warmup + steps):
                    loss = torch.zeros(())
                    if step >= warmup:
                        data = IOIDataset.generate(tokenizer, batch, seed=seed * 100_003 + step - warmup)
                        logits = model(data.toks)[torch.arange(batch), data.word_idx["end"]]
                        loss = F.cross_entropy(logits, data.io_tokens)
                    rows = WARMUP_ROWS if step < warmup else repeats
                    if rows:
                        tokens, known = sequences_with_repeats(tokenizer, rows, generator)
                        logits, targets, known = model(tokens)[:, :-1], tokens[:, 1:], known[:, :-1]
                        loss = (loss + F.cross_entropy(logits[known], targets[known])
                                + OTHER_WEIGHT * F.cross_entropy(logits[~known], targets[~known]))
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    advance(step, loss.item())
    return model.eval()


def trained_tiny_ioi_model(cache_dir: Path | None = Path("results/ioi"), progress: bool = True, seed: int = 0,
                           recipe: dict | None = None):
    """A tiny model trained on IOI (see `train_on_ioi`); cached in `cache_dir` after the first time.

    `seed` seeds both the initialisation and the training prompts: the results use 0; tests train other
    seeds to check that what they assert is the model's job, not one run's luck. `recipe`: other arguments
    of `train_on_ioi` (e.g. `DUPLICATE_TOKEN_RECIPE`), part of the cache's name."""
    from arena_course.models import load_or_train

    config = dict(TINY_TRAINED, seed=seed)
    model = tiny_ioi_model(**config)
    key = "_".join(f"{k}{v}" for k, v in config.items()) + f"_steps{TINY_STEPS}"
    if recipe:
        key += f"_repeats_x6w{OTHER_WEIGHT}_warmup_x{WARMUP_ROWS}_" + "_".join(f"{k}{v}" for k, v in recipe.items())
    path = cache_dir / f".tiny_ioi_model_{key}_1thread.pt" if cache_dir is not None else None
    load_or_train(model, path, lambda: train_on_ioi(model, seed=seed, progress=progress, **(recipe or {})))
    return model.eval()
