"""The indirect object identification (IOI) task: prompts, their word positions, and corrupted variants.

An IOI prompt names two people, then repeats one of them (the subject, S) and stops where the other one
(the indirect object, IO) should come next:

    "When Mary and John went to the store, John gave a drink to"   ->  " Mary"
          IO       S1                       S2                 end

Templates come in two orders: BABA (S named first, as above: "When [B] and [A] ..., [B] ... to") and
ABBA (IO named first: "When [A] and [B] ..., [B] ... to"). `IOIDataset` builds a batch of such prompts
from our templates, names, places and objects, tokenizes them with any tokenizer whose names are single
tokens (GPT-2's, or the word-level one built here for tiny models), and records the positions of IO, S1,
S2 and the end token in every prompt. Its variants keep everything but the names: `flipped()` repeats
the other name at S2 (so the right answer changes, and only that token differs), `abc()` replaces all three name slots with three different names (so
no name is repeated: the "ABC" distribution the paper patches and mean-ablates from).

The models that run on these prompts are in `arena_course.ioi.models`; what a section's result runs on,
in `arena_course.ioi.results`.

Source: Wang et al. 2022, "Interpretability in the Wild: a Circuit for Indirect Object Identification in
GPT-2 small" (https://arxiv.org/abs/2211.00593); the templates and names follow its appendix.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

# --------------------------------------------------------------------------- the words

# Names that are one token each (with a leading space) in GPT-2's tokenizer, from the paper's list.
NAMES: tuple[str, ...] = (
    "Mary", "John", "Tom", "James", "Dan", "Sid", "Martin", "Amy", "Alice", "Bob", "Paul", "Kate", "Anna",
    "Mark", "Sarah", "David", "Laura", "Michael", "Lisa", "Eric", "Emily", "Frank", "Jane", "Kevin", "Rachel",
    "Scott", "Ryan", "Rose", "Peter", "Ruby", "George", "Victoria", "Jack", "Maria", "Adam", "Crystal",
)
PLACES: tuple[str, ...] = ("store", "garden", "restaurant", "school", "hospital", "office", "house", "station")
OBJECTS: tuple[str, ...] = ("ring", "kiss", "bone", "basketball", "computer", "necklace", "drink", "snack")

# BABA templates: [B] is the subject (named first and repeated), [A] the indirect object. The ABBA
# version of each swaps the first two names. Every template ends with "[A]", the answer; the prompt
# stops just before it.
BABA_TEMPLATES: tuple[str, ...] = (
    "Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] had a lot of fun at the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] were working at the [PLACE]. [B] decided to give a [OBJECT] to [A]",
    "Then, [B] and [A] were thinking about going to the [PLACE]. [B] wanted to give a [OBJECT] to [A]",
    "Then, [B] and [A] had a long argument, and afterwards [B] said to [A]",
    "After [B] and [A] went to the [PLACE], [B] gave a [OBJECT] to [A]",
    "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give it to [A]",
    "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give the [OBJECT] to [A]",
    "While [B] and [A] were working at the [PLACE], [B] gave a [OBJECT] to [A]",
    "While [B] and [A] were commuting to the [PLACE], [B] gave a [OBJECT] to [A]",
    "After the lunch, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Afterwards, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] had a long argument. Afterwards [B] said to [A]",
    "The [PLACE] [B] and [A] went to had a [OBJECT]. [B] gave it to [A]",
    "Friends [B] and [A] found a [OBJECT] at the [PLACE]. [B] gave it to [A]",
)


def abba(template: str) -> str:
    """The ABBA version of a BABA template: the first [B] and the first [A] swap places."""
    return template.replace("[B]", "[X]", 1).replace("[A]", "[B]", 1).replace("[X]", "[A]", 1)


ABBA_TEMPLATES: tuple[str, ...] = tuple(abba(t) for t in BABA_TEMPLATES)

UNK, BOS = "<unk>", "<bos>"


def ioi_words() -> tuple[str, ...]:
    """The word-level vocabulary of every IOI prompt (<unk>, <bos> first), for a tiny model's tokenizer."""
    words: list[str] = [UNK, BOS]
    text = " ".join(BABA_TEMPLATES).replace("[A]", "").replace("[B]", "").replace("[PLACE]", "").replace("[OBJECT]", "")
    for w in [*re.findall(r"\w+|[^\w\s]+", text), *NAMES, *PLACES, *OBJECTS]:
        if w not in words:
            words.append(w)
    return tuple(words)


