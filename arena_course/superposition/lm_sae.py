"""Given code for chapter 1, section "SAEs on a language model": the SAE, the models and the data, and
the section's result (its five exercises).

Nothing here is an exercise. It provides:

- `SAE`: a ReLU sparse autoencoder in SAELens' layout (W_enc, b_enc, W_dec, b_dec; `encode`, `decode`),
  so the same exercise code runs on a random SAE in the tests and on a pretrained SAELens SAE in the
  result. `random_sae` builds one for tests; `load_pretrained_sae` reads SAELens weights from the
  Hugging Face Hub (no `sae-lens` install needed).
- A toy language (`toy_tokens`) and a tiny transformer for it (`tiny_lm`), plus short training loops
  (`train_tiny_lm`, `train_sae`), so `--tiny` shows the whole pipeline on something that has learned.
- `tiny_setup()` and `pretrained_setup()`: a model, an SAE, a token batch and the hook name, ready for
  the exercises. `pretrained_setup` needs GPT-2 small and an SAELens SAE; offline it raises
  `ModelUnavailable` with one line saying what it needs and how to get it.
- `run_result`: the section's result, run with the student's five functions; and its plots.

Conventions shared by the section's exercises (the SAE papers and SAELens use the same ones):

- A token batch has shape (batch, seq) and **every row starts with the BOS token** at position 0.
- **BOS is never counted and never patched.** The residual stream at BOS is unlike any other position (in
  GPT-2 its norm is tens of times larger, because attention heads use BOS as a resting place), SAEs
  reconstruct it badly, and including it would distort every statistic. So statistics (how often a
  latent fires, reconstruction error, top activations) use positions 1 onwards, and when the SAE's
  reconstruction is spliced into the model, position 0 keeps its original activation.
- An SAE reads and writes the residual stream at one hook point, `hook_name`, e.g.
  "blocks.6.hook_resid_pre" (the residual stream entering layer 6).
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

from arena_course.display import pyplot, result_parser, save_figure
from arena_course.models import BOS, UNK, ModelUnavailable, describe, hub_cache_dir, is_cached, one_line
from arena_course.threads import one_thread

# --------------------------------------------------------------------------- the SAE


class SAE(nn.Module):
    """A ReLU sparse autoencoder on a `d_in`-dimensional activation, with `d_sae` latents.

    The layout and the maths are SAELens' (standard ReLU SAEs, e.g. release "gpt2-small-res-jb"):

        latents        = ReLU((x - b_dec) @ W_enc + b_enc)      (..., d_sae)
        reconstruction = latents @ W_dec + b_dec                (..., d_in)

    Attributes:
        W_enc: (d_in, d_sae). Column i is latent i's encoder direction.
        b_enc: (d_sae,).
        W_dec: (d_sae, d_in). Row i is latent i's decoder direction: what the latent adds to the
            residual stream per unit of activation.
        b_dec: (d_in,). Subtracted before encoding, added back after decoding (a learned "centre").
        hook_name: the hook point whose activations it was trained on.
    """

    def __init__(self, d_in: int, d_sae: int, hook_name: str = ""):
        super().__init__()
        self.d_in, self.d_sae, self.hook_name = d_in, d_sae, hook_name
        self.W_enc = nn.Parameter(torch.zeros(d_in, d_sae))
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.W_dec = nn.Parameter(torch.zeros(d_sae, d_in))
        self.b_dec = nn.Parameter(torch.zeros(d_in))

    def encode(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_sae"]:
        """The latent activations: ReLU((x - b_dec) @ W_enc + b_enc)."""
        return F.relu((x - self.b_dec) @ self.W_enc + self.b_enc)

    def decode(self, latents: Float[Tensor, "... d_sae"]) -> Float[Tensor, "... d_in"]:
        """The reconstruction: latents @ W_dec + b_dec."""
        return latents @ self.W_dec + self.b_dec

    def forward(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_in"]:
        """decode(encode(x)): the SAE's reconstruction of x."""
        return self.decode(self.encode(x))

    def extra_repr(self) -> str:
        return f"d_in={self.d_in}, d_sae={self.d_sae}, hook_name={self.hook_name!r}"


