"""Path patching: sender head to receiver heads' q, k or v
========================================================

Difficulty: 5/5    Importance: 4/5    Time: ~40 minutes

Source: Wang et al. 2022, "Interpretability in the Wild" (https://arxiv.org/abs/2211.00593), section
3: path patching into the name movers' queries finds the S-inhibition heads (7.3, 7.9, 8.6, 8.10 in
GPT-2 small), and path patching into those finds the induction and duplicate-token heads; the ARENA
replication of it.

Exercise 11 measured one path, sender -> logits. Now the path ends at other heads: **sender -> the
receivers' queries** (or keys, or values). The question: does the sender's output change *what the
receivers read* (here, through their queries: where they look) in a way that matters for the output?
This is how the paper walks the circuit backwards: the name movers move the IO name to the logits;
which heads tell the name movers *where to look*? Path patching into the name movers' queries
answers it.

Same two runs as in exercise 11 (`orig` = the IOI prompts, `new` = `orig.abc()`), same metric, and
two forward passes per sender instead of one (plus step 1's two cached runs, shared by all senders):

    step 1 (given, z_caches)   run orig and run new; cache every head's z
                               orig_cache, new_cache

    step 2                     run ORIG, with at every layer's hook_z:
                                   sender               z <- new_cache     (the one change) every
                                   other head     z <- orig_cache    (frozen: exercise 11's hook)
                               and SAVE the receivers' `receiver_input` (hook_q, hook_k or hook_v).
                               The receivers' input now differs from orig's only through the direct
                               path sender -> receiver (and MLPs): every path through another head
                               is cut by the freezing. Only the saved inputs are used: the logits of
                               this run are not measured.

    step 3                     run ORIG again, patching ONLY the receivers' `receiver_input` (only
                               those heads, only q, or only k, or only v) with the values saved in
                               step 2. Nothing is frozen: the receivers' changed outputs flow on,
                               through later heads and MLPs, to the logits.
                               -> metric(logits)

    sender --(direct)--> receivers' q --> receivers' output --> ... everything downstream ... -->
    logits sender --> other head --X          (frozen in step 2: paths through other heads are cut)

`hook_q`, `hook_k`, `hook_v` of layer L (`blocks.{L}.attn.hook_q` ...) have shape (batch, pos, head,
d_head), like z: patch `[:, :, head]`, at every position. A receiver's input depends only on heads
in earlier layers, so senders at or after a receiver's layer can't reach it: for senders at or after
the last receiver's layer the entry is just metric(orig logits).

**The classic mistakes** (the hidden test recognises them):
- *Not freezing in step 2*: the receivers' inputs then carry every path from the sender, through any
  heads in between: not the direct path.
- *Freezing the sender too* in step 2: the receivers' inputs are exactly orig's; every entry is
  metric(orig logits).
- *Patching the wrong input*: q when k was asked (check the hook name you build).
- *Patching every head of the receiver's layer* instead of the receivers only.
- *Freezing in step 3*: the receivers' new outputs must be free to act on later layers (the name
  movers carry the S-inhibition heads' effect to the logits).
- *Patching new_cache's q straight into the receivers*: that is activation patching of the
  receivers' queries; it doesn't depend on the sender at all (every entry of your grid would be the
  same).

TransformerLens 4: a run can save an activation with a hook that stores a copy of it (in a dict made
for that run, say) and returns it unchanged. `fwd_hooks` is a list: one run can carry several (name
or names filter, function) pairs, e.g. exercise 11's freezing hook and the saving hooks together.
`hook.layer()` tells a hook which layer it is in. `z_caches` and exercise 11's
`patch_sender_freeze_others` are given below, solved.

The section's result runs this exercise with exercises 11, 12 and 14: it is exercise 14's file (the
last of the section), which draws every head -> the logits, every head -> the name movers' queries,
keys and values, and the name movers' attention against what they write.
"""

from collections.abc import Callable
from functools import partial
from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor
from transformer_lens import ActivationCache

from arena_course.ioi.dataset import IOIDataset


# Given (exercise 11, solved): the z hooks, the two caches, and the freezing hook.
def Z_HOOKS(name: str) -> bool:
    """Every layer's `attn.hook_z` (a names filter: pass it where a hook name goes)."""
    return name.endswith("attn.hook_z")