def ioi_tokenizer():
    """A word-level tokenizer over `ioi_words()` that splits punctuation off words ("store," -> "store",
    ","), so each name, place and object is one token, as in GPT-2's tokenizer. Built in memory."""
    from arena_course.models import tiny_tokenizer

    return tiny_tokenizer(ioi_words(), split_punctuation=True, name="arena-ioi-words")


# --------------------------------------------------------------------------- the dataset


@dataclass(frozen=True)
class IOIPrompt:
    """One prompt: its template, its names and its filled-in text (without the answer)."""

    template: str  # with [A], [B], [C], [PLACE], [OBJECT] slots; the first two name slots decide BABA/ABBA
    io: str  # the indirect object: the right answer
    s: str  # the subject: the repeated name, the wrong answer
    place: str
    object: str
    third: str = ""  # only for ABC prompts: the name in the second [B] slot (S2)

    @property
    def order(self) -> str:
        """"BABA" when the subject is named first, else "ABBA"."""
        return "BABA" if self.template.index("[B]") < self.template.index("[A]") else "ABBA"

    @property
    def text(self) -> str:
        """The prompt, up to (not including) the answer."""
        filled = self.template.replace("[PLACE]", self.place).replace("[OBJECT]", self.object)
        filled = filled.replace("[A]", self.io).replace("[B]", self.s, 1)
        filled = filled.replace("[B]", self.third or self.s, 1)
        return filled.rsplit(" ", 1)[0]  # drop the final "[A]" (now the IO name)


def name_token(tokenizer: Any, name: str) -> int:
    """The token id of " name" (GPT-2 style, with the leading space); an error if it isn't one token."""
    ids = tokenizer.encode(" " + name, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"' {name}' is {len(ids)} tokens for this tokenizer; IOI names must be one token each")
    return ids[0]