def random_sae(
    d_in: int,
    d_sae: int,
    *,
    seed: int = 0,
    hook_name: str = "",
    b_dec: Tensor | None = None,
    b_enc: float = -0.3,
    scale: float = 1.0,
) -> SAE:
    """A randomly initialised SAE (for tests), seeded without touching the global RNG.

    Decoder rows are random unit vectors; the encoder is *not* the decoder's transpose (a separate
    random matrix), so code that mixes them up gives a different answer.

    Args:
        d_in, d_sae: the sizes.
        seed: the seed.
        hook_name: recorded on the SAE.
        b_dec: the decoder bias (default: random, norm about `scale`), so forgetting it shows.
        b_enc: the encoder bias of every latent plus a little noise (negative: fewer latents fire).
        scale: the typical norm of the activations it will see; the encoder is scaled by 1 / scale.
    """
    gen = torch.Generator().manual_seed(seed)
    sae = SAE(d_in, d_sae, hook_name)
    with torch.no_grad():
        W_dec = torch.randn(d_sae, d_in, generator=gen)
        sae.W_dec.copy_(W_dec / W_dec.norm(dim=-1, keepdim=True))
        W_enc = torch.randn(d_in, d_sae, generator=gen)
        sae.W_enc.copy_(W_enc / W_enc.norm(dim=0, keepdim=True) / scale)
        sae.b_enc.copy_(b_enc + 0.1 * torch.randn(d_sae, generator=gen))
        if b_dec is None:
            b_dec = scale * torch.randn(d_in, generator=gen) / math.sqrt(d_in)
        sae.b_dec.copy_(b_dec)
    return sae


# The pretrained SAE of the real run: Joseph Bloom's GPT-2 small residual-stream SAEs (SAELens release
# "gpt2-small-res-jb"), one per layer, 24576 latents on the 768-dimensional residual stream.
PRETRAINED_MODEL = "gpt2"
SAE_RELEASE = "gpt2-small-res-jb"
SAE_REPO = "jbloom/GPT2-Small-SAEs-Reformatted"
SAE_ID = "blocks.6.hook_resid_pre"
SAE_SIZE = "~150 MB"


def sae_weights_file(sae_id: str = SAE_ID) -> str:
    """The file in SAE_REPO holding the SAE at `sae_id` (SAELens' layout: one folder per hook point)."""
    return f"{sae_id}/sae_weights.safetensors"


def load_pretrained_sae(repo_id: str = SAE_REPO, sae_id: str = SAE_ID) -> SAE:
    """Load a standard ReLU SAE saved by SAELens (sae_weights.safetensors) from the Hugging Face Hub.

    Reads the four arrays W_enc, b_enc, W_dec, b_dec (from the cache, or downloads them when online).
    `sae_id` is the folder in the repo, which for SAELens releases is the hook name.
    """
    from huggingface_hub import hf_hub_download
    from safetensors.torch import load_file

    state = load_file(hf_hub_download(repo_id, sae_weights_file(sae_id)), device="cpu")
    missing = {"W_enc", "b_enc", "W_dec", "b_dec"} - set(state)
    if missing:
        raise ValueError(f"{repo_id}/{sae_id} is not a standard SAE: missing {sorted(missing)}")
    d_in, d_sae = state["W_enc"].shape
    sae = SAE(d_in, d_sae, hook_name=sae_id)
    sae.load_state_dict({k: state[k].float() for k in ("W_enc", "b_enc", "W_dec", "b_dec")})
    return sae.eval()


# --------------------------------------------------------------------------- a toy language and a tiny model for it

# Sentences like "the big cat sat on the red mat .", "alice saw the dog .", "two three four five ." A
# 2-layer model learns them in seconds, and its residual stream then holds simple features (this token
# is an animal; a noun comes next; we are counting) for an SAE to find.
ANIMALS = "cat dog bird fish cow horse".split()
THINGS = "mat rug box bed tree house".split()
ADJECTIVES = "big small red blue old happy".split()
VERBS = "sat ran slept jumped".split()
PREPOSITIONS = "on under near behind".split()
NAMES = "alice bob carol dave".split()
NUMBERS = "one two three four five six seven eight".split()
TOY_WORDS: tuple[str, ...] = (
    (UNK, BOS, ".", "the", "and", "saw")
    + tuple(ANIMALS + THINGS + ADJECTIVES + VERBS + PREPOSITIONS + NAMES + NUMBERS)
)
TOY_VOCAB = {w: i for i, w in enumerate(TOY_WORDS)}
BOS_ID = TOY_VOCAB[BOS]
TINY_HOOK = "blocks.1.hook_resid_pre"  # the residual stream between the tiny model's two layers