def z_caches(model, orig: IOIDataset, new: IOIDataset) -> tuple[ActivationCache, ActivationCache]:
    """Every head's z on the orig prompts and on the new prompts (one run each)."""
    _, orig_cache = model.run_with_cache(orig.toks, names_filter=Z_HOOKS, return_type=None)
    _, new_cache = model.run_with_cache(new.toks, names_filter=Z_HOOKS, return_type=None)
    return orig_cache, new_cache


def patch_sender_freeze_others(
    z: Float[Tensor, "batch pos head d_head"],
    hook,
    sender: tuple[int, int],
    orig_cache: ActivationCache,
    new_cache: ActivationCache,
) -> Float[Tensor, "batch pos head d_head"]:
    """A hook on every layer's `attn.hook_z`: the sender's z from `new_cache`, every other head's
    from `orig_cache`."""
    z[...] = orig_cache[hook.name]
    layer, head = sender
    if hook.layer() == layer:
        z[:, :, head] = new_cache[hook.name][:, :, head]
    return z


@torch.no_grad()
def path_patch_to_heads(
    model,
    orig: IOIDataset,
    new: IOIDataset,
    metric: Callable[[Float[Tensor, "batch seq d_vocab"]], Float[Tensor, ""]],
    receivers: list[tuple[int, int]],
    receiver_input: Literal["q", "k", "v"],
    orig_cache: ActivationCache | None = None,
    new_cache: ActivationCache | None = None,
) -> Float[Tensor, "layer head"]:
    """Path patching from every head (the sender) to the receivers' queries, keys or values.

    Args:
        model: a TransformerLens model (a `TransformerBridge`).
        orig: the prompts the model runs on (the IOI prompts).
        new: prompts whose activations the sender gets (the ABC prompts: `orig.abc()`), same
            positions.
        metric: logits (batch, seq, d_vocab) of a run on `orig` -> a 0-dimensional tensor.
        receivers: the receiver heads, as (layer, head) pairs.
        receiver_input: which input of the receivers the path ends in: "q", "k" or "v".
        orig_cache, new_cache: every head's z on `orig` and `new` (from `z_caches`); computed if
        None.

    Returns:
        (n_layers, n_heads): entry [L, H] is the metric when head (L, H) is the sender: the orig run
        with the receivers' `receiver_input` replaced by its value in step 2 (sender's z from new,
        every other head's z frozen to orig).
    """
    # SOLUTION
    if orig_cache is None or new_cache is None:
        orig_cache, new_cache = z_caches(model, orig, new)
    receiver_hooks = sorted(
        {f"blocks.{layer}.attn.hook_{receiver_input}" for layer, _ in receivers}
    )

    def save(activation: Tensor, hook, saved: dict[str, Tensor]) -> Tensor:
        saved[hook.name] = activation.clone()
        return activation

    def patch_receivers(activation: Tensor, hook, saved: dict[str, Tensor]) -> Tensor:
        for layer, head in receivers:
            if layer == hook.layer():
                activation[:, :, head] = saved[hook.name][:, :, head]
        return activation

    results = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            # Step 2: orig, sender from new, every other head frozen; save the receivers' inputs.
            saved: dict[str, Tensor] = {}
            freeze = partial(
                patch_sender_freeze_others,
                sender=(layer, head),
                orig_cache=orig_cache,
                new_cache=new_cache,
            )
            model.run_with_hooks(
                orig.toks,
                return_type=None,
                fwd_hooks=[
                    (Z_HOOKS, freeze),
                    *[(name, partial(save, saved=saved)) for name in receiver_hooks],
                ],
            )

            # Step 3: orig, only the receivers' inputs patched; everything else runs freely.
            logits = model.run_with_hooks(
                orig.toks, fwd_hooks=[
                    (name, partial(patch_receivers, saved=saved)) for name in receiver_hooks
                ]
            )
            results[layer, head] = metric(logits)
    return results
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "for every sender: run orig freezing all heads but the sender (new) and save the "
    #     "receivers' inputs; then run orig patching only those inputs, and record metric(logits)"
    # )
    # END EXERCISE