@dataclass
class IOIDataset:
    """A batch of IOI prompts, tokenized, with the positions of IO, S1, S2 and the end in each.

    Attributes:
        prompts: the prompts (text, names, template).
        toks: (batch, seq) token ids: BOS, the prompt, then padding (BOS) on the right.
        io_tokens, s_tokens: (batch,) the token ids of " IO" and " S".
        word_idx: positions (batch,) of "IO", "S1", "S2" and "end" (the last prompt token, where the
            model predicts the answer); "S1+1" is the token after S1.
        groups: for each template, the indices of the prompts using it (same template, same length).
    """

    prompts: list[IOIPrompt]
    tokenizer: Any = field(repr=False)
    toks: Tensor = field(init=False, repr=False)
    io_tokens: Tensor = field(init=False, repr=False)
    s_tokens: Tensor = field(init=False, repr=False)
    word_idx: dict[str, Tensor] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        bos = self.tokenizer.bos_token_id
        if bos is None:
            bos = self.tokenizer.eos_token_id
        rows = [[bos, *self.tokenizer.encode(p.text, add_special_tokens=False)] for p in self.prompts]
        width = max(len(r) for r in rows)
        self.toks = torch.tensor([r + [bos] * (width - len(r)) for r in rows], dtype=torch.long)
        self.io_tokens = torch.tensor([name_token(self.tokenizer, p.io) for p in self.prompts])
        self.s_tokens = torch.tensor([name_token(self.tokenizer, p.s) for p in self.prompts])
        idx: dict[str, list[int]] = {"IO": [], "S1": [], "S2": [], "end": []}
        for row, p, io, s in zip(rows, self.prompts, self.io_tokens.tolist(), self.s_tokens.tolist()):
            s2_token = name_token(self.tokenizer, p.third) if p.third else s
            s_positions = [i for i, t in enumerate(row) if t == s]
            io_positions = [i for i, t in enumerate(row) if t == io]
            idx["IO"].append(io_positions[0])
            idx["S1"].append(s_positions[0])
            idx["S2"].append(max(i for i, t in enumerate(row) if t == s2_token))
            idx["end"].append(len(row) - 1)
        self.word_idx = {k: torch.tensor(v) for k, v in idx.items()}
        self.word_idx["S1+1"] = self.word_idx["S1"] + 1

    # -- building

    @classmethod
    def generate(
        cls,
        tokenizer: Any,
        n_prompts: int,
        *,
        order: str = "mixed",
        seed: int = 0,
        names: Sequence[str] = NAMES,
        templates: Sequence[str] = BABA_TEMPLATES,
    ) -> IOIDataset:
        """`n_prompts` random prompts (seeded: same seed, same prompts).

        Args:
            tokenizer: GPT-2's tokenizer or `ioi_tokenizer()`; every name must be one token.
            order: "BABA", "ABBA", or "mixed" (alternating BABA, ABBA, ...).
            names, templates: the pools to draw from (BABA templates; ABBA ones are derived).
        """
        if order not in ("BABA", "ABBA", "mixed"):
            raise ValueError(f"order must be 'BABA', 'ABBA' or 'mixed', not {order!r}")
        rng = random.Random(seed)
        prompts = []
        for i in range(n_prompts):
            template = rng.choice(list(templates))
            if order == "ABBA" or (order == "mixed" and i % 2 == 1):
                template = abba(template)
            io, s = rng.sample(list(names), 2)
            prompts.append(IOIPrompt(template, io, s, rng.choice(PLACES), rng.choice(OBJECTS)))
        return cls(prompts, tokenizer)

    def flipped(self) -> IOIDataset:
        """The same prompts with the repeated name (S2) replaced by the other one, so the answer flips:
        "When John and Mary went to the store, John gave a drink to" (" Mary") becomes "When John and
        Mary went to the store, Mary gave a drink to" (" John"). Only the S2 token differs, so the two
        runs differ in one place: the corrupted run of activation patching. The new IO is the old S (at
        the old S1 position) and vice versa, and the order flips (BABA <-> ABBA)."""
        return IOIDataset([replace(p, template=abba(p.template), io=p.s, s=p.io) for p in self.prompts], self.tokenizer)

    def abc(self, seed: int = 1) -> IOIDataset:
        """The ABC version: the three name slots (IO, S1, S2) filled with three different names, so the
        sentence carries no information about which name is the indirect object. Same template, place
        and object as each original prompt, same length, positions line up."""
        rng = random.Random(seed)
        prompts = []
        for p in self.prompts:
            a, b, c = rng.sample([n for n in NAMES], 3)
            prompts.append(replace(p, io=a, s=b, third=c))
        return IOIDataset(prompts, self.tokenizer)

    # -- reading

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def sentences(self) -> list[str]:
        return [p.text for p in self.prompts]

    @property
    def groups(self) -> list[Tensor]:
        """Indices of the prompts of each template (prompts of one template have the same length)."""
        by_template: dict[str, list[int]] = {}
        for i, p in enumerate(self.prompts):
            by_template.setdefault(p.template, []).append(i)
        return [torch.tensor(v) for v in by_template.values()]

    @property
    def answer_tokens(self) -> Tensor:
        """(batch, 2): the right answer (IO) and the wrong one (S) for each prompt."""
        return torch.stack([self.io_tokens, self.s_tokens], dim=1)
