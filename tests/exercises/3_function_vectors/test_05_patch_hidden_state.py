"""Hidden test for exercise 05: patch h (the mean last-position block output over ICL prompts) into the last
position of zero-shot prompts, and return the greedy next tokens without and with the patch.

Runs on a tiny random GPT-J (3 blocks, d_model 64, built in code) whose weights are redrawn at std 1, so the
predictions differ from prompt to prompt and each way of patching gives different tokens. The ICL prompts
have 1 to 3 examples (a left-padded batch).
"""

import pytest
import torch

from arena_cli.testing import assert_close, check
from arena_course.function_vectors.testing import hidden_state_model, icl_and_zero_shot, mean_last_state, next_tokens
from arena_course.function_vectors.testing import once_per_input, remote_recorded, shared, traced_tensors

N_LAYERS, D_MODEL = 3, 64

_CRASH = (
    "Inside `with model.trace(zero_shot_prompts, remote=remote):`, assign to a slice of the block's output, "
    "`model.transformer.h[layer].output[:, -1] = h` (h is (d_model,) and broadcasts over the batch), then read "
    "`model.lm_head.output[:, -1].argmax(dim=-1).save()`."
)


model = shared(hidden_state_model, "model")


data = shared(icl_and_zero_shot, "data")


@pytest.fixture(scope="module")
def saved(student, model, data):
    """`saved(layer)`: the student's (clean, patched) for the ICL and zero-shot prompts of `data`, one call per
    block."""
    return once_per_input(_run, student, model, *data)


def _tokens(model, prompts, layer, vector, how):
    """The next tokens of `prompts` with `vector` written into block `layer` in one of the wrong ways a patch can
    go."""
    with model.trace(prompts):
        if how == "first":
            model.transformer.h[layer].output[:, 0] = vector
        elif how == "all":
            model.transformer.h[layer].output[:] = vector
        elif how == "add":
            model.transformer.h[layer].output[:, -1] += vector
        elif how == "row0":
            model.transformer.h[layer].output[0, -1] = vector
        elif how == "input":
            model.transformer.h[layer].input[:, -1] = vector
        tokens = model.lm_head.output[:, -1].argmax(dim=-1).save()
    return tokens


def _run(student, model, icl, zero_shot, layer, **kwargs):
    return traced_tensors(student.patch_hidden_state, model, icl, zero_shot, layer, crash=_CRASH, n=2,
                          names="(clean, patched)", hint="", if_none="Did you delete the `return clean, patched` at "
                          "the end?", tensors_hint="Save the patched tokens inside the trace (`.save()`): after the "
                          "block they are a tensor.", **kwargs)


def test_shapes(saved, data):
    """Returns clean and patched next tokens, each (batch,) token ids"""
    icl, zero_shot = data
    clean, patched = saved(0)
    for name, t in (("clean", clean), ("patched", patched)):
        check(
            tuple(t.shape) == (len(zero_shot),),
            f"{name} has shape {tuple(t.shape)}, expected ({len(zero_shot)},): one token per zero-shot prompt",
            diagnosis="Take the argmax over the vocabulary (dim=-1) of the logits at the last position, "
            "`model.lm_head.output[:, -1]`." if name == "patched" else "",
        )
        check(not t.is_floating_point(), f"{name} has dtype {t.dtype}, expected token ids (integers)",
              diagnosis="The next token is the index of the largest logit (`argmax`), not its value (`max`).")


