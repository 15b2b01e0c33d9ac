"""The S-inhibition heads' signal: position and token
===================================================

Difficulty: 3/5    Importance: 3/5    Time: ~25 minutes

Source: Wang et al. 2022, "Interpretability in the Wild" (https://arxiv.org/abs/2211.00593),
appendix A (the S-inhibition heads' output carries a token signal and a position signal): their
outputs patched from prompts in which the subject's position changes but its token doesn't, and vice
versa.

**The question.** Exercise 13 found the S-inhibition heads: heads that attend from the end to S2 and
tell the name movers, through their queries, which name *not* to copy. What exactly do they say?
"Don't copy the token John" (a **token** signal) or "don't copy the name at position 2" (a
**position** signal)? Both would do on ordinary prompts, where the repeated name's token and
position agree. To tell them apart, make them disagree.

**Four sources.** Each is the same prompts with one thing changed (given below, `signal_sources`):

    source      the prompt the heads' output is taken from        what the heads then say
    original    the prompt itself                                 right token, right position
    position    the first two names swapped (same names,          right token, but the position
                "When Mary and John..." <-> "When John and        is the IO's
                Mary..."): S1 moves to where the IO is
    token       IO and S replaced by two other names, same        a token that isn't in the prompt,
                template and order                                right position
    both        both changes                                      wrong token and wrong position

All four have the same length and the same end position as the prompts themselves (names are one
token each), so an output at the end of one fits the end of the other.

**What to compute.** For each source, in that order: run the model on the prompts (`data.toks`) with
the given heads' z at each prompt's end position (and only there, only those heads) replaced by
their z at the end of the source run, everything else computed as usual; measure the mean logit
difference with the prompts' own answers (`data.io_tokens` minus `data.s_tokens`; `mean_logit_diff`
below). Return the four numbers as a (4,) tensor. The drop from "original" to "position" is the
position signal's share of the logit difference, the drop to "token" the token signal's.

`cache["z", L]` (or `blocks.L.attn.hook_z`) is (batch, seq, head, d_head); the end of prompt b is
`data.word_idx["end"][b]`, the same position in every source. A run with a hook per layer: one
`(f"blocks.{L}.attn.hook_z", hook)` pair per layer that has one of the heads. Caching only the z's
of the source run (`names_filter`) keeps it fast.

What correct looks like: the "original" entry is exactly the unpatched model's logit difference (the
heads get their own values back). In GPT-2 small the paper finds that both signals matter: each
source but the original lowers the logit difference.

Then run this file, the section's result: your exercises 11-14 (with your ioi_logit_diff and
ioi_metric from exercises 1 and 6) on GPT-2 small (~550 MB, downloaded once; path patching is many
forward passes: a few minutes on a laptop CPU with the default 20 prompts), or, with `--tiny`, on a
3-layer model trained on IOI:

    python exercises/2_ioi/14_s_inhibition_signal_parts.py [--tiny] [--prompts N]

It writes results/ioi/path_patch_logits.png (every head -> the logits: the name movers stand out),
results/ioi/path_patch_heads.png (every head -> the name movers' queries, keys and values) and
results/ioi/name_movers.png (exercise 12's scatter for each name mover), with `_tiny` in the names
for the tiny model, and prints the four logit differences of this exercise for the S-inhibition
heads it finds. Without GPT-2 and without a network connection it says what it needs in one line and
stops.
"""

from __future__ import annotations

import random
from dataclasses import replace

import torch
from jaxtyping import Float
from torch import Tensor

from arena_course.ioi.dataset import NAMES, IOIDataset, abba

# The sources, in the order of the returned tensor.
SOURCES: tuple[str, ...] = ("original", "position", "token", "both")


def swap_first_names(data: IOIDataset) -> IOIDataset:
    """Given. The same prompts with the first two names swapped ("When Mary and John went ..., John
    gave" -> "When John and Mary went ..., John gave"): the same names and the same S2, but S1 now
    sits where the IO was (BABA <-> ABBA). The answer stays the IO."""
    return IOIDataset([replace(p, template=abba(p.template)) for p in data.prompts], data.tokenizer)


def other_names(data: IOIDataset, seed: int = 0) -> IOIDataset:
    """Given. The same prompts (template, order, place, object) with the IO and S replaced by two
    other names, different from both original ones: the same positions, other tokens."""
    rng = random.Random(seed)
    prompts = []
    for p in data.prompts:
        io, s = rng.sample([n for n in NAMES if n not in (p.io, p.s)], 2)
        prompts.append(replace(p, io=io, s=s))
    return IOIDataset(prompts, data.tokenizer)


