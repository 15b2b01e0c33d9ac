"""Hidden test for exercise 13: path patching from every head to receiver heads' queries, keys or values
(step 2: the sender's z from new, every other head frozen, the receivers' inputs saved; step 3: only
those inputs patched into the orig run).

Runs on a random-init tiny IOI model with 3 layers x 2 heads (compatibility mode): three layers so that
a path from a layer-0 sender to a layer-2 receiver can also go through a layer-1 head, which the freezing
must cut. Receivers 1.1 and 2.0 (in two layers). 6 IOI prompts of mixed templates (orig) and their ABC
version (new); the metric is the summed logit difference of orig's answers.
"""

import pytest
import torch

from arena_cli.testing import check
from arena_course.ioi.testing import Z_HOOKS, check_no_hooks_left, logit_diff_metric, noising_caches, path_grid
from arena_course.ioi.testing import path_setting_fixture, per_sender
from arena_course.testing import assert_close_lazily

N_LAYERS, N_HEADS = 3, 2
RECEIVERS = [(1, 1), (2, 0)]

_CRASH = (
    "hook_q / hook_k / hook_v of layer L are named f'blocks.{L}.attn.hook_q' (etc.) and have shape (batch, pos, "
    "head, d_head), like z: one head is [:, :, head]. receivers is a list of (layer, head) pairs."
)


setting = path_setting_fixture(seed=21, n_layers=N_LAYERS, n_heads=N_HEADS, orig_seed=5, new_seed=6)


# --------------------------------------------------------------------------- what mistakes give


def _variant(model, orig, new, metric, receivers, inp, *, freeze2=True, freeze_sender=False, all_heads=False,
             freeze3=False, activation=False, direction="noising"):
    """Path patching to the receivers' input, done right or with one classic mistake."""
    names = sorted({f"blocks.{layer}.attn.hook_{inp}" for layer, _ in receivers})
    with torch.no_grad():
        run, run_cache, source_cache = noising_caches(model, orig, new, direction, lambda n: n in names or Z_HOOKS(n))

        def patched_metric(layer, head):
            def freeze(z, hook, layer=layer, head=head):
                if freeze2:
                    z[...] = run_cache[hook.name]
                if hook.layer() == layer and not freeze_sender:
                    z[:, :, head] = source_cache[hook.name][:, :, head]
                return z

            saved = {}

            def save(x, hook):
                saved[hook.name] = x.clone()
                return x

            if activation:  # the receivers' input straight from the source run
                saved = {name: source_cache[name] for name in names}
            else:
                hooks = [(Z_HOOKS, freeze), *[(name, save) for name in names]]
                model.run_with_hooks(run.toks, return_type=None, fwd_hooks=hooks)

            def patch(x, hook):
                if freeze3 and hook.name.endswith("hook_z"):
                    frozen = run_cache[hook.name].clone()
                    for rl, rh in receivers:
                        if rl == hook.layer():
                            frozen[:, :, rh] = x[:, :, rh]
                    return frozen
                for rl, rh in receivers:
                    if rl == hook.layer():
                        if all_heads:
                            x[...] = saved[hook.name]
                        else:
                            x[:, :, rh] = saved[hook.name][:, :, rh]
                return x

            hooks = [(name, patch) for name in names]
            if freeze3:
                hooks.append((Z_HOOKS, patch))
            return metric(model.run_with_hooks(run.toks, fwd_hooks=hooks))

        return per_sender(model, patched_metric)


