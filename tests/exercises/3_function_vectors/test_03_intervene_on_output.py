"""Hidden test for exercise 03: scaling a block's MLP output at the last position in place, inside an
nnsight trace, with a clone of the value from before the edit.

Runs on a tiny random GPT-J (3 blocks, d_model 32, built in code, weights redrawn at std 1 so that edits
move the logits visibly). The prompts have 0, 1 and 2 examples, so the batch is left-padded.
"""

import pytest
import torch

from arena_cli.testing import assert_close, check
from arena_course.function_vectors.testing import basics_model, check_remote_once, icl_prompts, once_per_input
from arena_course.function_vectors.testing import reference_once, remote_recorded, shared, traced_tensors

N_LAYERS = 3

_CRASH = (
    "Inside the trace, `model.transformer.h[layer].mlp.output` is a tensor (batch, seq, d_model); edit its "
    "last position in place (`out[:, -1] = out[:, -1] * scale`) and read `model.lm_head.output` after it."
)
NO_CLONE = (
    "Your `before` is the edited value: `.save()` keeps a reference to the tensor (here a view of the MLP's "
    "output), and the in-place edit overwrote that memory. Save a copy taken before the edit: "
    "`before = out[:, -1].clone().save()`."
)
NOT_APPLIED = (
    "The edit did not reach the last position: these are the clean logits. Edit the module's output in place "
    "at position -1 (`out[:, -1] = out[:, -1] * scale`); `out = out * scale` only rebinds a name to a new "
    "tensor the model never sees."
)


model = shared(basics_model, "model")


@pytest.fixture(scope="module")
def prompts():
    return icl_prompts("present_past", (3, 2, 0), (2, 0, 1), (2, 1, 2))


@pytest.fixture(scope="module")
def clean(model, prompts):
    """A clean run: each block's MLP and attention outputs and block output at the last position, the MLP
    outputs at position 0, and the last position's logits."""
    mlp, mlp0, attn, block = [], [], [], []
    with torch.no_grad(), model.trace(prompts):
        for h in model.transformer.h:
            attn.append(h.attn.output[0][:, -1].save())
            m = h.mlp.output
            mlp.append(m[:, -1].save())
            mlp0.append(m[:, 0].save())
            block.append(h.output[:, -1].save())
        logits = model.lm_head.output[:, -1].save()
    return dict(mlp=mlp, mlp0=mlp0, attn=attn, block=block, logits=logits)


@pytest.fixture(scope="module")
def saved(student, model, prompts):
    """`saved(layer, scale)`: the student's (before, after, logits), one call per (layer, scale)."""
    return once_per_input(_run, student, model, prompts)


@pytest.fixture(scope="module")
def expected(reference, model, prompts):
    """`expected(layer, scale)`: the reference's (before, after, logits), one call per (layer, scale)."""
    return reference_once(reference.intervene_on_output, model, prompts)


def _edited_logits(model, prompts, layer, scale, where):
    """The last position's logits when block `layer`'s MLP (or attention) output is scaled at `where`."""
    with torch.no_grad(), model.trace(prompts):
        if where == "attn":
            model.transformer.h[layer].attn.output[0][:, -1] *= scale
        else:
            out = model.transformer.h[layer].mlp.output
            if where == "all":
                out[:] = out * scale
            else:
                out[:, where] = out[:, where] * scale
        logits = model.lm_head.output[:, -1].save()
    return logits


def _run(student, model, prompts, layer, scale, **kwargs):
    return traced_tensors(student.intervene_on_output, model, prompts, layer, scale, crash=_CRASH, n=3,
                          names="(before, after, logits)", hint="Return `before, after, logits`.", **kwargs)


def test_shapes(saved, clean):
    """Returns before and after (batch, d_model) and the last position's logits (batch, d_vocab)"""
    before, after, logits = saved(1, 0.0)
    batch, d_model = clean["mlp"][1].shape
    d_vocab = clean["logits"].shape[-1]
    for name, t, shape in [("before", before, (batch, d_model)), ("after", after, (batch, d_model)),
                           ("logits", logits, (batch, d_vocab))]:
        check(
            tuple(t.shape) == shape,
            f"{name} has shape {tuple(t.shape)}, expected {shape}",
            diagnosis="Keep only the last position: `[:, -1]` on a (batch, seq, ...) tensor." if t.dim() == 3 else "",
        )


