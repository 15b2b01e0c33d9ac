"""Path patching: sender head to the logits
=========================================

Difficulty: 4/5    Importance: 5/5    Time: ~35 minutes

Source: Wang et al. 2022, "Interpretability in the Wild" (https://arxiv.org/abs/2211.00593), section
3 (path patching, and the name mover heads found with it); the ARENA replication of it.
Goldowsky-Dill et al. 2023, "Localizing Model Behavior with Path Patching"
(https://arxiv.org/abs/2304.05969) define path patching in general.

**What activation patching can't say.** Patching a head's output (exercise 9) changes *everything
downstream* of it: its direct contribution to the logits, and everything every later head and MLP
does with it. A big effect says the head matters, not how. Path patching asks about one **path** at
a time: how much does the head matter *through its direct route to the logits alone*?

**Two runs, as in the paper.** `orig` is the IOI prompts. `new` is `orig.abc()`: the same sentences
with three different names in the IO, S1 and S2 slots ("After Sarah and Tom went to the store, Rose
gave a drink to"). Nothing in a `new` prompt says which name should come next, so a head's output on
`new` carries the sentence's structure but none of the IOI information. Patching it into the `orig`
run *removes* that head's IOI information (noising: corrupted INTO clean; section 3 went the other
way).

**The patched run.** Run the model on `orig.toks`, and at every layer's `attn.hook_z`:

    head                    its z in the patched run     why ----------------------
    ---------------------------  ------------------------------------------------ the sender (L, H)
    from new_cache               the one change: the sender "sees" an ABC prompt every other head
    from orig_cache (frozen)     they would react to the change (they read the
                                                         residual stream the sender writes to);
                                                         freezing them cuts every path that goes
                                                         through a head
    MLPs, LayerNorms        recomputed                   the paper counts paths through MLPs as
    direct

Which paths from the sender change the logits, then?

    sender --------------------------------------------------> final residual --> logits   KEPT
    (measured) sender --> MLP (recomputed) -----------------------------> final residual --> logits
    kept sender --> later head (frozen: its output is orig's) --X                              CUT

(With every other head frozen, the sender's output at a position reaches the logits only at that
same position: MLPs and LayerNorms work position by position. So only the sender's z at each
prompt's end position matters here; patching it at every position, as we do, gives the same number.)

Then `metric(patched_logits)`. With the chapter's IOI metric (exercise 6) built from the orig run
(1) and the new run (0), an entry near 1 means the sender's direct path doesn't matter; an entry
well below 1 means it carries the answer straight to the logits: a **name mover**. In GPT-2 small
the paper finds three, 9.9, 9.6 and 10.0, and two *negative* name movers, 10.7 and 11.10, whose
entries are above 1 (their direct effect works against the answer).

**The classic mistakes** (the hidden test recognises them):
- *Not freezing the other heads* (patching only the sender's z): that is activation patching of the
  sender, its total effect through every path.
- *Freezing the sender too*: freezing every head to orig and never putting the sender's new z back
  (or putting it in first and then overwriting it): nothing changes, every entry is metric(orig
  logits).
- *The wrong direction*: running `new` and patching orig's sender into it. The paper's question is
  what breaks in the *orig* run when one path loses its information.
- *The wrong axis*: z is (batch, pos, head, d_head); `z[:, head]` indexes a *position*.

**TransformerLens 4.** `blocks.{L}.attn.hook_z`, shape (batch, pos, head, d_head), is each head's
weighted sum of values before W_O: head h's output is z of head h times W_O[L, h], so setting z sets
the output. One hook function can serve every layer: where `fwd_hooks` expects a hook name you may
pass a names filter, a function of the name that says which hook points get the hook (`Z_HOOKS`
below selects every layer's hook_z). Inside, `hook.layer()` is the layer as an int (3 for
"blocks.3.attn.hook_z"), and an ActivationCache indexed with `hook.name` gives the same activation
from the cached run. A hook returns the new activation; writing into the activation it receives and
returning it is fine. Careful with the caches: assigning a cached tensor to a name doesn't copy it,
so writing into it afterwards changes the cache for every later sender. As in exercise 7, the extra
arguments (the sender, the caches) are fixed with `functools.partial` before the hook is passed to
`run_with_hooks`.

What to write: the hook function `patch_sender_freeze_others`, and `path_patch_to_logits`, which
loops over every (layer, head) as the sender. `z_caches` (given) runs `orig` and `new` once each and
keeps only the z's. Keep the whole computation under `torch.no_grad()` (given as a decorator).
"""

