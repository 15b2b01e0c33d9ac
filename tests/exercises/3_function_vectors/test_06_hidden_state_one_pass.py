"""Hidden test for exercise 06: exercise 05's patch in one forward pass, with two invokes (ICL prompts, then
zero-shot prompts) and a barrier between computing h and using it.

Runs on a tiny random GPT-J (3 blocks, d_model 64, built in code) whose weights are redrawn at std 1, so the
predictions differ from prompt to prompt and each way of patching gives different tokens. A forward hook on
the underlying Hugging Face model counts the forward passes.
"""

import pytest
import torch

from arena_cli.testing import assert_close, check
from arena_course.function_vectors.testing import NOT_SAVED, OUT_OF_ORDER, hidden_state_model, icl_and_zero_shot
from arena_course.function_vectors.testing import mean_last_state, next_tokens, once_per_input, remote_recorded, shared
from arena_course.function_vectors.testing import traced_tensor

N_LAYERS, D_MODEL = 3, 64

FORGOT_BARRIER = (
    "NameError for a value computed in the first invoke: the second invoke used it before the first had "
    "computed it. Invokes take turns as the model runs, and when the second starts, the first is still "
    "waiting for block `layer`. Make `barrier = tracer.barrier(2)` before the invokes and call `barrier()` in "
    "both: in the first after computing h, in the second before using it. (If you did: is the count 2, one "
    "per invoke that calls it?)"
)
BARRIER_COUNT = (
    "The barrier never released: `tracer.barrier(n)` waits for n calls, so n must be the number of invokes "
    "that call `barrier()` (2 here), and each of them must reach its call."
)
_CRASH = (
    "One `with model.trace(remote=remote) as tracer:` holding `barrier = tracer.barrier(2)` and two "
    "`with tracer.invoke(...):` blocks; inside an invoke, `model.transformer.h[layer].output` is that invoke's "
    "rows only, (n_prompts, seq, d_model)."
)


model = shared(hidden_state_model, "model")


data = shared(icl_and_zero_shot, "data")


# nnsight's errors in a trace with invokes and a barrier, and what they mean (the first that matches is shown).
_ERRORS = (
    ("raised UnboundLocalError", NOT_SAVED),
    ("raised NameError", FORGOT_BARRIER),
    ("barrier was never reached", BARRIER_COUNT),
    ("raised OutOfOrderError", OUT_OF_ORDER),
)


@pytest.fixture(scope="module")
def saved(student, model, data):
    """`saved(layer)`: the student's patched tokens for the ICL and zero-shot prompts of `data`, one call per
    block."""
    return once_per_input(_run, student, model, *data)


def _run(student, model, icl, zero_shot, layer, **kwargs):
    return traced_tensor(student.hidden_state_one_pass, model, icl, zero_shot, layer, crash=_CRASH, errors=_ERRORS,
                         expected="a tensor of token ids (batch,)", hint="Return the saved patched tokens.", **kwargs)


def test_shape(saved, data):
    """Returns the patched next tokens, (batch,) token ids for the zero-shot prompts"""
    icl, zero_shot = data
    patched = saved(0)
    diagnosis = ""
    if patched.dim() == 1 and len(patched) == len(icl) + len(zero_shot):
        diagnosis = "That is every prompt of the batch: return the zero-shot prompts' tokens only (save them in the second invoke)."
    elif patched.dim() == 1 and len(patched) == len(icl):
        diagnosis = "Those are the ICL prompts' tokens: save the prediction in the second (zero-shot) invoke."
    check(tuple(patched.shape) == (len(zero_shot),),
          f"patched has shape {tuple(patched.shape)}, expected ({len(zero_shot)},): one token per zero-shot prompt",
          diagnosis=diagnosis)
    check(not patched.is_floating_point(), f"patched has dtype {patched.dtype}, expected token ids (integers)",
          diagnosis="The next token is the index of the largest logit (`argmax`), not its value (`max`).")


def test_matches_reference(saved, reference, model, data):
    """The patched next tokens match the reference (h from the ICL invoke, patched at block 0)"""
    icl, zero_shot = data
    layer = 0
    with torch.no_grad():
        expected = reference.hidden_state_one_pass(model, icl, zero_shot, layer)
        h = mean_last_state(model, icl, layer)
        mistakes = {
            "Your patch changed nothing: the tokens are the zero-shot prompts' own. In the second invoke, after the "
            "barrier, assign `model.transformer.h[layer].output[:, -1] = h`.": next_tokens(model, zero_shot),
            "h came from the zero-shot prompts: compute it in the first invoke (the ICL prompts), whose "
            "`model.transformer.h[layer].output` is the ICL rows only.":
                next_tokens(model, zero_shot, layer, mean_last_state(model, zero_shot, layer)),
            "h came from every prompt of the batch: compute it inside the first invoke, from the ICL rows only.":
                next_tokens(model, zero_shot, layer, mean_last_state(model, icl + zero_shot, layer)),
            "Your h is the mean of position 0: it is the mean of the LAST position, `output[:, -1]` (left padding "
            "puts every prompt's last token there).": next_tokens(model, zero_shot, layer, mean_last_state(model, icl, layer, position=0)),
        }
        for other in range(N_LAYERS):
            if other != layer:
                mistakes[f"You patched block {other}: h is block {layer}'s output and goes back to block {layer}."] = (
                    next_tokens(model, zero_shot, other, h))
    patched = saved(layer)
    assert_close(patched, expected, name="patched", atol=0, rtol=0, check_dtype=False, mistakes=mistakes)


@pytest.mark.parametrize("layer", [0, 1])
def test_same_as_two_traces(saved, model, data, layer):
    """One pass gives the same tokens as exercise 05's two traces (h from one trace, patched in another)"""
    icl, zero_shot = data
    with torch.no_grad():
        expected = next_tokens(model, zero_shot, layer, mean_last_state(model, icl, layer))
    patched = saved(layer)
    assert_close(patched, expected, name=f"one pass vs two traces (block {layer})", atol=0, rtol=0,
                 check_dtype=False,
                 diagnosis="The first invoke computes h = output[:, -1].mean(dim=0) from the ICL prompts; the second, "
                 "after the barrier, sets output[:, -1] = h in the zero-shot prompts at the same block.")


def test_one_forward_pass(student, model, data):
    """Runs the model once, on the ICL and zero-shot prompts together, in one trace"""
    batches = []
    hook = model._module.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: batches.append(int(kwargs["input_ids"].shape[0]) if "input_ids" in kwargs
                                                    else int(args[0].shape[0])),
        with_kwargs=True,
    )
    try:
        icl, zero_shot = data
        with remote_recorded(model) as calls:
            _run(student, model, icl[:3], zero_shot[:2], 0, remote=True)
    finally:
        hook.remove()
    check(
        len(calls) == 1,
        f"model.trace was called {len(calls)} times, expected once",
        diagnosis="One `with model.trace(remote=remote) as tracer:` with two `tracer.invoke(...)` blocks inside "
        "it (exercise 05 used separate traces; this one doesn't).",
    )
    check(calls == [True], f"model.trace was called with remote={calls[0]!r} when given remote=True",
          diagnosis="Pass it on: `model.trace(remote=remote)`.")
    check(
        batches == [5],
        f"the model ran {len(batches)} time(s) on batches of {batches}, expected once on all 5 prompts (3 ICL + 2 "
        "zero-shot)",
        diagnosis="Put each set of prompts in its own invoke of the same trace: `with tracer.invoke(icl_prompts):` "
        "and `with tracer.invoke(zero_shot_prompts):`; nnsight batches them into one forward pass.",
    )
