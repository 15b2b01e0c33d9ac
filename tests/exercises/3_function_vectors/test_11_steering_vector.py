"""Hidden test for exercise 11: Turner et al.'s steering vector, the residual stream entering block
`layer` on [BOS, prompt_add] minus on [BOS, prompt_sub], the shorter padded on the right with the space
token.

Runs on a tiny random GPT-2 (3 blocks, d_model 32, built in code, weights redrawn at std 0.3) with the
chapter's word-level tokenizer (one token per word; it has no token for a lone space, so
`space_token_id` gives its padding token).
"""

import pytest
import torch

from arena_cli.testing import assert_close, check
from arena_course.function_vectors.generation import space_token_id, with_bos
from arena_course.function_vectors.models import tiny_gpt2
from arena_course.function_vectors.testing import check_remote_everywhere, once_per_input, remote_recorded, shared
from arena_course.function_vectors.testing import sharp, traced_tensor

N_LAYERS, D_MODEL = 3, 32
ADD, SUB = "I love you", "I hate"  # 4 and 3 tokens with BOS: the second is padded

_CRASH = (
    "Give the trace one (2, pos) tensor of token ids (both lists padded to the same length first); inside it, "
    "`model.transformer.h[layer].input` is (2, pos, d_model)."
)


def _model():
    return sharp(tiny_gpt2, n_layers=N_LAYERS, std=0.3)


model = shared(_model, "model")


@pytest.fixture(scope="module")
def saved(student, model):
    """`saved(layer)`: the student's steering vector for ADD - SUB at block `layer`, one call per block."""
    return once_per_input(_run, student, model, ADD, SUB)


def _inputs(model, rows, layer, *, site="input"):
    """Block `layer`'s input (or output) on each row of token ids (all the same length)."""
    with torch.no_grad(), model.trace(torch.tensor(rows)):
        block = model.transformer.h[layer]
        value = (block.input if site == "input" else block.output).save()
    return value.detach()


def _pad(ids, n, pad, side="right"):
    return ids + [pad] * (n - len(ids)) if side == "right" else [pad] * (n - len(ids)) + ids


def _mistakes(model, add, sub, layer):
    tok = model.tokenizer
    a, s = with_bos(tok, add), with_bos(tok, sub)
    n, space = max(len(a), len(s)), space_token_id(tok)
    right = [_pad(a, n, space), _pad(s, n, space)]
    x = _inputs(model, right, layer)
    left = _inputs(model, [_pad(a, n, space, "left"), _pad(s, n, space, "left")], layer)
    out = _inputs(model, right, layer, site="output")
    plain_a, plain_s = tok(add, add_special_tokens=False)["input_ids"], tok(sub, add_special_tokens=False)["input_ids"]
    m = max(len(plain_a), len(plain_s))
    no_bos = _inputs(model, [_pad(plain_a, m, space), _pad(plain_s, m, space)], layer)
    return {
        "You subtracted the wrong way round: the vector is prompt_add's residual stream minus prompt_sub's.":
            x[1] - x[0],
        "You padded on the LEFT: Turner et al. pad the shorter prompt on the right (`ids + [space] * n`), so both "
        "start at position 0 with BOS and position i matches position i.": left[0] - left[1],
        "That is block `layer`'s OUTPUT (the residual stream after it): the steering vector is read from its "
        "INPUT, `model.transformer.h[layer].input` (the stream entering it, Turner et al.'s resid_pre).":
            out[0] - out[1],
        "You left out the BOS token: tokenize with `with_bos(model.tokenizer, prompt)`, as Turner et al. run "
        "GPT-2.": no_bos[0] - no_bos[1],
    }


def _run(student, model, add, sub, layer, **kwargs):
    return traced_tensor(student.steering_vector, model, add, sub, layer, crash=_CRASH,
                         expected="a tensor (pos, d_model)", hint="Return `resid[0] - resid[1]`, a tensor.", **kwargs)


def test_shape_and_bos_row(saved, model):
    """Returns (pos, d_model), pos = the longer prompt's tokens plus BOS, and row 0 (BOS in both) is zero"""
    out = saved(1)
    pos = len(with_bos(model.tokenizer, ADD))
    check(
        tuple(out.shape) == (pos, D_MODEL),
        f"steering_vector has shape {tuple(out.shape)}, expected ({pos}, {D_MODEL}): one row per position of "
        f"[BOS, {ADD!r}] (the longer prompt), d_model columns",
        diagnosis="Pad the shorter token list to the longer one's length, put BOS in front (with_bos), and return "
        "the difference of the two rows of `h[layer].input`: (pos, d_model)."
        + (" Your first dimension is 2: that is the batch; subtract row 1 from row 0." if out.shape[:1] == (2,) else ""),
    )
    check(
        float(out[0].abs().max()) < 1e-5,
        f"row 0 of the steering vector is not zero (max |value| {float(out[0].abs().max()):.3g}): both prompts start "
        "with BOS, and at a causal model's position 0 the residual stream depends on that token alone",
        diagnosis="Put BOS in front of both prompts (`with_bos`) and pad the shorter one on the RIGHT.",
    )


@pytest.mark.parametrize("layer", [1, 2])
def test_matches_reference(saved, reference, model, layer):
    """Matches the reference on prompts of different lengths (the shorter one padded)"""
    with torch.no_grad():
        expected = reference.steering_vector(model, ADD, SUB, layer).detach()
    out = saved(layer)
    assert_close(out, expected, name=f"steering_vector at layer {layer}", atol=1e-4,
                 mistakes=_mistakes(model, ADD, SUB, layer))


def test_layer_zero_is_embedding_difference(student, model):
    """At layer 0 the vector is the difference of the token embeddings (the position embeddings cancel)"""
    tok = model.tokenizer
    a, s = with_bos(tok, "I love"), with_bos(tok, "I hate")
    W_E = model._module.transformer.wte.weight.detach()
    expected = W_E[a] - W_E[s]
    out = _run(student, model, "I love", "I hate", 0)
    assert_close(out, expected, name="steering_vector at layer 0 for 'I love' - 'I hate'", atol=1e-5,
                 diagnosis="Block 0's input is the embeddings, token plus position: for two prompts of the same "
                 "length the positions cancel and only W_E[love] - W_E[hate] is left, at position 2.")


def test_passes_remote_on(student, model):
    """Passes `remote` on to model.trace"""
    with remote_recorded(model) as calls:
        _run(student, model, ADD, SUB, 1, remote=True)
    check_remote_everywhere(calls, "Write `with model.trace(torch.tensor([add_ids, sub_ids]), remote=remote):`.")
