"""Hidden test for exercise 11: path patching from every head to the logits (the sender's z from the new
run, every other head's z frozen to the orig run).

Runs on a random-init tiny IOI model (2 layers x 4 heads, compatibility mode) with 6 IOI prompts of
mixed templates (orig) and their ABC version (new). The metric is the summed logit difference of
orig's answers (any metric of the logits works: the function only calls it). The hook is checked on
its own first, with a z that differs from both caches, so that each classic mistake shows.
"""

import torch
from transformer_lens.hook_points import HookPoint

from arena_cli.testing import assert_close, call_student, check
from arena_course.ioi.testing import Z_HOOKS, cache_copies, check_caches_unchanged, check_no_hooks_left
from arena_course.ioi.testing import logit_diff_metric, noising_caches, path_grid, path_setting_fixture, per_sender
from arena_course.testing import assert_close_lazily

N_LAYERS, N_HEADS = 2, 4
SENDER = (1, 2)

_CRASH = (
    "z is (batch, pos, head, d_head): one head is z[:, :, head]. orig_cache[hook.name] is this layer's z on the "
    "orig prompts, with the same shape."
)


setting = path_setting_fixture(seed=11, n_layers=N_LAYERS, n_heads=N_HEADS, orig_seed=3, new_seed=4)


# --------------------------------------------------------------------------- what mistakes give


def _variant(model, orig, new, metric, *, freeze=True, direction="noising", axis="head", whole_layer=False,
             every_layer=False):
    """Path patching to the logits, done right or with one classic mistake."""
    with torch.no_grad():
        run, run_cache, source_cache = noising_caches(model, orig, new, direction)

        def patched_metric(layer, head):
            def hook_fn(z, hook, layer=layer, head=head):
                if freeze:
                    z[...] = run_cache[hook.name]
                if hook.layer() == layer or every_layer:
                    if whole_layer:
                        z[...] = source_cache[hook.name]
                    elif axis == "head":
                        z[:, :, head] = source_cache[hook.name][:, :, head]
                    else:
                        z[:, head] = source_cache[hook.name][:, head]
                return z

            return metric(model.run_with_hooks(run.toks, fwd_hooks=[(Z_HOOKS, hook_fn)]))

        return per_sender(model, patched_metric)


def _mistakes(model, orig, new, metric, baseline):
    return {
        "You didn't freeze the other heads: patching only the sender's z is activation patching (its effect "
        "through every path). Set every head's z to orig_cache's first, then the sender's to new_cache's.":
            _variant(model, orig, new, metric, freeze=False),
        "Every entry is the metric of the unpatched orig run: the sender's new z never reached the logits. Was "
        "the sender frozen too? Put its new z in AFTER freezing everything to orig (and only in its layer). Or "
        "did you patch positions (z[:, head]) instead of the head (z[:, :, head])?":
            metric(baseline).expand(N_LAYERS, N_HEADS),
        "You patched in the wrong direction (ran the new prompts and patched orig's sender into them). Run "
        "orig.toks, with the sender's z from new_cache and the others from orig_cache.":
            _variant(model, orig, new, metric, direction="denoising"),
        "You patched a position, not a head: z is (batch, pos, head, d_head), so the head is z[:, :, head] "
        "(z[:, head] is position `head`).": _variant(model, orig, new, metric, axis="pos"),
        "You patched every head of the sender's layer from new_cache: only the sender's z changes.":
            _variant(model, orig, new, metric, whole_layer=True),
        "You patched head `head` of EVERY layer from new_cache: check hook.layer() == the sender's layer.":
            _variant(model, orig, new, metric, every_layer=True),
    }


# --------------------------------------------------------------------------- the hook


def _hook(student, model, z, layer, sender, caches):
    hook = HookPoint()
    hook.name = f"blocks.{layer}.attn.hook_z"
    copies = cache_copies(model, caches)
    z_in = z.clone()
    with torch.no_grad():
        out = call_student(student.patch_sender_freeze_others, z_in, hook, sender, *copies, diagnosis=_CRASH)
    check_caches_unchanged(copies, caches)
    out = z_in if out is None else out  # modified in place and returned nothing: TransformerLens uses z
    check(isinstance(out, torch.Tensor), f"patch_sender_freeze_others returned {type(out).__name__}, expected z")
    return out.detach()


