"""Chapter 3's small helpers for prompts and generation, imported by exercises 10-12 and the steering model:

- `prompt_width(tokenizer, prompts)`: how many tokens a padded batch of prompts takes.
- `new_token_texts(tokenizer, ids, prompt_width)`: decode what `model.generate` added after the prompts.
- `with_bos(tokenizer, text)`: a prompt's token ids with the BOS token in front, as Turner et al. run GPT-2.
- `space_token_id(tokenizer)`: the token Turner et al. pad steering prompts with (GPT-2's " ").
"""

from __future__ import annotations

from collections.abc import Sequence

from jaxtyping import Int
from torch import Tensor


def prompt_width(tokenizer, prompts: Sequence[str]) -> int:
    """How many tokens the batch of prompts takes once padded: the longest prompt's length."""
    return max(len(tokenizer(p)["input_ids"]) for p in prompts)


def new_token_texts(tokenizer, ids: Int[Tensor, "batch seq"], width: int) -> list[str]:
    """The text `model.generate` added after prompts `width` tokens wide (special tokens, such as padding
    after an early end-of-text, dropped)."""
    return tokenizer.batch_decode(ids[:, width:], skip_special_tokens=True)


def with_bos(tokenizer, text: str) -> list[int]:
    """The token ids of `text` with the BOS token in front: `[BOS, ...]`. Turner et al. run GPT-2 this way
    (TransformerLens prepends BOS), and so the steering vector and the prompt it is added to line up: BOS
    at position 0, the first word at position 1."""
    return [tokenizer.bos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"]


def space_token_id(tokenizer) -> int:
    """The token Turner et al. pad the shorter prompt of a steering pair with: GPT-2's " " (id 220). A
    tokenizer that has no token for a lone space (the tiny models' word-level one drops spaces) pads with
    its padding token."""
    ids = tokenizer(" ", add_special_tokens=False)["input_ids"]
    return ids[0] if len(ids) == 1 else tokenizer.pad_token_id
