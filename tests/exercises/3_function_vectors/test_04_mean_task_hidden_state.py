"""Hidden test for exercise 04: h, the mean over ICL prompts of a block's output at the last position.

Runs on a tiny random GPT-J (3 blocks, d_model 64, built in code) whose weights are redrawn at std 1 so that
every prompt and position has a different hidden state. The prompts have 0 to 3 examples, so the batch is
left-padded and "the last position" is only the same for all of them at -1.
"""

import pytest
import torch

from arena_cli.testing import assert_close, check
from arena_course.function_vectors.testing import block_states, hidden_state_model, icl_prompts, remote_recorded, shared
from arena_course.function_vectors.testing import traced_tensor

N_LAYERS, D_MODEL = 3, 64

_CRASH = (
    "Inside `with model.trace(prompts, remote=remote):`, `model.transformer.h[layer].output` is a tensor "
    "(batch, seq, d_model): `[:, -1]` is every prompt's last position, (batch, d_model); average it over dim 0."
)


model = shared(hidden_state_model, "model")


@pytest.fixture(scope="module")
def prompts():
    return icl_prompts("antonyms", (3, 3, 0), (2, 0, 1), (3, 1, 2))


@pytest.fixture(scope="module")
def truth(model, prompts):
    """Every block's input and output from one trace, and where each prompt's tokens end."""
    return block_states(model, prompts)


def _run(student, model, prompts, layer, **kwargs):
    return traced_tensor(student.mean_task_hidden_state, model, prompts, layer, crash=_CRASH,
                         expected="a tensor of shape (d_model,)", hint="Return the saved mean itself.", **kwargs)


def test_shape(student, model, prompts):
    """Returns one float vector of shape (d_model,)"""
    h = _run(student, model, prompts, 1)
    batch = len(prompts)
    diagnosis = ""
    if h.dim() == 2 and h.shape[0] == batch:
        diagnosis = "That is one vector per prompt: average over the prompts (dim 0) to get h."
    elif h.dim() == 2:
        diagnosis = "Take the last position (`[:, -1]`) before averaging over the prompts: h is one vector."
    elif h.dim() == 0:
        diagnosis = ("A single number: `output[0]` is the first prompt (a GPT-J block returns the tensor "
                     "itself in transformers 5), so `output[0][:, -1]` is a column of it. Use `output[:, -1]`.")
    check(tuple(h.shape) == (D_MODEL,), f"h has shape {tuple(h.shape)}, expected ({D_MODEL},) (d_model,)",
          diagnosis=diagnosis)
    check(h.is_floating_point(), f"h has dtype {h.dtype}, expected a float tensor")


@pytest.mark.parametrize("layer", [0, 2])
def test_matches_reference(student, reference, model, prompts, truth, layer):
    """h matches the reference (block 0 and block 2), for a left-padded batch"""
    with torch.no_grad():
        expected = reference.mean_task_hidden_state(model, prompts, layer).detach()
    h = _run(student, model, prompts, layer)
    out, inp, mask = truth["outputs"][layer], truth["inputs"][layer], truth["mask"]
    right_padded_last = mask.sum(-1) - 1  # where each prompt's last token would be with RIGHT padding
    mistakes = {
        "You averaged position 0: the task is read at the LAST position, `[:, -1]` (left padding puts every "
        "prompt's last token there).": out[:, 0].mean(0),
        "You took each prompt's last token at `length - 1` (as for right padding): nnsight pads on the LEFT, so "
        "every prompt ends at position -1 and `[:, -1]` is right for all of them.":
            out[torch.arange(len(mask)), right_padded_last].mean(0),
        "You averaged over every position as well as every prompt: keep only the last position, `[:, -1]`, "
        "then average over the prompts.": out.mean((0, 1)),
        "You summed over the prompts: h is their mean.": out[:, -1].sum(0),
        "That is the block's input (`.input`, the residual stream before it), not its output.": inp[:, -1].mean(0),
        "That is the first prompt's last position only: average over every prompt, `output[:, -1].mean(dim=0)` "
        "(and no `[0]`: a GPT-J block returns the tensor itself in transformers 5).": out[0, -1],
        "You averaged the second-to-last position: the last one is -1.": out[:, -2].mean(0),
    }
    for other in range(N_LAYERS):
        if other != layer:
            mistakes[f"That is block {other}'s output, not block {layer}'s: `model.transformer.h[layer]`, "
                     "0-based."] = truth["outputs"][other][:, -1].mean(0)
    assert_close(h, expected, name=f"h (block {layer})", mistakes=mistakes, atol=1e-3)


def test_one_prompt(student, model, prompts):
    """For a single prompt, h is that prompt's block output at its last token (from Hugging Face's own forward)"""
    prompt = prompts[0]
    hf = model._module
    ids = model.tokenizer([prompt], return_tensors="pt")
    with torch.no_grad():
        # hidden_states[0] is the embedding, hidden_states[L + 1] block L's output (for L below the last block).
        expected = hf(**ids, output_hidden_states=True).hidden_states[2][0, -1]
    h = _run(student, model, [prompt], 1)
    assert_close(h, expected, name="h for one prompt (block 1)", atol=1e-3,
                 diagnosis="With one prompt, h is `model.transformer.h[1].output[0, -1]`: the block's output at "
                 "the last position.")


def test_mean_of_single_prompts(student, model, prompts):
    """h of a batch is the mean of the h of each of its prompts run alone (so the padding is handled)"""
    singles = torch.stack([_run(student, model, [p], 0) for p in prompts[2:6]])
    h = _run(student, model, prompts[2:6], 0)
    assert_close(h, singles.mean(0), name="h of 4 prompts vs the mean of their h one by one", atol=1e-3,
                 diagnosis="Prompts of different lengths are padded on the left: every prompt's last token is at "
                 "-1, and padding positions must not enter the mean.")


def test_passes_remote_on(student, model):
    """Passes `remote` on to model.trace, one trace"""
    with remote_recorded(model) as calls:
        _run(student, model, icl_prompts("antonyms", (2, 1, 0)), 0, remote=True)
    check(
        calls == [True],
        f"model.trace was called {len(calls)} time(s) with remote={calls!r} when mean_task_hidden_state was "
        "given remote=True",
        diagnosis="One trace: `with model.trace(prompts, remote=remote):`.",
    )