def test_hook_in_sender_layer(student, setting):
    """In the sender's layer, the hook gives orig's z for every head but the sender, whose z is new's"""
    model, orig, new, caches, _ = setting
    orig_cache, new_cache = caches
    name = f"blocks.{SENDER[0]}.attn.hook_z"
    z = torch.randn_like(orig_cache[name])  # what the running forward pass holds: neither cache
    out = _hook(student, model, z, SENDER[0], SENDER, caches)
    expected = orig_cache[name].clone()
    expected[:, :, SENDER[1]] = new_cache[name][:, :, SENDER[1]]
    only_sender = z.clone()
    only_sender[:, :, SENDER[1]] = new_cache[name][:, :, SENDER[1]]
    by_position = orig_cache[name].clone()
    by_position[:, SENDER[1]] = new_cache[name][:, SENDER[1]]
    assert_close(
        out, expected, name=f"z returned by the hook in layer {SENDER[0]} for sender {SENDER}", check_dtype=False,
        mistakes={
            "You didn't freeze the other heads: every head's z must come from orig_cache (the z the hook receives "
            "is the running pass's, which the sender may already have changed).": only_sender,
            "The sender is frozen too: after setting z to orig_cache's, set the sender's head to new_cache's.":
                orig_cache[name],
            "You patched the whole layer from new_cache: only the sender's head is new.": new_cache[name],
            "You patched a position, not a head: z is (batch, pos, head, d_head), the head is z[:, :, head].":
                by_position,
            "You returned z unchanged.": z,
        },
    )


def test_hook_in_other_layer(student, setting):
    """In any other layer, the hook freezes every head to orig's z"""
    model, orig, new, caches, _ = setting
    orig_cache, new_cache = caches
    other = 1 - SENDER[0]
    name = f"blocks.{other}.attn.hook_z"
    z = torch.randn_like(orig_cache[name])
    out = _hook(student, model, z, other, SENDER, caches)
    wrong_layer = orig_cache[name].clone()
    wrong_layer[:, :, SENDER[1]] = new_cache[name][:, :, SENDER[1]]
    only_sender = z.clone()
    only_sender[:, :, SENDER[1]] = new_cache[name][:, :, SENDER[1]]
    assert_close(
        out, orig_cache[name], name=f"z returned by the hook in layer {other} for sender {SENDER}", check_dtype=False,
        mistakes={
            "You patched the sender's head in every layer: only in the sender's layer (hook.layer() == layer).":
                wrong_layer,
            "You didn't freeze this layer's heads: outside the sender's layer, every head's z is orig_cache's.": z,
            "You didn't freeze the other heads, and patched the sender's head in every layer.": only_sender,
        },
    )


# --------------------------------------------------------------------------- the grid


def _grid(student, model, orig, new, metric, caches=None):
    return path_grid(student.path_patch_to_logits, model, orig, new, metric, caches=caches, crash=_CRASH,
                     per_sender="One metric value per sender: results[layer, head] = metric(logits).")


def test_matches_reference(student, reference, setting):
    """Every sender's entry matches the reference"""
    model, orig, new, caches, baseline = setting
    metric = logit_diff_metric(orig)
    with torch.no_grad():
        expected = reference.path_patch_to_logits(model, orig, new, metric, *caches)
    out = _grid(student, model, orig, new, metric, caches)
    assert_close_lazily(out, expected, atol=1e-5, rtol=1e-5,
                        name="path_patch_to_logits (rows: sender layer, columns: sender head)",
                        mistakes=lambda: _mistakes(model, orig, new, metric, baseline),
                        diagnosis="Each entry: one run on orig.toks, with the hook on every layer's hook_z, and metric(logits).")
    check_no_hooks_left(model, orig, baseline, "path_patch_to_logits")


def test_computes_its_own_caches(student, reference, setting):
    """Without caches passed in, it computes them itself (same result)"""
    model, orig, new, caches, baseline = setting
    metric = logit_diff_metric(orig)
    with torch.no_grad():
        expected = reference.path_patch_to_logits(model, orig, new, metric, *caches)
    out = _grid(student, model, orig, new, metric)
    assert_close_lazily(out, expected, atol=1e-5, rtol=1e-5, name="path_patch_to_logits without caches",
                        mistakes=lambda: _mistakes(model, orig, new, metric, baseline),
                        diagnosis="When orig_cache or new_cache is None, compute both with z_caches(model, orig, new) (and never write into them: each sender's run needs them intact).")


def test_no_change_when_new_is_orig(student, setting):
    """If the new prompts are the orig prompts, no sender changes anything: every entry is metric(orig)"""
    model, orig, _, _, baseline = setting
    metric = logit_diff_metric(orig)
    out = _grid(student, model, orig, orig, metric)
    assert_close(
        out, metric(baseline).expand(N_LAYERS, N_HEADS), name="path_patch_to_logits with new = orig",
        atol=1e-4, check_dtype=False,
        diagnosis="Freezing every head to its own orig value and giving the sender its (identical) new value "
        "must reproduce the orig run exactly: check that the hook sets z from the caches, by hook.name.",
    )