from collections.abc import Callable
from functools import partial

import torch
from jaxtyping import Float
from torch import Tensor
from transformer_lens import ActivationCache

from arena_course.ioi.dataset import IOIDataset


def Z_HOOKS(name: str) -> bool:
    """Every layer's `attn.hook_z` (a names filter: pass it where a hook name goes)."""
    return name.endswith("attn.hook_z")


def z_caches(model, orig: IOIDataset, new: IOIDataset) -> tuple[ActivationCache, ActivationCache]:
    """Given: every head's z on the orig prompts and on the new prompts (one run each)."""
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
    from `orig_cache`.

    Args:
        z: this layer's z in the running (orig) forward pass.
        hook: the hook point; `hook.name` is "blocks.{layer}.attn.hook_z", `hook.layer()` the layer.
        sender: (layer, head) of the sender.
        orig_cache, new_cache: every head's z on the orig and the new prompts.

    Returns:
        z for this layer: orig's for every head, except the sender's (in its layer), which is new's.
    """
    # SOLUTION
    # Freeze every head of this layer to its value in the orig run...
    z[...] = orig_cache[hook.name]
    # ...except the sender, whose output is the one that changes.
    layer, head = sender
    if hook.layer() == layer:
        z[:, :, head] = new_cache[hook.name][:, :, head]
    return z
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "freeze every head of this layer to its orig z; in the "
    #     "sender's layer, give the sender its new z"
    # )
    # END EXERCISE


@torch.no_grad()
def path_patch_to_logits(
    model,
    orig: IOIDataset,
    new: IOIDataset,
    metric: Callable[[Float[Tensor, "batch seq d_vocab"]], Float[Tensor, ""]],
    orig_cache: ActivationCache | None = None,
    new_cache: ActivationCache | None = None,
) -> Float[Tensor, "layer head"]:
    """Path patching from every head (the sender) to the final residual stream: the metric of the
    orig run with the sender's z taken from the new run and every other head's z frozen to the orig
    run.

    Args:
        model: a TransformerLens model (a `TransformerBridge`).
        orig: the prompts the model runs on (the IOI prompts).
        new: prompts whose activations the sender gets (the ABC prompts: `orig.abc()`), same
            positions.
        metric: logits (batch, seq, d_vocab) of a run on `orig` -> a 0-dimensional tensor.
        orig_cache, new_cache: every head's z on `orig` and `new` (from `z_caches`); computed if
        None.

    Returns:
        (n_layers, n_heads): entry [L, H] is the metric when head (L, H) is the sender.
    """
    # SOLUTION
    if orig_cache is None or new_cache is None:
        orig_cache, new_cache = z_caches(model, orig, new)

    results = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            # One run of orig: at every layer's z, freeze all heads but the sender, which gets new's
            # z.
            hook_fn = partial(
                patch_sender_freeze_others,
                sender=(layer, head),
                orig_cache=orig_cache,
                new_cache=new_cache,
            )
            logits = model.run_with_hooks(orig.toks, fwd_hooks=[(Z_HOOKS, hook_fn)])
            results[layer, head] = metric(logits)
    return results
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "for every sender (layer, head): run orig with "
    #     "patch_sender_freeze_others on every hook_z, and record metric(logits)"
    # )
    # END EXERCISE