def signal_sources(data: IOIDataset, seed: int = 0) -> dict[str, IOIDataset]:
    """Given. The four source datasets of `SOURCES`, in that order."""
    renamed = other_names(data, seed)
    return {
        "original": data,
        "position": swap_first_names(data),
        "token": renamed,
        "both": swap_first_names(renamed),
    }


def mean_logit_diff(logits: Float[Tensor, "batch seq d_vocab"], data: IOIDataset) -> Float[
    Tensor, ""
]:
    """Given (exercise 1): the mean over prompts of logit(IO) - logit(S) at each prompt's end."""
    batch = torch.arange(len(data))
    end_logits = logits[batch, data.word_idx["end"]]
    return (end_logits[batch, data.io_tokens] - end_logits[batch, data.s_tokens]).mean()


def s_inhibition_signal_parts(
    model,
    data: IOIDataset,
    heads: list[tuple[int, int]],
    seed: int = 0,
) -> Float[Tensor, "4"]:
    """The mean logit difference of `data` with the heads' output at the end patched from each
    source.

    Args:
        model: a TransformerLens model (a `TransformerBridge`).
        data: the IOI prompts.
        heads: the heads to patch, (layer, head) pairs (the S-inhibition heads).
        seed: the seed of `signal_sources` (which other names).

    Returns:
        (4,) tensor, in the order of `SOURCES` ("original", "position", "token", "both"): the mean
        logit difference (data's IO minus data's S) of the run on `data.toks` with each head's z at
        each prompt's end position replaced by its z at the end of the source run.
    """
    # SOLUTION
    batch, end = torch.arange(len(data)), data.word_idx["end"]
    layers = sorted({layer for layer, _ in heads})

    def patch_end(z: Tensor, hook, layer: int, source_z: Tensor) -> Tensor:
        # Only the given heads of this layer, only at each prompt's end.
        for head_layer, head in heads:
            if head_layer == layer:
                z[batch, end, head] = source_z[batch, end, head]
        return z

    results = []
    with torch.no_grad():
        for source in signal_sources(data, seed).values():
            _, source_cache = model.run_with_cache(
                source.toks, names_filter=lambda name: name.endswith("attn.hook_z")
            )
            hooks = [
                (
                    f"blocks.{layer}.attn.hook_z", lambda z, hook, layer=layer: patch_end(
                        z, hook, layer, source_cache["z", layer]
                    )
                )
                for layer in layers
            ]
            logits = model.run_with_hooks(data.toks, fwd_hooks=hooks)
            results.append(mean_logit_diff(logits, data))
    return torch.stack(results)
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "for each source: run data.toks with the heads' z at the end taken from "
    #     "the source's run; mean_logit_diff with data's answers"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # The section's result: your path patching (exercises 11 and 13), your name mover projections
    # (12) and this exercise, with your logit difference and IOI metric (exercises 1 and 6), on
    # GPT-2 small, or with --tiny on a small model trained on IOI. Writes
    # results/ioi/path_patch_logits.png, path_patch_heads.png and name_movers.png, and prints the
    # S-inhibition heads' signal parts.
    import os
    import sys
    from pathlib import Path

    from arena_course.ioi import path_patching, results
    from arena_course.loading import load_sibling
    from arena_course.models import ModelUnavailable

    args = results.result_args()
    try:
        setting = results.result_setting(
            args.tiny, path_patching.n_prompts(args.tiny, args.prompts)
        )
    except ModelUnavailable as e:
        print(results.offline_message(e, os.path.relpath(__file__)), file=sys.stderr)  # one line
        sys.exit(1)

    summary = path_patching.run_result(
        setting,
        ioi_logit_diff=load_sibling(__file__, "ioi_logit_diff").ioi_logit_diff,
        ioi_metric=load_sibling(__file__, "ioi_metric").ioi_metric,
        path_patch_to_logits=load_sibling(__file__, "path_patch_to_logits").path_patch_to_logits,
        path_patch_to_heads=load_sibling(__file__, "path_patch_to_heads").path_patch_to_heads,
        name_mover_projections=load_sibling(
            __file__, "name_mover_projections"
        ).name_mover_projections,
        s_inhibition_signal_parts=s_inhibition_signal_parts,
        out_dir=Path("results/ioi"),
    )
    for line in summary.report():
        print(line)