def _mistakes(model, orig, new, metric, receivers, inp, baseline):
    other = "q" if inp != "q" else "k"
    mistakes = {
        f"You patched the receivers' {other}, but receiver_input was {inp!r}: build the hook names from "
        f"receiver_input, f'blocks.{{layer}}.attn.hook_{{receiver_input}}'.":
            _variant(model, orig, new, metric, receivers, other),
        "In step 2 you didn't freeze the other heads: then the receivers' inputs carry every path from the "
        "sender (through the heads in between too), not just the direct one.":
            _variant(model, orig, new, metric, receivers, inp, freeze2=False),
        "Every entry is the metric of the unpatched orig run: nothing you changed reached the logits. Either "
        "step 2 froze the sender too (its z must come from new_cache), or the saved inputs were never patched in, "
        "or step 3 froze every head's z (which undoes the receivers' change: step 3 patches only their inputs).":
            metric(baseline).expand(N_LAYERS, N_HEADS),
        "You patched every head of the receivers' layers: only the receiver heads' inputs, [:, :, head].":
            _variant(model, orig, new, metric, receivers, inp, all_heads=True),
        "In step 3 you froze the other heads: patch only the receivers' inputs and let everything else run, so "
        "the receivers' changed outputs reach the logits through later layers too.":
            _variant(model, orig, new, metric, receivers, inp, freeze3=True),
        "You patched new_cache's values of the receivers' inputs straight in: that is activation patching, the "
        "same for every sender. Take them from the step-2 run instead.":
            _variant(model, orig, new, metric, receivers, inp, activation=True),
        "You patched in the wrong direction (ran the new prompts and patched orig's sender into them). Both "
        "runs are on orig.toks; only the sender's z comes from new_cache.":
            _variant(model, orig, new, metric, receivers, inp, direction="denoising"),
    }
    return mistakes


def _grid(student, model, orig, new, metric, receivers, inp, caches=None):
    return path_grid(student.path_patch_to_heads, model, orig, new, metric, receivers, inp, caches=caches,
                     crash=_CRASH, per_sender="One metric value per sender: results[layer, head] = metric(logits of step 3).")


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("inp", ["q", "k", "v"])
def test_matches_reference(student, reference, setting, inp):
    """Every sender's entry matches the reference, for the receivers' queries, keys and values"""
    model, orig, new, caches, baseline = setting
    metric = logit_diff_metric(orig)
    out = _grid(student, model, orig, new, metric, RECEIVERS, inp, caches)
    # Senders in the last receiver's layer or after it can't reach any receiver's input.
    unreachable = out[max(layer for layer, _ in RECEIVERS):]
    check(
        torch.allclose(unreachable, metric(baseline).expand_as(unreachable), atol=1e-4),
        f"senders in layer {max(layer for layer, _ in RECEIVERS)} (the last receiver's layer) can't reach any "
        f"receiver's input, so their entries must be metric(orig logits) = {float(metric(baseline)):.4f}; got "
        f"{[round(v, 4) for v in unreachable.flatten().tolist()]}",
        diagnosis="Step 3 must change only the receivers' inputs, with the values saved in step 2; if the sender "
        "comes after every receiver, those values are exactly orig's. Are you patching something else in step 3 "
        "(e.g. the sender's z, or every head's), or inputs saved for another sender (make `saved` a fresh dict for "
        "each sender)?",
    )
    with torch.no_grad():
        expected = reference.path_patch_to_heads(model, orig, new, metric, RECEIVERS, inp, *caches)
    assert_close_lazily(
        out, expected, atol=1e-5, rtol=1e-5,
        name=f"path_patch_to_heads(receiver_input={inp!r}) (rows: sender layer, columns: sender head)",
        mistakes=lambda: _mistakes(model, orig, new, metric, RECEIVERS, inp, baseline),
        diagnosis="Step 2: run orig with the exercise-10 hook on every hook_z and a saving hook on the receivers' "
        "inputs. Step 3: run orig patching only the receivers' saved inputs; metric(logits).",
    )
    check_no_hooks_left(model, orig, baseline, "path_patch_to_heads")


def test_one_receiver_without_caches(student, reference, setting):
    """With a single receiver and no caches passed in, it matches the reference"""
    model, orig, new, caches, baseline = setting
    metric = logit_diff_metric(orig)
    receivers = [(2, 1)]
    out = _grid(student, model, orig, new, metric, receivers, "v")
    with torch.no_grad():
        expected = reference.path_patch_to_heads(model, orig, new, metric, receivers, "v", *caches)
    assert_close_lazily(out, expected, atol=1e-5, rtol=1e-5,
                        name="path_patch_to_heads(receivers=[(2, 1)], receiver_input='v'), no caches given",
                        mistakes=lambda: _mistakes(model, orig, new, metric, receivers, "v", baseline),
                        diagnosis="When orig_cache or new_cache is None, compute both with z_caches(model, orig, new) (and never write into them: each sender's run needs them intact).")