@pytest.mark.parametrize("layer", [0, 1])
def test_patched_matches_reference(saved, reference, model, data, layer):
    """The patched next tokens match the reference (h patched at block 0, and at block 1)"""
    icl, zero_shot = data
    with torch.no_grad():
        expected = reference.patch_hidden_state(model, icl, zero_shot, layer)[1]
        h = mean_last_state(model, icl, layer)
        clean = next_tokens(model, zero_shot)
        mistakes = {
            "Your patch changed nothing: the patched tokens are the clean ones. Assign inside the trace, to the "
            "output itself (`model.transformer.h[layer].output[:, -1] = h`): rebinding a name (`out = h`) "
            "doesn't edit the model.": clean,
            "You patched position 0: h belongs at the last position, `[:, -1]` (left padding puts every "
            "prompt's last token there).": _tokens(model, zero_shot, layer, h, "first"),
            "You overwrote every position with h: only the last one, `output[:, -1] = h`; the earlier "
            "positions (the query among them) must stay as they are.": _tokens(model, zero_shot, layer, h, "all"),
            "You added h to the residual stream: replace it (`output[:, -1] = h`), as Hendel et al. do. (Adding is "
            "what function vectors do, in the next section.)": _tokens(model, zero_shot, layer, h, "add"),
            "Only the first prompt was patched: `output[0, -1]` (or `output[0][-1]`) is prompt 0. Use "
            "`output[:, -1] = h`, every prompt.": _tokens(model, zero_shot, layer, h, "row0"),
            "You patched the block's input (`.input`, the residual stream before it): h is the block's output, "
            "so patch `model.transformer.h[layer].output`.": _tokens(model, zero_shot, layer, h, "input"),
        }
        for other in range(N_LAYERS):
            if other != layer:
                mistakes[f"You patched block {other}, not block {layer}: h was taken from block {layer}'s output "
                         "and goes back to the same place."] = next_tokens(model, zero_shot, other, h)
    patched = saved(layer)[1]
    assert_close(patched, expected, name=f"patched (h at block {layer})", atol=0, rtol=0, check_dtype=False,
                 mistakes=mistakes)


def test_clean_is_unpatched(saved, model, data):
    """The first result is the unpatched prediction, the second the patched one"""
    icl, zero_shot = data
    with torch.no_grad():
        clean_expected = next_tokens(model, zero_shot)
        patched_expected = next_tokens(model, zero_shot, 0, mean_last_state(model, icl, 0))
    clean, _ = saved(0)
    assert_close(clean, clean_expected, name="clean", atol=0, rtol=0, check_dtype=False,
                 mistakes={"These are the patched tokens: return `clean, patched`, in that order, and patch only in "
                           "your own trace (the given clean one must stay unpatched).": patched_expected},
                 diagnosis="The given code computes `clean`; return it unchanged as the first result.")


def test_last_block_gives_icl_prediction(saved, model, data):
    """Patched at the last block, every zero-shot prompt predicts what lm_head makes of h itself"""
    icl, zero_shot = data
    layer = N_LAYERS - 1
    hf = model._module
    with torch.no_grad():
        h = mean_last_state(model, icl, layer)
        token = int(hf.lm_head(hf.transformer.ln_f(h)).argmax())  # after the last block only ln_f and lm_head
    patched = saved(layer)[1]
    assert_close(patched, torch.full((len(zero_shot),), token), name=f"patched at the last block ({layer})", atol=0,
                 rtol=0, check_dtype=False,
                 diagnosis="After the last block, the last position's residual stream IS h, so every prompt's "
                 "logits are lm_head(ln_f(h)): replace the whole last position (`output[:, -1] = h`).")


def test_own_state_changes_nothing(student, model, data):
    """Patching a prompt's own last hidden state into itself leaves its prediction unchanged"""
    _, zero_shot = data
    for prompt in zero_shot[:2]:
        clean, patched = _run(student, model, [prompt], [prompt], 1)
        assert_close(patched, clean, name=f"patched vs clean for h from the prompt itself ({prompt!r})", atol=0,
                     rtol=0, check_dtype=False,
                     diagnosis="h from the very prompt you patch is what was already there: replace the last "
                     "position of the same block's output with it, don't add or move it.")


def test_passes_remote_on(student, model, data):
    """Passes `remote` on to every model.trace"""
    icl, zero_shot = data
    with remote_recorded(model) as calls:
        _run(student, model, icl[:2], zero_shot[:2], 0, remote=True)
    check(
        len(calls) == 3 and all(c is True for c in calls),
        f"model.trace was called with remote={calls!r} when patch_hidden_state was given remote=True "
        "(expected three traces: h, clean, patched)",
        diagnosis="Write `with model.trace(zero_shot_prompts, remote=remote):` for your trace too.",
    )
