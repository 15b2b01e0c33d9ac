"""Models for every chapter: tiny offline TransformerLens models for tests, pretrained ones for results.

Two kinds of model, one interface (a TransformerLens 4 `TransformerBridge`: `run_with_cache`,
`run_with_hooks`, `W_U`, hook names such as "blocks.1.hook_resid_pre"):

- `tiny_model(...)` builds a small randomly initialised transformer from a config, in about 25 ms,
  with no file and no network: the same seed gives the same weights (the init runs in a forked RNG, so
  the global torch RNG is untouched). Hidden tests use it. `tiny_tokenizer(words)` is a word-level
  tokenizer built in memory, so `model.to_tokens("the cat sat")` works on a tiny model too.
- `load_pretrained("gpt2")` loads a real model from the Hugging Face cache (downloading it when online),
  with HookedTransformer-compatible weight processing. When the weights can't be had it raises
  `ModelUnavailable` with a one-line message naming the model, its size and how to get it: results
  print that line and stop; they never fall back to a different model silently.

TransformerLens 4 has no `HookedTransformer`; see docs/offline_models.md for the calls used here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# A general-purpose word list for tiny models (chapters may pass their own `words`).
# Index 0 is the unknown-word token, index 1 is BOS (also used as EOS and padding).
UNK, BOS = "<unk>", "<bos>"
DEFAULT_WORDS: tuple[str, ...] = tuple(
    (
        f"{UNK} {BOS} . , the a and then it is was of to in on under cat dog bird fish mat rug tree "
        "house sun moon sat ran saw big small red blue green one two three four five when where who "
        "what up down left right fast slow happy sad alice bob"
    ).split()
)


def tiny_tokenizer(
    words: Sequence[str] = DEFAULT_WORDS,
    *,
    add_bos_token: bool = True,
    name: str = "arena-tiny-words",
    split_punctuation: bool = False,
):
    """A word-level tokenizer over `words`, built in memory (whitespace split; unknown words -> <unk>).

    With `split_punctuation=True`, punctuation is split off words too ("store." -> "store", "."), so
    ordinary sentences tokenize word by word, as GPT-2's tokenizer does for common words.

    `words` must start with "<unk>", "<bos>" (ids 0 and 1). `<bos>` is also the EOS and padding token.
    With `add_bos_token=True` (what a TransformerBridge needs: otherwise TransformerLens tries to reload
    the tokenizer from the Hub to add a BOS), `tokenizer("the cat")` gives `[<bos>, the, cat]`.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if tuple(words[:2]) != (UNK, BOS):
        raise ValueError(f"words must start with {UNK!r}, {BOS!r}; got {list(words[:2])}")
    if len(set(words)) != len(words):
        raise ValueError("words must be distinct")
    tok = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Whitespace() if split_punctuation else pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        name_or_path=name,
        add_bos_token=add_bos_token,
        unk_token=UNK,
        bos_token=BOS,
        eos_token=BOS,
        pad_token=BOS,
    )


def tiny_model(
    *,
    seed: int = 0,
    n_layers: int = 2,
    d_model: int = 32,
    n_heads: int = 4,
    d_mlp: int | None = None,
    n_ctx: int = 64,
    words: Sequence[str] | None = DEFAULT_WORDS,
    d_vocab: int | None = None,
    act_fn: str = "gelu",
    normalization_type: str = "LN",
    tokenizer: Any = None,
):
    """A small randomly initialised GPT-2-style transformer as a TransformerLens 4 TransformerBridge.

    Args:
        seed: the init seed (same seed, same weights; the global RNG is not used or changed).
        n_layers, d_model, n_heads, n_ctx, act_fn, normalization_type: the architecture.
            d_head = d_model // n_heads.
        d_mlp: the MLP width (default 4 * d_model).
        words: a vocabulary for `tiny_tokenizer` (d_vocab = len(words)), or None for no tokenizer
            (then give `d_vocab` and pass token ids only).
        d_vocab: the vocabulary size when `words` is None.
        tokenizer: a tokenizer to use instead of `tiny_tokenizer(words)` (`words` then only sets d_vocab
            when `d_vocab` is not given).

    Returns:
        The model in eval mode, on the CPU, float32. Hook names are TransformerLens's
        (`blocks.L.hook_resid_pre`, `blocks.L.attn.hook_pattern`, ...).
    """
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    if d_model % n_heads:
        raise ValueError(f"d_model ({d_model}) must be a multiple of n_heads ({n_heads})")
    if words is None and d_vocab is None and tokenizer is None:
        raise ValueError("give a vocabulary (`words`) or its size (`d_vocab`)")
    if tokenizer is None and words is not None:
        tokenizer = tiny_tokenizer(words)
    cfg = TransformerBridgeConfig(
        d_model=d_model,
        d_head=d_model // n_heads,
        n_heads=n_heads,
        n_layers=n_layers,
        n_ctx=n_ctx,
        d_vocab=d_vocab or (len(tokenizer) if tokenizer is not None else len(words)),
        d_mlp=d_mlp or 4 * d_model,
        act_fn=act_fn,
        normalization_type=normalization_type,
        positional_embedding_type="standard",
        seed=seed,
        device="cpu",
    )
    return TransformerBridge.boot_native(cfg, tokenizer=tokenizer).eval()