@pytest.mark.parametrize("layer, scale", [(1, 0.0), (0, 0.5)])
def test_before_is_the_clean_value(saved, expected, clean, layer, scale):
    """`before` is the MLP's output from before the edit (a clone), matching the reference"""
    before = saved(layer, scale)[0]
    mistakes = {
        NO_CLONE: scale * clean["mlp"][layer],
        "That is the MLP's output at position 0: the last position is -1 (the batch is left-padded).": clean["mlp0"][layer],
        "That is the attention's output (element 0 of `attn.output`): this exercise edits the MLP, "
        "`model.transformer.h[layer].mlp.output`.": clean["attn"][layer],
        "That is the block's output (the residual stream after it), not the MLP's.": clean["block"][layer],
    }
    assert_close(before, expected(layer, scale)[0], name=f"before (block {layer}'s MLP, scale {scale})",
                 mistakes=mistakes)


def test_after_is_scaled(saved, expected, clean):
    """`after` is the edited slice, scale * before"""
    layer, scale = 1, 0.5
    before, after, _ = saved(layer, scale)
    assert_close(
        after,
        expected(layer, scale)[1],
        name=f"after (block {layer}'s MLP, scale {scale})",
        mistakes={
            "Your `after` is the unedited value: the edit did not change the MLP's output at the last position. "
            "Edit in place at -1, `out[:, -1] = out[:, -1] * scale` (`out = out * scale` only rebinds a name).":
                clean["mlp"][layer],
        },
    )
    assert_close(after, scale * before, name="after vs scale * before", mistakes={NO_CLONE: before},
                 diagnosis="Multiply the MLP's output at the last position by `scale`, and nothing else.")


@pytest.mark.parametrize("layer, scale", [(1, 0.0), (0, 2.5)])
def test_logits_match_reference(saved, expected, model, prompts, clean, layer, scale):
    """The logits of the edited run match the reference"""
    logits = saved(layer, scale)[2]
    mistakes = {
        NOT_APPLIED: clean["logits"],
        "You scaled the MLP's output at every position: edit only the last one, `[:, -1]`.":
            _edited_logits(model, prompts, layer, scale, "all"),
        "You scaled the MLP's output at position 0: the last position is -1 (the batch is left-padded).":
            _edited_logits(model, prompts, layer, scale, 0),
        "You scaled the attention's output: this exercise edits the MLP, `model.transformer.h[layer].mlp.output`.":
            _edited_logits(model, prompts, layer, scale, "attn"),
    }
    assert_close(logits, expected(layer, scale)[2], name=f"logits (block {layer}'s MLP scaled by {scale})", atol=1e-4,
                 mistakes=mistakes)


def test_scale_one_changes_nothing(student, model, prompts, clean):
    """With scale 1 the logits are the clean run's"""
    _, _, logits = _run(student, model, prompts, 2, 1.0)
    assert_close(
        logits,
        clean["logits"],
        name="logits with scale 1 vs a clean run",
        atol=1e-4,
        diagnosis="Multiply by `scale` (don't add it, don't zero the output regardless of it), and return the "
        "logits at the last position, `model.lm_head.output[:, -1]`.",
    )


def test_hand_computed_last_layer_ablation(student, model, prompts, clean):
    """Hand-computed: zero-ablating the last MLP gives lm_head(ln_f(block output - MLP output))"""
    layer = N_LAYERS - 1
    hf = model._module
    with torch.no_grad():
        expected = hf.lm_head(hf.transformer.ln_f(clean["block"][layer] - clean["mlp"][layer]))
    before, _, logits = _run(student, model, prompts, layer, 0.0)
    assert_close(
        logits,
        expected,
        name="logits with the last block's MLP zeroed at the last position",
        atol=1e-4,
        mistakes={NOT_APPLIED: clean["logits"]},
        diagnosis="The last block adds attn + MLP to the residual stream; with the MLP's output zeroed at the "
        "last position, only the attention's is left there.",
    )


def test_passes_remote_on(student, model):
    """Passes `remote` on to model.trace"""
    with remote_recorded(model) as calls:
        _run(student, model, icl_prompts("antonyms", (2, 1, 0)), 0, 0.0, remote=True)
    check_remote_once(calls, "intervene_on_output",
                      "Write `with model.trace(prompts, remote=remote):` (one trace for everything).")
