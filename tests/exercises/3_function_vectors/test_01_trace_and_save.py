"""Hidden test for exercise 01: one nnsight trace over a batch of ICL prompts, saving a block's output, the
logits, and the predicted next token of each prompt.

Runs on a tiny random GPT-J (3 blocks, d_model 32, built in code) whose weights are redrawn at std 1 so
that its predictions differ between prompts and positions. The prompts have 0, 1 and 2 examples, so the
batch is left-padded.
"""

import pytest
import torch

from arena_cli.testing import assert_close, check
from arena_course.function_vectors.testing import basics_model, block_states, check_remote_once, icl_prompts
from arena_course.function_vectors.testing import once_per_input, reference_once, remote_recorded, shared
from arena_course.function_vectors.testing import traced_tensors

N_LAYERS = 3

_CRASH = (
    "Inside `with model.trace(prompts, remote=remote):`, `model.transformer.h[layer].output` is a tensor "
    "(batch, seq, d_model) and `model.lm_head.output` is (batch, seq, d_vocab): its last position is `[:, -1]`."
)


model = shared(basics_model, "model")


@pytest.fixture(scope="module")
def prompts():
    return icl_prompts("antonyms", (3, 2, 0), (2, 0, 1), (2, 1, 2))


@pytest.fixture(scope="module")
def truth(model, prompts):
    """Every block's input and output, and the logits, from one trace (read in the order they run)."""
    return block_states(model, prompts)


@pytest.fixture(scope="module")
def saved(student, model, prompts):
    """`saved(layer)`: the student's (hidden, logits, predictions) for block `layer`, one call per block."""
    return once_per_input(_run, student, model, prompts)


@pytest.fixture(scope="module")
def expected(reference, model, prompts):
    """`expected(layer)`: the reference's (hidden, logits, predictions) for block `layer`, one call per block."""
    return reference_once(reference.trace_and_save, model, prompts)


def _run(student, model, prompts, layer, **kwargs):
    return traced_tensors(student.trace_and_save, model, prompts, layer, crash=_CRASH, n=3,
                          names="(hidden, logits, predictions)", hint="Return `hidden, logits, predictions`.",
                          tensors_hint="Return the saved tensors themselves (after the `with` block they are "
                          "ordinary tensors).", **kwargs)


def test_shapes(saved, truth):
    """Returns hidden (batch, seq, d_model), last-position logits (batch, d_vocab), predictions (batch,) of token ids"""
    hidden, logits, predictions = saved(1)
    batch, seq, d_model = truth["outputs"][1].shape
    d_vocab = truth["logits"].shape[-1]
    check(
        tuple(hidden.shape) == (batch, seq, d_model),
        f"hidden has shape {tuple(hidden.shape)}, expected {(batch, seq, d_model)} (batch, seq, d_model)",
        diagnosis="In transformers 5 a GPT-J block returns the tensor (batch, seq, d_model) itself, not a tuple: "
        "`output[0]` is the first prompt only. Save `model.transformer.h[layer].output` as it is."
        if tuple(hidden.shape) == (seq, d_model)
        else "",
    )
    check(
        tuple(logits.shape) == (batch, d_vocab),
        f"logits has shape {tuple(logits.shape)}, expected {(batch, d_vocab)} (batch, d_vocab)",
        diagnosis="Return the logits at the last position only, `model.lm_head.output[:, -1]`: that is where the "
        "answer is predicted (and, remotely, all that needs to travel back)."
        if logits.dim() == 3
        else "",
    )
    check(
        tuple(predictions.shape) == (batch,),
        f"predictions has shape {tuple(predictions.shape)}, expected ({batch},): one token id per prompt",
        diagnosis="Take the argmax over the vocabulary (dim=-1) of the logits at the last position, "
        "`model.lm_head.output[:, -1]` (batch, d_vocab): one token per prompt.",
    )
    check(
        not predictions.is_floating_point(),
        f"predictions has dtype {predictions.dtype}, expected token ids (integers)",
        diagnosis="The prediction is the index of the largest logit (`argmax`), not the logit's value (`max`).",
    )


@pytest.mark.parametrize("layer", [0, 2])
def test_hidden_matches_reference(saved, expected, truth, layer):
    """The saved hidden states match the reference (block 0 and block 2)"""
    hidden = saved(layer)[0]
    outputs, inputs = truth["outputs"], truth["inputs"]
    mistakes = {
        "That is the block's input (`.input`, the residual stream before it), not its output.": inputs[layer],
        "You indexed the block's output with [0]: in transformers 5 a GPT-J block returns the tensor "
        "(batch, seq, d_model) itself, not a tuple, so `output[0]` is the first prompt only.": outputs[layer][0],
    }
    for other in range(N_LAYERS):
        if other != layer:
            mistakes[f"That is block {other}'s output, not block {layer}'s: `model.transformer.h[layer]`, "
                     "0-based."] = outputs[other]
    assert_close(hidden, expected(layer)[0], name=f"hidden (block {layer}'s output)", mistakes=mistakes)