def load_or_train(module: Any, cache_path: Any, train: Any) -> None:
    """Give `module` (an nn.Module) its trained weights: from `cache_path` when a readable cache is there,
    else by calling `train()` and then writing the weights to `cache_path` (None: never cached). A stale
    or broken cache is retrained, not an error: results' tiny models are rebuilt in seconds."""
    import torch

    if cache_path is not None and cache_path.is_file():
        try:
            module.load_state_dict(torch.load(cache_path, weights_only=True))
            return
        except Exception:  # noqa: BLE001 - any unreadable cache is replaced
            cache_path.unlink(missing_ok=True)
    train()
    if cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(module.state_dict(), cache_path)


# --------------------------------------------------------------------------- pretrained models


@dataclass(frozen=True)
class Pretrained:
    """What a pretrained model is, for messages: its Hub repo, a human name, its size, its files."""

    repo_id: str
    description: str
    params: str
    size: str
    files: tuple[str, ...] = ("config.json", "model.safetensors")


PRETRAINED: dict[str, Pretrained] = {
    "gpt2": Pretrained("gpt2", "GPT-2 small", "124M parameters", "~550 MB"),
    "gpt2-medium": Pretrained("gpt2-medium", "GPT-2 medium", "355M parameters", "~1.5 GB"),
    "gpt2-xl": Pretrained("gpt2-xl", "GPT-2 XL", "1.5B parameters", "~6.4 GB"),
    "EleutherAI/gpt-j-6b": Pretrained(
        "EleutherAI/gpt-j-6b", "GPT-J-6B", "6B parameters", "~24 GB in float32, 12 GB in float16"
    ),
    "EleutherAI/pythia-70m-deduped": Pretrained(
        "EleutherAI/pythia-70m-deduped", "Pythia 70M (deduped)", "70M parameters", "~170 MB"
    ),
}


class ModelUnavailable(RuntimeError):
    """Pretrained weights could not be had (offline and not cached, or the download failed).

    `str(error)` is one line saying what is needed and how to get it: print it and stop. `reason` is
    the part that says what went wrong (e.g. "it is not in the Hugging Face cache and ...").
    """

    def __init__(self, message: str, reason: str = ""):
        super().__init__(one_line(message))
        self.reason = one_line(reason or message)


def hub_offline() -> bool:
    """Whether downloads are switched off (HF_HUB_OFFLINE=1 or TRANSFORMERS_OFFLINE=1)."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    if any(f.strip().lower() in {"1", "true", "yes", "on"} for f in flags):
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face Hub's host accepts a connection (a quick check, so that a machine with no
    network gets a clear message at once instead of a minute of retries). True behind a proxy: we can't
    tell, so let the download try."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def hub_cache_dir() -> str:
    """The Hugging Face Hub cache folder that would be used (HF_HUB_CACHE, or $HF_HOME/hub)."""
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def is_cached(repo_id: str, filenames: Sequence[str]) -> bool:
    """Whether every one of `filenames` of the Hub repo `repo_id` is in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    return all(isinstance(try_to_load_from_cache(repo_id, f), str) for f in filenames)


def why_not_downloadable() -> str:
    """"" if downloading from the Hub can be tried, else why not (offline mode, or no connection)."""
    if hub_offline():
        return "HF_HUB_OFFLINE=1 forbids downloading"
    if not hub_reachable():
        return "huggingface.co cannot be reached (no network?)"
    return ""


def describe(name: str) -> str:
    """"GPT-2 small ('gpt2' on the Hugging Face Hub, 124M parameters, ~550 MB)", or just the name."""
    info = PRETRAINED.get(name)
    if info is None:
        return f"'{name}' from the Hugging Face Hub"
    return f"{info.description} ('{info.repo_id}' on the Hugging Face Hub, {info.params}, {info.size})"


def one_line(text: object) -> str:
    """`text` with its whitespace (newlines included) collapsed, so it prints as one line."""
    return " ".join(str(text).split())


def load_pretrained(name: str, *, device: str = "cpu", compatibility_mode: bool = True) -> Any:
    """Load a pretrained model as a TransformerBridge, from the Hugging Face cache or the Hub.

    Args:
        name: the Hugging Face model name, e.g. "gpt2".
        device: where to put it.
        compatibility_mode: apply HookedTransformer's weight processing (folded LayerNorm, centred
            writing weights and unembedding) and legacy hook names. Needed whenever activations are
            compared with tools built on HookedTransformer, e.g. SAEs trained with SAELens.

    Raises:
        ModelUnavailable: not cached and not downloadable (offline mode, no network), or loading
            failed; the message is one line naming the model, its size and how to get it.
    """
    info = PRETRAINED.get(name, Pretrained(name, name, "", "size unknown"))
    how = (
        f"run once with a network connection to download it into the Hugging Face cache "
        f"({hub_cache_dir()}), or copy it there"
    )
    if not is_cached(info.repo_id, info.files):
        blocked = why_not_downloadable()
        if blocked:
            reason = f"it is not in the Hugging Face cache and {blocked}"
            raise ModelUnavailable(f"Needs {describe(name)}: {reason}; {how}.", reason)
    try:
        from transformer_lens.model_bridge import TransformerBridge

        model = TransformerBridge.boot_transformers(name, device=device)
        if compatibility_mode:
            model.enable_compatibility_mode(disable_warnings=True)
    except Exception as e:  # noqa: BLE001 - any failure to load becomes one clear line
        reason = f"loading it failed ({type(e).__name__}: {one_line(e)[:200]})"
        raise ModelUnavailable(f"Needs {describe(name)}: {reason}; {how}.", reason) from e
    return model.eval()
