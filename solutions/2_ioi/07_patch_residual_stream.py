"""Patching the residual stream by layer and position
==================================================

Difficulty: 3/5    Importance: 5/5    Time: ~25 minutes

Source: the ARENA replication of Wang et al. 2022 (https://arxiv.org/abs/2211.00593), "Activation
patching"; the same sweep as `transformer_lens.patching.get_act_patch_resid_pre`.

**The question.** At the start of block L, the residual stream at position p holds everything the
model has worked out about that position so far. Patch it, alone, from the clean run into the
corrupted run (exercise 6: *denoising*): if the metric goes back to 1, then at layer L *all* the
information the model needs to tell IO from S sits at position p. Sweep L and p and you get a map of
where the information lives and when it moves. Our two runs differ only at S2 (exercise 6), so at
first the information is there; it must end up at the end position, where the answer is predicted.
Read the rows of the map top to bottom to see at which layer it moves (on GPT-2 small, in the middle
layers, where the paper's S-inhibition heads carry it; on the tiny model of the --tiny result, in
its last layer).

**Hooks in TransformerLens 4.** Every activation passes through a hook point with a name; a hook is
a function called with the activation and the hook point, whose return value the model uses instead.
An example on another activation, the output of block 1's MLP (zero-ablating it at one position,
which is not what this exercise does):

    def zero_at(mlp_out: Tensor, hook, pos: int) -> Tensor:   # (batch, seq, d_model)
        mlp_out[:, pos] = 0.0                                  # in place is fine
        return mlp_out

    logits = model.run_with_hooks(tokens, fwd_hooks=[("blocks.1.hook_mlp_out", partial(zero_at,
    pos=3))])

`run_with_hooks` removes the hooks when it returns. The model calls a hook with (activation, hook)
only: extra arguments such as the position are fixed beforehand with `functools.partial` (or a
closure).

The residual stream at the start of block L is `"blocks.{L}.hook_resid_pre"`, shape (batch, seq,
d_model); `transformer_lens.utilities.get_act_name("resid_pre", L)` builds the name for you (TL 4
renamed the module `transformer_lens.utils` to `transformer_lens.utilities`). The clean run's values
are in `clean_cache`, from `clean_logits, clean_cache = model.run_with_cache(clean_tokens)`, under
the same names and with the same shapes. Inside a hook, `hook.name` is the name of the hook point it
runs on; on a TransformerBridge that is the bridge's own name, e.g. "blocks.0.hook_in" for
"blocks.0.hook_resid_pre": don't be surprised when you print it. The cache holds the activation
under both names, so either indexes it.

**The sweep.** For each layer L (`model.cfg.n_layers` of them) and each position p (`seq` of them):
one run of the corrupted tokens in which block L's resid_pre at position p, for every prompt of the
batch at once, is replaced by its clean value; store `metric(logits)` at [L, p]. That is n_layers *
seq forward passes. Keep the direction straight: the hook writes clean values INTO the corrupted
activation; `clean_cache` is only read (writing to it would patch the other way, and spoil every
later patch). No gradients are needed: `torch.no_grad()` saves memory and time.

A position means the same thing in every prompt only if the prompts line up, so the position sweep
is run on prompts of one template (all the same length); the result of this section does that.

What correct looks like: at layer 0 the residual stream is just the embeddings, so at every position
where the clean and corrupted tokens are the same (all but S2), patching changes nothing and the
metric is exactly 0. Patching all positions of a layer at once would give exactly 1 (the rest of the
run is then the clean run): you patch one position at a time. Your grid should match
`transformer_lens.patching.get_act_patch_resid_pre(model, corrupted_tokens, clean_cache, metric)`
(it does the same, with a progress bar), which you may use to check yourself, after writing your
own.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import torch
from jaxtyping import Float, Int
from torch import Tensor

# for the annotations only: the result's offline message needn't wait for TransformerLens
if TYPE_CHECKING:
    from transformer_lens.ActivationCache import ActivationCache


def patch_residual_stream(
    model,
    corrupted_tokens: Int[Tensor, "batch seq"],
    clean_cache: ActivationCache,
    metric: Callable[[Float[Tensor, "batch seq d_vocab"]], Float[Tensor, ""]],
) -> Float[Tensor, "layer pos"]:
    """Patch the clean residual stream at the start of each block, one position at a time, into the
    corrupted run, and measure the metric of each patched run.

    Args:
        model: a TransformerLens model (a `TransformerBridge`).
        corrupted_tokens: the corrupted prompts, shape (batch, seq).
        clean_cache: the activations of the clean run (same shape of tokens), from `run_with_cache`.
        metric: the logits of a run -> a 0-dimensional tensor (e.g. `ioi_metric` with its other
            arguments fixed by `functools.partial`).

    Returns:
        (n_layers, seq) float tensor: [L, p] is the metric of the corrupted run with
        `blocks.L.hook_resid_pre` at position p replaced by its clean value (all prompts at once).
    """
    # SOLUTION
    n_layers, seq = model.cfg.n_layers, corrupted_tokens.shape[1]
    results = torch.zeros(n_layers, seq)

    def patch_position(activation: Float[Tensor, "batch seq d_model"], hook, pos: int) -> Tensor:
        # Clean INTO corrupted: overwrite one position of the corrupted activation with the clean
        # one.
        activation[:, pos] = clean_cache[hook.name][:, pos]
        return activation

    with torch.no_grad():
        for layer in range(n_layers):
            hook_name = f"blocks.{layer}.hook_resid_pre"
            for pos in range(seq):
                logits = model.run_with_hooks(
                    corrupted_tokens, fwd_hooks=[(hook_name, partial(patch_position, pos=pos))]
                )
                results[layer, pos] = metric(logits)
    return results
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "for each layer and position: one corrupted run with the clean resid_pre "
    #     "patched in at that position; store metric(logits)"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # A first look on an untrained tiny model (instant, no download): the grid, with the rows of
    # layer 0 exactly 0 wherever the clean and corrupted tokens agree. The section's result is
    # exercise 10's file.
    from arena_course.ioi.dataset import BABA_TEMPLATES, IOIDataset
    from arena_course.ioi.models import tiny_ioi_model
    from arena_course.loading import load_sibling

    metrics = load_sibling(__file__, "ioi_metric")
    model = tiny_ioi_model()
    # one template: positions line up
    clean = IOIDataset.generate(model.tokenizer, 8, templates=BABA_TEMPLATES[:1])
    corrupted = clean.flipped()
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(clean.toks)
        corrupted_logits = model(corrupted.toks)
    metric = partial(
        metrics.ioi_metric,
        data=clean,
        clean_logit_diff=float(metrics.ioi_logit_diff(clean_logits, clean)),
        corrupted_logit_diff=float(metrics.ioi_logit_diff(corrupted_logits, clean)),
    )
    grid = patch_residual_stream(model, corrupted.toks, clean_cache, metric)
    print("tokens:", " ".join(model.to_str_tokens(clean.toks[0])))
    for layer, row in enumerate(grid.tolist()):
        print(f"layer {layer}:", " ".join(f"{v:5.2f}" for v in row))