def test_logits_match_reference(saved, expected, truth):
    """The logits at the last position match the reference"""
    logits = saved(1)[1]
    full, mask = truth["logits"], truth["mask"]
    mistakes = {
        "Those are probabilities: return the logits themselves, `model.lm_head.output[:, -1]`, without a "
        "softmax.": full[:, -1].softmax(-1),
        "Those are log-probabilities: return the logits themselves, `model.lm_head.output[:, -1]`.":
            full[:, -1].log_softmax(-1),
        "Those are the logits at every position: keep only the last one, `[:, -1]`.": full,
        "Those are the logits at position 0: the answer is predicted at the last position, `[:, -1]`.": full[:, 0],
        "You indexed each prompt's last token as `lengths - 1` (as for right padding): nnsight pads on the "
        "LEFT, so every prompt ends at position -1.": full[torch.arange(len(mask)), mask.sum(-1) - 1],
        "Those are the first prompt's logits (at every position): `model.lm_head.output` is "
        "(batch, seq, d_vocab), take `[:, -1]`.": full[0],
    }
    assert_close(logits, expected(1)[1], name="logits", mistakes=mistakes)


def test_predictions_match_reference(saved, expected, truth):
    """The predicted next tokens (argmax at the last position) match the reference"""
    predictions = saved(1)[2]
    logits, mask = truth["logits"], truth["mask"]
    last_real_if_right_padded = mask.sum(-1) - 1  # where the last token would be with RIGHT padding
    mistakes = {
        "Those are the predictions at position 0 (after the first token): the answer is predicted at the "
        "last position, `logits[:, -1]`.": logits[:, 0].argmax(-1),
        "You indexed each prompt's last token as `lengths - 1` (as for right padding): nnsight pads on the "
        "LEFT, so every prompt ends at position -1 and `logits[:, -1]` is right for all of them.":
            logits[torch.arange(len(mask)), last_real_if_right_padded].argmax(-1),
        "Those are the predictions at the second-to-last position: the last one is -1.": logits[:, -2].argmax(-1),
    }
    assert_close(predictions, expected(1)[2], name="predictions", atol=0, rtol=0, check_dtype=False, mistakes=mistakes)


def test_predictions_are_argmax_of_logits(saved, prompts):
    """Each prediction is the token with the largest of the returned logits"""
    _, logits, predictions = saved(1)
    check(tuple(predictions.shape) == (len(prompts),), f"predictions has shape {tuple(predictions.shape)}")
    check(logits.dim() == 2, f"logits has shape {tuple(logits.shape)}, expected (batch, d_vocab)")
    chosen = logits[torch.arange(len(prompts)), predictions.long()]
    check(
        bool((chosen >= logits.max(-1).values).all()),
        "some prediction is not the token with the largest logit",
        diagnosis="predictions = logits.argmax(dim=-1), with logits = `model.lm_head.output[:, -1]`: the "
        "argmax over the vocabulary (the last dimension).",
    )


def test_last_block_gives_logits(saved, model):
    """The last block's output at the last position, through the final LayerNorm and lm_head, gives the logits"""
    hidden, logits, _ = saved(N_LAYERS - 1)
    check(
        hidden.dim() == 3 and logits.dim() == 2 and hidden.shape[0] == logits.shape[0],
        f"hidden has shape {tuple(hidden.shape)} and logits {tuple(logits.shape)}: expected (batch, seq, d_model) "
        "and (batch, d_vocab), for the same batch",
        diagnosis="Save `model.transformer.h[layer].output` as it is (no `[0]`: in transformers 5 it is the "
        "tensor itself) and `model.lm_head.output[:, -1]`.",
    )
    hf = model._module
    with torch.no_grad():
        recomputed = hf.lm_head(hf.transformer.ln_f(hidden[:, -1]))
    assert_close(
        logits,
        recomputed,
        name="logits vs lm_head(ln_f(last block's output at the last position))",
        atol=1e-4,
        diagnosis="Save block `layer`'s output (the residual stream after it) and `model.lm_head.output[:, -1]`, "
        "from the same trace.",
    )


def test_passes_remote_on(student, model):
    """Passes `remote` on to model.trace (so the same code runs on NDIF)"""
    with remote_recorded(model) as calls:
        _run(student, model, icl_prompts("antonyms", (2, 1, 0)), 0, remote=True)
    check_remote_once(calls, "trace_and_save", "Write `with model.trace(prompts, remote=remote):` so the caller "
                      "decides where it runs (one trace for everything)." if calls
                      else "Use `with model.trace(prompts, remote=remote):`.")
