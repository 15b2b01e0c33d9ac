"""Chapter 3's models, wrapped in nnsight: tiny ones for tests and `--tiny` results, GPT-J-6B / GPT-2 XL for
results.

`tiny_gptj(seed)` is a random-init model with GPT-J's architecture and module names
(`model.transformer.h[L]`, `.attn.out_proj`, `model.lm_head`) over a word-level vocabulary of every task's
words, wrapped in nnsight's `TransformersModel` (what hidden tests use); `tiny_gpt2(seed)` the same for
GPT-2's architecture (steering). `trained_tiny_icl_gptj()` is a tiny GPT-J trained on the chapter's ICL
prompts, that every section's `--tiny` result runs on. `load_fv_model(name, remote)` loads the real model
locally (from the Hugging Face cache) or, with `remote=True`, runs it on NDIF with the API key in
NDIF_API_KEY; when neither is possible it raises `ModelUnavailable` with one line saying what is needed.
`use_eager_attention(model)` makes a local model return its attention patterns.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from arena_course.function_vectors import icl_training
from arena_course.function_vectors.tasks import load_word_pairs, task_names

from arena_course.display import TinySuffix

UNK, BOS = "<unk>", "<bos>"


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


def _hf_tiny(architecture: str, seed: int, n_layers: int, d_model: int, n_heads: int, activation: str = "gelu_new"):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, GPTJConfig, GPTJForCausalLM

    vocab = len(fv_words())
    ids = dict(bos_token_id=1, eos_token_id=1, pad_token_id=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if architecture == "gptj":
            config = GPTJConfig(n_layer=n_layers, n_embd=d_model, n_head=n_heads, rotary_dim=d_model // n_heads // 2 * 2,
                                vocab_size=vocab, n_positions=128, activation_function=activation, **ids)
            hf = GPTJForCausalLM(config)
        else:
            config = GPT2Config(n_layer=n_layers, n_embd=d_model, n_head=n_heads, vocab_size=vocab, n_positions=128,
                                activation_function=activation, **ids)
            hf = GPT2LMHeadModel(config)
    return hf.eval()


def wrap(hf_model, tokenizer=None):
    """An in-memory Hugging Face causal LM wrapped for nnsight 0.8 (`TransformersModel`)."""
    from nnsight.modeling.transformers import TransformersModel

    return TransformersModel(hf_model, tokenizer=tokenizer or fv_tokenizer(), task="text-generation")


def tiny_gptj(seed: int = 0, *, n_layers: int = 2, d_model: int = 32, n_heads: int = 4, activation: str = "gelu_new"):
    """A random-init model with GPT-J's architecture (module names as in GPT-J-6B: `transformer.h[L]`,
    `transformer.h[L].attn.out_proj`, `lm_head`) over `fv_words()`, wrapped in nnsight. ~10 ms. `activation`:
    the MLP's (GPT-J's own is gelu_new; the trained tiny model uses the exact gelu, ~20% cheaper to train)."""
    return wrap(_hf_tiny("gptj", seed, n_layers, d_model, n_heads, activation))


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


@dataclass
class ModelSetting(TinySuffix):
    """What a section's result runs on: the model, whether it runs on NDIF, whether it is a --tiny model, and
    the model's name for titles and reports."""

    model: Any
    remote: bool
    tiny: bool
    name: str


def load_or_say_tiny(load: Callable[..., Any] | None, exercise_file: str, *args: Any, **kwargs: Any):
    """`load_fv_model(*args, **kwargs)`; its one-line ModelUnavailable gets the offline alternative added."""
    from arena_course.models import ModelUnavailable

    try:
        return (load or load_fv_model)(*args, **kwargs)
    except ModelUnavailable as e:
        raise ModelUnavailable(
            f"{e} Without either, `python exercises/3_function_vectors/{exercise_file} --tiny` runs the same code on "
            "a tiny model.", e.reason
        ) from None


def quiet_transformers() -> None:
    """Silence transformers' advice to pass an attention mask: GPT-2's BOS is also its padding token, so every
    prompt that starts with BOS looks padded to it, but nnsight has already masked real padding."""
    from transformers.utils import logging

    logging.set_verbosity_error()


# --------------------------------------------------------------------------- the tiny trained GPT-J


TINY_ICL_CONFIG = dict(n_layers=3, d_model=48, n_heads=8, activation="gelu")
TINY_ICL_EXAMPLES = icl_training.N_EXAMPLES  # examples per training prompt
TINY_TASK_VECTOR_BLOCK = 1  # where the task-vector loss puts the task vector


def trained_tiny_icl_gptj(cache_dir: Path | None = Path("results/function_vectors"), progress: bool = True,
                          seed: int = 0):
    """The tiny GPT-J (3 blocks of 8 heads, d_model 48) that every section's `--tiny` result runs on, trained
    with `icl_training.train_tiny_icl_gptj` (a pair-check warm-up, then ICL prompts, half of them shuffled,
    with a task-vector loss at block 1; ~1 min on one CPU thread), and cached in `cache_dir` after the first
    time (`cache_dir=None`: no cache). `seed` seeds the initialisation and the training prompts (the results
    use 0; tests also train others)."""
    from arena_course.models import load_or_train

    model = tiny_gptj(seed, **TINY_ICL_CONFIG)
    key = "_".join(f"{k}{v}" for k, v in TINY_ICL_CONFIG.items()) + f"_{icl_training.recipe_key()}"
    key += f"_seed{seed}" if seed else ""
    path = Path(cache_dir) / f".tiny_icl_gptj_{key}.pt" if cache_dir is not None else None
    load_or_train(model._module, path, lambda: icl_training.train_tiny_icl_gptj(
        model, block=TINY_TASK_VECTOR_BLOCK, seed=seed, progress=progress))
    model._module.eval()
    return model


# --------------------------------------------------------------------------- attention patterns


def use_eager_attention(model):
    """Make a (local) model compute attention with the explicit softmax(QKᵀ/√d)V, which returns the
    attention pattern as the second element of each attention module's output; returns the model.

    transformers 5 loads GPT-J (and GPT-2) with "sdpa", PyTorch's fused scaled-dot-product kernel, which
    never materialises the pattern: the attention module returns (output, None). The outputs of the two
    implementations agree (up to float error) at every real token."""
    if getattr(model.config, "_attn_implementation", None) != "eager":
        model.set_attn_implementation("eager")
    return model