def toy_sentence(rng: random.Random) -> list[str]:
    """One sentence of the toy language, as words (ends with ".")."""

    def noun_phrase(nouns: list[str]) -> list[str]:
        adjective = [rng.choice(ADJECTIVES)] if rng.random() < 0.5 else []
        return ["the", *adjective, rng.choice(nouns)]

    kind = rng.random()
    if kind < 0.35:  # the big cat sat on the red mat .
        words = [*noun_phrase(ANIMALS), rng.choice(VERBS), rng.choice(PREPOSITIONS), *noun_phrase(THINGS)]
    elif kind < 0.6:  # alice saw the dog .
        words = [rng.choice(NAMES), "saw", *noun_phrase(ANIMALS)]
    elif kind < 0.8:  # bob and carol ran under the tree .
        a, b = rng.sample(NAMES, 2)
        words = [a, "and", b, rng.choice(VERBS), rng.choice(PREPOSITIONS), "the", rng.choice(THINGS)]
    else:  # three four five six .
        length = rng.randint(3, 5)
        start = rng.randint(0, len(NUMBERS) - length)
        words = NUMBERS[start : start + length]
    return [*words, "."]


def toy_tokens(n_seq: int, seq_len: int = 24, *, seed: int = 0) -> Int[Tensor, "n_seq seq_len"]:
    """`n_seq` rows of toy-language token ids: BOS, then `seq_len - 1` tokens of running text that
    starts at a random word of its first sentence (like a chunk cut from a longer document)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n_seq):
        first = toy_sentence(rng)
        words = first[rng.randrange(len(first)) :]
        while len(words) < seq_len - 1:
            words += toy_sentence(rng)
        rows.append([BOS_ID] + [TOY_VOCAB[w] for w in words[: seq_len - 1]])
    return torch.tensor(rows, dtype=torch.long)


def tiny_lm(*, seed: int = 0, d_model: int = 64, n_layers: int = 2, n_heads: int = 4, n_ctx: int = 32):
    """A random-init TransformerBridge with the toy vocabulary (and its word-level tokenizer)."""
    from arena_course.models import tiny_model

    return tiny_model(seed=seed, d_model=d_model, n_layers=n_layers, n_heads=n_heads, n_ctx=n_ctx, words=TOY_WORDS)


def _progress(enabled: bool, label: str, total: int):
    """A rich progress bar context yielding `advance(n=1, **fields)`; a no-op when disabled."""
    import contextlib

    if not enabled:
        return contextlib.nullcontext(lambda *a, **k: None)

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    @contextlib.contextmanager
    def bar():
        with Progress(
            TextColumn(f"{label:<28}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
        ) as progress:
            task = progress.add_task(label, total=total, info="")

            def advance(n: int = 1, info: str = "") -> None:
                progress.update(task, advance=n, info=info)

            yield advance

    return bar()


def train_tiny_lm(
    model, *, steps: int = 300, batch_size: int = 32, seq_len: int = 24, lr: float = 3e-3, seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Train `model` in place on toy-language batches (Adam, next-token loss, warm-up then linear decay);
    return the losses. The batches are drawn (seeded, without touching the global RNG) from a fixed set
    of sentences, each seen about 4 times."""
    gen = torch.Generator().manual_seed(seed)
    data = toy_tokens(steps * batch_size // 4, seq_len, seed=seed + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 50) * (1 - s / steps) + 0.05)
    losses = []
    model.train()
    with _progress(progress, "training the tiny model", steps) as advance:
        for _ in range(steps):
            batch = data[torch.randint(0, len(data), (batch_size,), generator=gen)]
            loss = model(batch, return_type="loss")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            advance(info=f"loss {losses[-1]:.3f}")
    model.eval()
    return losses


@torch.no_grad()
def residual_activations(model, tokens: Int[Tensor, "batch seq"], hook_name: str, *, batch_size: int = 64) -> Float[Tensor, "n d_model"]:
    """The activations at `hook_name` for every non-BOS position of `tokens`, flattened to (n, d_model)."""
    chunks = []
    for start in range(0, len(tokens), batch_size):
        _, cache = model.run_with_cache(tokens[start : start + batch_size], names_filter=hook_name)
        chunks.append(cache[hook_name][:, 1:].reshape(-1, cache[hook_name].shape[-1]))
    return torch.cat(chunks)


def train_sae(
    sae: SAE, activations: Float[Tensor, "n d_in"], *, steps: int = 1500, batch_size: int = 512,
    l1_coeff: float = 5e-2, lr: float = 3e-3, seed: int = 0, progress: bool = True,
) -> list[float]:
    """Train a ReLU SAE in place on `activations` (the usual recipe, as in section 5); return the losses.

    Loss: squared error summed over d_in (relative to the activations' mean squared norm), plus
    `l1_coeff` * L1 norm of the latents; decoder rows are renormalised to unit norm after every step.
    Initialisation: decoder rows random unit vectors, encoder their transpose, b_dec the mean activation.
    """
    gen = torch.Generator().manual_seed(seed)
    scale = activations.sub(activations.mean(0)).pow(2).sum(-1).mean()  # mean squared norm (centred)
    with torch.no_grad():
        W = torch.randn(sae.d_sae, sae.d_in, generator=gen)
        W /= W.norm(dim=-1, keepdim=True)
        sae.W_dec.copy_(W)
        sae.W_enc.copy_(W.T / scale.sqrt())
        sae.b_enc.zero_()
        sae.b_dec.copy_(activations.mean(0))
    optimizer = torch.optim.Adam(sae.parameters(), lr=lr)
    losses = []
    with _progress(progress, "training the SAE", steps) as advance:
        for _ in range(steps):
            x = activations[torch.randint(0, len(activations), (batch_size,), generator=gen)]
            latents = sae.encode(x)
            reconstruction = sae.decode(latents)
            loss = (reconstruction - x).pow(2).sum(-1).mean() / scale + l1_coeff * latents.abs().sum(-1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                sae.W_dec /= sae.W_dec.norm(dim=-1, keepdim=True)
            losses.append(loss.item())
            if len(losses) % 50 == 0 or len(losses) == steps:  # redraw every 50 steps: cheaper
                advance(len(losses) - 50 * ((len(losses) - 1) // 50), info=f"loss {losses[-1]:.3f}")
    return losses


# --------------------------------------------------------------------------- setups: model + SAE + tokens


@dataclass
class Setup:
    """Everything the exercises' functions take: a model, an SAE, a token batch (BOS first) and the
    SAE's hook name; plus a name for titles."""

    model: Any
    sae: SAE
    tokens: Int[Tensor, "batch seq"]
    hook_name: str
    name: str
    tiny: bool = False
    loss_rows: int | None = None  # the substitution loss uses tokens[:loss_rows] (None: all rows)


def quick_setup(seed: int = 0) -> Setup:
    """An untrained tiny model, a random SAE and a few toy sentences: instant, for a quick look."""
    model = tiny_lm(seed=seed, d_model=32)
    tokens = toy_tokens(4, 12, seed=seed)
    return Setup(model, random_sae(32, 64, seed=seed, hook_name=TINY_HOOK), tokens, TINY_HOOK, "untrained tiny model", tiny=True)


def tiny_setup(
    *, seed: int = 0, lm_steps: int = 300, sae_steps: int = 1500, d_sae: int = 128, n_seq: int = 128,
    progress: bool = True,
) -> Setup:
    """A tiny model trained on the toy language, an SAE trained on its residual stream between its
    two layers, and `n_seq` held-out toy sequences: the real run's pipeline at toy scale (~15 s)."""
    with one_thread():
        model = tiny_lm(seed=seed)
        train_tiny_lm(model, steps=lm_steps, seed=seed, progress=progress)
        # The same weight processing as the real run's GPT-2 (folded LayerNorms, centred residual
        # stream): the SAE is trained on, and the logit effects read through, the processed model.
        model.enable_compatibility_mode(disable_warnings=True)
        train_tokens = toy_tokens(512, 24, seed=seed + 2)
        activations = residual_activations(model, train_tokens, TINY_HOOK)
        sae = SAE(model.cfg.d_model, d_sae, hook_name=TINY_HOOK)
        train_sae(sae, activations, steps=sae_steps, seed=seed, progress=progress)
    tokens = toy_tokens(n_seq, 24, seed=seed + 3)
    return Setup(model.eval(), sae.eval(), tokens, TINY_HOOK, "tiny toy-language model", tiny=True)


def weights_needed() -> str:
    """What the real run needs, for messages."""
    return (
        f"{describe(PRETRAINED_MODEL)} and its residual-stream SAE at {SAE_ID} (SAELens release {SAE_RELEASE}: "
        f"'{SAE_REPO}' on the Hub, {SAE_SIZE}; no sae-lens install needed)"
    )


def _unavailable(reason: str) -> ModelUnavailable:
    return ModelUnavailable(
        f"This result needs {weights_needed()}, but {reason}. Run it once with a network connection to "
        f"download them into the Hugging Face cache ({hub_cache_dir()}), or add --tiny to run your code on a "
        "tiny model instead.",
        reason,
    )


def pretrained_setup(
    *,
    n_seq: int = 32,
    seq_len: int = 64,
    load_model: Callable[[str], Any] | None = None,
    load_sae: Callable[[str, str], SAE] | None = None,
    model_name: str = PRETRAINED_MODEL,
    sae_repo: str = SAE_REPO,
    sae_id: str = SAE_ID,
) -> Setup:
    """GPT-2 small, its layer-6 residual SAE, and `n_seq` sequences of `seq_len` tokens of text.

    Args:
        n_seq, seq_len: the token batch (each row: BOS + seq_len - 1 tokens of `corpus()`).
        load_model: name -> model (default: `arena_course.models.load_pretrained`); tests inject a tiny one.
        load_sae: (repo, sae_id) -> SAE (default: `load_pretrained_sae`).

    Raises:
        ModelUnavailable: with one line naming the model and SAE, their sizes and how to get them, when
            the weights are neither cached nor downloadable, or loading them fails.
    """
    if load_model is None or load_sae is None:
        from arena_course.models import PRETRAINED, load_pretrained, why_not_downloadable

        model_files = PRETRAINED[model_name].files if model_name in PRETRAINED else ("config.json",)
        missing = [
            what
            for what, repo, files in (
                (model_name, model_name, model_files),
                (f"the SAE {sae_id}", sae_repo, (sae_weights_file(sae_id),)),
            )
            if not is_cached(repo, files)
        ]
        if missing:
            blocked = why_not_downloadable()
            if blocked:
                raise _unavailable(
                    f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not in the Hugging Face "
                    f"cache and {blocked}"
                )
            print(f"Downloading {' and '.join(missing)} (once; ~700 MB in all) ...", flush=True)
        load_model = load_model or load_pretrained
        load_sae = load_sae or load_pretrained_sae
    try:
        model = load_model(model_name)
        sae = load_sae(sae_repo, sae_id)
    except ModelUnavailable as e:
        raise _unavailable(f"{model_name}: {e.reason}") from e
    except Exception as e:  # noqa: BLE001 - any failure to get the weights becomes one clear line
        raise _unavailable(f"loading failed ({type(e).__name__}: {one_line(e)[:300]})") from e
    if sae.d_in != model.cfg.d_model:
        raise ValueError(f"the SAE reads {sae.d_in} dimensions but the model's d_model is {model.cfg.d_model}")
    tokens = corpus_tokens(model.tokenizer, n_seq, seq_len)
    # Three full forward passes for the substitution loss: on a CPU, half the rows are plenty.
    return Setup(model, sae, tokens, sae_id, f"{model_name}, SAE {SAE_RELEASE} {sae_id}", loss_rows=max(1, n_seq // 2))


# A few paragraphs of everyday English, so the real run sees more than Python documentation.
_PROSE = (
    "The bakery on the corner opens at six. By seven there is a queue out of the door: builders buying "
    "bacon rolls, parents with pushchairs, a man who orders the same almond croissant every single day. "
    "Maria, who has run the place for twenty years, knows most of them by name.",
    "Heavy rain is expected across the north of the country tomorrow, with up to 40 millimetres in places. "
    "Temperatures will reach 14 degrees in the afternoon before falling to 6 overnight. Drivers are advised "
    "to allow extra time for their journeys, and flood warnings remain in place for three rivers.",
    "\"Where were you last night?\" she asked. He shrugged and put his keys on the table. \"Out,\" he said. "
    "\"With Tom. We watched the match at his place.\" She looked at him for a long moment, then laughed. "
    "\"You hate football.\"",
    "To make the sauce, melt 50 g of butter in a pan over a low heat. Stir in 2 tablespoons of flour and "
    "cook for one minute. Gradually whisk in 500 ml of milk, bringing it to the boil, then simmer for five "
    "minutes until thick. Season with salt, pepper and a pinch of nutmeg.",
    "The mitochondrion is often called the powerhouse of the cell. It converts nutrients into adenosine "
    "triphosphate, the molecule cells use to store and transfer energy. Mitochondria have their own DNA, "
    "which is inherited almost entirely from the mother.",
    "The home side took the lead after 12 minutes when Okafor headed in a corner at the near post. The "
    "visitors equalised just before half-time, and the second half was scrappy, with few chances, until a "
    "late penalty settled it: 2-1 to the hosts, who move up to fourth in the table.",
    "Dear Mr Patel, thank you for your letter of 3 March. I am sorry to hear that your order arrived "
    "damaged. We have arranged for a replacement to be sent today, and you should receive it within five "
    "working days. Please keep the damaged item until our courier collects it. Yours sincerely, Anna Berg.",
    "In 1969, Neil Armstrong and Buzz Aldrin became the first people to walk on the Moon, while Michael "
    "Collins orbited above them in the command module. The mission, Apollo 11, launched from Florida on "
    "16 July and returned safely to Earth eight days later.",
    "Shares fell sharply on Tuesday after the company reported lower profits than analysts had expected. "
    "Revenue rose 4 per cent to $2.3 billion, but costs grew faster, and the firm cut its forecast for the "
    "rest of the year. The chief executive said she remained confident in the long-term plan.",
    "My grandmother kept a small garden behind her house in the village. In spring she planted beans, "
    "potatoes and onions; in summer the roses along the wall were full of bees. When I was a child I spent "
    "every August there, reading under the apple tree and eating too many plums.",
)


def corpus() -> list[str]:
    """Text for the real run, with no download: the prose above, then sections of the Python language
    reference (Python ships it, in `pydoc_data.topics`), so the SAE sees prose, numbers, code and docs."""
    texts = list(_PROSE)
    try:
        from pydoc_data.topics import topics

        texts += [topics[name] for name in sorted(topics)]
    except ImportError:  # some distributions leave pydoc_data out; the prose alone still works
        pass
    return texts


def corpus_tokens(tokenizer, n_seq: int, seq_len: int) -> Int[Tensor, "n_seq seq_len"]:
    """`n_seq` rows of BOS + `seq_len - 1` tokens, taking chunks from the corpus's texts in turn."""
    chunks_per_text = []
    for text in corpus():
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        chunks_per_text.append([ids[i : i + seq_len - 1] for i in range(0, len(ids) - seq_len + 2, seq_len - 1)])
    rows: list[list[int]] = []
    depth = 0
    while len(rows) < n_seq and any(depth < len(c) for c in chunks_per_text):
        rows += [[tokenizer.bos_token_id, *c[depth]] for c in chunks_per_text if depth < len(c)]
        depth += 1
    if len(rows) < n_seq:
        raise ValueError(f"the corpus has only {len(rows)} chunks of {seq_len - 1} tokens; asked for {n_seq}")
    return torch.tensor(rows[:n_seq], dtype=torch.long)


# --------------------------------------------------------------------------- tokens as text


def token_strings(model, ids: Sequence[int] | Tensor) -> list[str]:
    """Each token id as text, with a leading space where the token has one (word-level tokenizers
    get one everywhere), newlines shown as ↵: for printing contexts."""
    tokenizer = model.tokenizer
    word_level = getattr(tokenizer, "name_or_path", "").startswith("arena-tiny")
    out = []
    for i in (ids.tolist() if isinstance(ids, Tensor) else ids):
        text = tokenizer.decode([int(i)])
        out.append((" " + text if word_level else text).replace("\n", "↵"))
    return out


def format_context(model, tokens: Int[Tensor, "batch seq"], batch: int, pos: int, *, before: int = 8, after: int = 3) -> tuple[str, str, str]:
    """The text around tokens[batch, pos]: (up to `before` tokens before, the token, up to `after` after)."""
    row = tokens[batch]
    left = "".join(token_strings(model, row[max(1, pos - before) : pos]))  # never show BOS
    right = "".join(token_strings(model, row[pos + 1 : pos + 1 + after]))
    return left, token_strings(model, row[pos : pos + 1])[0], right


# --------------------------------------------------------------------------- the section's result


def loss_recovered(clean: float, with_sae: float, zero_ablated: float) -> float:
    """How much of the loss that zero-ablation costs the SAE's reconstruction wins back:
    (zero_ablated - with_sae) / (zero_ablated - clean). 1 = as good as the real activations, 0 = no
    better than deleting them."""
    return (zero_ablated - with_sae) / (zero_ablated - clean)


@dataclass
class LatentReport:
    """What the result shows about one latent."""

    latent: int
    frequency: float
    contexts: list[tuple[float, str, str, str]]  # (activation, left, token, right), strongest first
    top_logits: list[tuple[str, float]]
    bottom_logits: list[tuple[str, float]]


@dataclass
class ResultSummary:
    """The numbers behind the result's plots."""

    frequency: Tensor
    mse: float
    fvu: float
    losses: tuple[float, float, float]  # clean, with the SAE spliced in, zero-ablated
    recovered: float
    latents: list[LatentReport] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)


def choose_latents(frequency: Tensor, n: int, *, seed: int = 0, lo: float | None = None, hi: float = 0.2) -> list[int]:
    """`n` latents that fire on this batch neither almost never nor all the time (frequency in
    [lo, hi]; lo defaults to 4 tokens' worth), chosen at random (seeded) and spread over that range."""
    n_tokens_inv = float(frequency[frequency > 0].min()) if (frequency > 0).any() else 1.0
    lo = lo if lo is not None else 4 * n_tokens_inv
    candidates = torch.nonzero((frequency >= lo) & (frequency <= hi)).flatten()
    if len(candidates) < n:  # fall back to the most frequent latents
        candidates = frequency.argsort(descending=True)[: max(n, 1)]
    gen = torch.Generator().manual_seed(seed)
    picked = candidates[torch.randperm(len(candidates), generator=gen)[:n]]
    return sorted(picked.tolist(), key=lambda i: -float(frequency[i]))


def run_result(
    setup: Setup,
    *,
    latent_activation_probability: Callable,
    sae_reconstruction_loss: Callable,
    substitution_loss: Callable,
    top_activating_tokens: Callable,
    latent_logit_effect: Callable,
    out_dir: Path = Path("results/superposition"),
    latents: Sequence[int] | None = None,
    n_latents: int = 3,
    k_contexts: int = 8,
    k_logits: int = 8,
    progress: bool = True,
) -> ResultSummary:
    """The section's result: run the five exercise functions on `setup` and draw two figures.

    Writes `sae_lm_overview.png` (how often latents fire; next-token loss clean / with the SAE / zero-
    ablated) and `sae_lm_latents.png` (for a few latents: top-activating contexts and logit effects) in
    `out_dir`, with a `tiny_` prefix after `sae_lm_` for a tiny setup.
    """
    model, sae, tokens, hook = _ReuseCache(setup.model), setup.sae, setup.tokens, setup.hook_name
    n_steps = 3 + (len(latents) if latents else n_latents) + 1
    with torch.no_grad(), _progress(progress, "running your functions", n_steps) as advance:
        advance(0, info="latent_activation_probability")
        frequency = latent_activation_probability(model, sae, tokens, hook).detach().float().cpu()
        advance(info="sae_reconstruction_loss")
        mse, fvu = (float(v) for v in sae_reconstruction_loss(model, sae, tokens, hook))
        advance(info="substitution_loss")
        loss_tokens = tokens[: setup.loss_rows] if setup.loss_rows else tokens
        losses = tuple(float(v) for v in substitution_loss(model, sae, loss_tokens, hook))
        chosen = list(latents) if latents else choose_latents(frequency, n_latents)
        advance(info=f"latent {chosen[0]}: top_activating_tokens, latent_logit_effect")
        reports = []
        for j, latent in enumerate(chosen):
            positions, values = top_activating_tokens(model, sae, tokens, hook, latent, k_contexts)
            contexts = [
                (float(v), *format_context(model, tokens, int(b), int(p)))
                for (b, p), v in zip(positions.tolist(), values.tolist())
                if v > 0  # a latent that fires fewer than k times: show only where it fires
            ]
            top_v, top_i, bottom_v, bottom_i = latent_logit_effect(model, sae, latent, k_logits)
            reports.append(
                LatentReport(
                    latent,
                    float(frequency[latent]),
                    contexts,
                    list(zip(token_strings(model, top_i), top_v.tolist())),
                    list(zip(token_strings(model, bottom_i), bottom_v.tolist())),
                )
            )
            following = f"latent {chosen[j + 1]}: top_activating_tokens, latent_logit_effect" if j + 1 < len(chosen) else "plots"
            advance(info=following)
        summary = ResultSummary(frequency, mse, fvu, losses, loss_recovered(*losses), reports)
        prefix = "sae_lm_tiny_" if setup.tiny else "sae_lm_"
        out_dir = Path(out_dir)
        summary.paths = [
            plot_overview(summary, setup.name, int(tokens[:, 1:].numel()), out_dir / f"{prefix}overview.png"),
            plot_latents(summary.latents, setup.name, out_dir / f"{prefix}latents.png"),
        ]
        advance(info="done")
    return summary


class _ReuseCache:
    """A model whose repeated, identical `run_with_cache` calls (the same tokens tensor, the same
    arguments) run it only once; everything else goes straight to the model.

    Exercises 26, 27 and 29 each cache the same activation of the same batch, and on GPT-2 on a CPU
    every forward pass costs seconds. The answers are exactly those of the model itself.
    """

    def __init__(self, model):
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_memo", {})

    def __getattr__(self, name: str):
        return getattr(self._model, name)

    def __call__(self, *args, **kwargs):
        return self._model(*args, **kwargs)

    def run_with_cache(self, tokens, *args, **kwargs):
        key = (id(tokens), tuple(tokens.shape), repr(args), repr(sorted(kwargs.items())))
        if key not in self._memo:
            self._memo[key] = self._model.run_with_cache(tokens, *args, **kwargs)
        return self._memo[key]


def plot_overview(summary: ResultSummary, name: str, n_tokens: int, path: Path) -> Path:
    """Left: histogram of how often each latent fires (log scale). Right: the next-token loss clean,
    with the SAE's reconstruction spliced in, and zero-ablated, with the fraction of loss recovered."""
    plt = pyplot()
    freq = summary.frequency
    alive = freq[freq > 0]
    fig, (ax_f, ax_l) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw=dict(width_ratios=[1.4, 1]))

    if len(alive):
        log_freq = alive.log10()
        ax_f.hist(log_freq.numpy(), bins=40, color="tab:blue", alpha=0.85)
    ax_f.set_xlabel("log₁₀ (fraction of tokens on which the latent fires)")
    ax_f.set_ylabel("number of latents")
    n_dead = int((freq == 0).sum())
    l0 = float(freq.sum())  # Σ over latents of P(fires) = mean number of latents firing per token
    ax_f.set_title(
        f"How often each of the {len(freq)} latents fires ({n_tokens} tokens, BOS excluded)\n"
        f"{n_dead} never fire on these tokens · on average {l0:.1f} latents fire per token (L0)",
        fontsize=10,
    )
    ax_f.axvline(math.log10(1 / n_tokens), color="0.5", ls=":", lw=1)
    ax_f.text(math.log10(1 / n_tokens), ax_f.get_ylim()[1] * 0.95, " fires once", fontsize=8, color="0.4", va="top")

    clean, with_sae, zero = summary.losses
    labels = ["clean", "SAE reconstruction\nspliced in", "zero-ablated"]
    bars = ax_l.bar(labels, [clean, with_sae, zero], color=["tab:green", "tab:orange", "tab:red"])
    for bar, value in zip(bars, [clean, with_sae, zero]):
        ax_l.text(bar.get_x() + bar.get_width() / 2, value, f"{value:.3f}", ha="center", va="bottom", fontsize=9)
    ax_l.set_ylabel("next-token cross-entropy loss")
    ax_l.set_ylim(0, max(zero, with_sae, clean) * 1.15)
    ax_l.set_title(
        f"Next-token loss: {summary.recovered:.1%} of it recovered by the SAE\n"
        f"(reconstruction MSE {summary.mse:.3g}, variance unexplained {summary.fvu:.1%})",
        fontsize=10,
    )
    fig.suptitle(f"An SAE on a language model's residual stream: {name}", fontsize=12)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_latents(reports: list[LatentReport], name: str, path: Path) -> Path:
    """One row per latent. Left: its top-activating tokens in context (the token in brackets, with its
    activation). Right: the tokens whose logits its decoder direction raises most (blue) and lowers
    most (red) through the unembedding."""
    plt = pyplot()
    n = max(len(reports), 1)
    fig, axes = plt.subplots(n, 2, figsize=(15, 3.3 * n), squeeze=False, gridspec_kw=dict(width_ratios=[1.7, 1]))
    for row, report in zip(axes, reports):
        ax_t, ax_b = row
        ax_t.axis("off")
        ax_t.set_title(
            f"latent {report.latent} (fires on {report.frequency:.2%} of tokens): top-activating tokens",
            fontsize=10, loc="left",
        )
        if not report.contexts:
            ax_t.text(0, 0.5, "(never fires on this batch)", fontsize=9, transform=ax_t.transAxes)
        for j, (value, left, token, right) in enumerate(report.contexts):
            y = 0.92 - j * (0.9 / max(len(report.contexts), 1))
            ax_t.text(0.0, y, f"{value:7.2f}", fontsize=9, family="monospace", transform=ax_t.transAxes, va="top")
            ax_t.text(0.48, y, _clip(left, 44, keep="end"), fontsize=9, ha="right", transform=ax_t.transAxes, va="top")
            ax_t.text(0.485, y, f"[{_clip(token.strip(), 16) or repr(token)}]", fontsize=9, weight="bold", color="tab:blue",
                      transform=ax_t.transAxes, va="top")
            ax_t.text(0.62, y, _clip(right, 40), fontsize=9, transform=ax_t.transAxes, va="top", color="0.35")

        entries = report.top_logits + list(reversed(report.bottom_logits))
        labels = [repr(t) for t, _ in entries]
        values = [v for _, v in entries]
        y = list(range(len(entries)))
        ax_b.barh(y, values, color=["tab:blue" if v >= 0 else "tab:red" for v in values])
        ax_b.set_yticks(y, labels, fontsize=8)
        ax_b.invert_yaxis()
        ax_b.axvline(0, color="0.5", lw=0.8)
        ax_b.set_title("direct effect on the logits: W_dec[latent] @ W_U", fontsize=10)
    fig.suptitle(f"What a few latents respond to, and what they predict: {name}", fontsize=12)
    fig.tight_layout()
    return save_figure(fig, path)


def _clip(text: str, width: int, *, keep: str = "start") -> str:
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1) :] if keep == "end" else text[: width - 1] + "…"


def result_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of the section's result (its last exercise's `__main__`)."""
    parser = result_parser(
        "SAEs on a language model: run its exercises on GPT-2 small and a pretrained SAE "
        f"({weights_needed()}), or on a tiny model with --tiny.",
        "a tiny toy-language model and SAE (no download, ~15 s)",
    )
    parser.add_argument("--latents", type=int, nargs="+", help="which latents to show (default: a few, at random)")
    return parser.parse_args(argv)
