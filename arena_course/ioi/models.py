"""The models chapter 2 runs on: tiny random-init TransformerLens models over the IOI vocabulary (what
hidden tests use), and one trained on IOI prompts in seconds, so that `--tiny` results have a circuit to find.
"""

from __future__ import annotations

from pathlib import Path

import torch

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
TINY_STEPS, TINY_BATCH = 800, 64


def train_on_ioi(model, *, steps: int = TINY_STEPS, batch: int = TINY_BATCH, lr: float = 3e-3, seed: int = 0,
                 progress: bool = True):
    """Train `model` to complete IOI prompts (cross-entropy of the IO name at the end position only).

    A 3-layer model reaches ~100% accuracy in ~25 s on a laptop CPU: to do it, it must find the two names,
    notice which one is repeated and predict the other one, so it grows its own small IOI circuit.
    """
    from arena_course.display import ProgressBar

    tokenizer = model.tokenizer
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    with one_thread():  # also makes the trained weights the same on every machine
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            with ProgressBar(progress, steps, "training a tiny model on IOI") as advance:
                for step in range(steps):
                    data = IOIDataset.generate(tokenizer, batch, seed=seed * 100_003 + step)
                    logits = model(data.toks)[torch.arange(batch), data.word_idx["end"]]
                    loss = torch.nn.functional.cross_entropy(logits, data.io_tokens)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    advance(step, loss.item())
    return model.eval()


def trained_tiny_ioi_model(cache_dir: Path | None = Path("results/ioi"), progress: bool = True, seed: int = 0):
    """A tiny model trained on IOI (see `train_on_ioi`); cached in `cache_dir` after the first time.

    `seed` seeds both the initialisation and the training prompts: the results use 0; tests train other
    seeds to check that what they assert is the model's job, not one run's luck."""
    from arena_course.models import load_or_train

    config = dict(TINY_TRAINED, seed=seed)
    model = tiny_ioi_model(**config)
    key = "_".join(f"{k}{v}" for k, v in config.items()) + f"_steps{TINY_STEPS}_1thread"
    path = cache_dir / f".tiny_ioi_model_{key}.pt" if cache_dir is not None else None
    load_or_train(model, path, lambda: train_on_ioi(model, seed=seed, progress=progress))
    return model.eval()
