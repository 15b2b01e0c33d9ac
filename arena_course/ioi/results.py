"""What every section's result of chapter 2 runs on: GPT-2 small, or with `--tiny` the tiny model trained on
IOI (`arena_course.ioi.models`), and its clean prompts. `result_setting(tiny)` gives a section's result its model
and prompts: GPT-2 small when it can be had, else `ModelUnavailable` with one line saying how to get it.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from arena_course.display import TinySuffix, result_parser
from arena_course.ioi.dataset import IOIDataset
from arena_course.ioi.models import trained_tiny_ioi_model


@dataclass
class ResultSetting(TinySuffix):
    """What a section's result runs on: the model, clean prompts, and how to describe it."""

    model: Any
    clean: IOIDataset
    tiny: bool

    @property
    def model_name(self) -> str:
        return "a tiny 3-layer model trained on IOI" if self.tiny else "GPT-2 small"


def result_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of a section's result: `--tiny` and `--prompts N`."""
    parser = result_parser("Run this section's result.",
                           "run on a tiny model trained on IOI in seconds instead of GPT-2 small (no download)")
    parser.add_argument("--prompts", type=int, default=None,
                        help="how many IOI prompts (default: the section's own, e.g. 50 on GPT-2 and 100 on the "
                             "tiny model; path patching 20 on GPT-2, the circuit 100 and 300)")
    return parser.parse_args(argv)


def offline_message(error: Exception, script: str) -> str:
    """One line for a result that can't get GPT-2: what it needs (the `ModelUnavailable` message), and the
    --tiny alternative."""
    return f"{error} Or run `python {script} --tiny`: the same code on a tiny model trained on IOI (no download)."


def result_setting(tiny: bool, n_prompts: int | None = None, seed: int = 0) -> ResultSetting:
    """The model and prompts of a result. GPT-2 small (HookedTransformer processing: folded LayerNorm,
    centred weights) unless `tiny`; raises `ModelUnavailable` (one line) when GPT-2 can't be had."""
    from arena_course.models import load_pretrained

    model = trained_tiny_ioi_model() if tiny else load_pretrained("gpt2")
    if tiny:
        model.enable_compatibility_mode(disable_warnings=True)
    clean = IOIDataset.generate(model.tokenizer, n_prompts or (100 if tiny else 50), seed=seed)
    return ResultSetting(model, clean, tiny)
