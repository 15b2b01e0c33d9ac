"""Hidden test for exercise 3: the logit difference direction W_U[:, IO] - W_U[:, S], one row per prompt.

Runs on an untrained tiny TransformerBridge over the IOI vocabulary (2 layers, d_model 32, compatibility
mode, untied embedding and unembedding so that using W_E shows), with 8 prompts.
"""

import pytest
import torch

from arena_cli.testing import assert_close, check
from arena_course.ioi.dataset import BABA_TEMPLATES, IOIDataset, IOIPrompt
from arena_course.ioi.testing import compat_model, returned_tensor

N, D_MODEL = 8, 32

_CRASH = (
    "model.W_U is (d_model, d_vocab): a token's unembedding vector is a *column*, W_U[:, token]. "
    "W_U[:, data.io_tokens] is (d_model, batch); transpose it to (batch, d_model)."
)


@pytest.fixture(scope="module")
def setting():
    model = compat_model(seed=1, d_model=D_MODEL)
    data = IOIDataset.generate(model.tokenizer, N, seed=5)
    return model, data


def _run(student, model, data):
    return returned_tensor(student.logit_diff_directions, model, data, crash=_CRASH,
                           expected="a tensor of shape (batch, d_model)")


def test_shape(student, setting):
    """Returns one d_model vector per prompt: shape (batch, d_model)"""
    model, data = setting
    out = _run(student, model, data)
    check(
        tuple(out.shape) == (N, D_MODEL),
        f"logit_diff_directions returned shape {tuple(out.shape)}, expected (batch, d_model) = ({N}, {D_MODEL})",
        diagnosis="W_U[:, tokens] is (d_model, batch): transpose it (.T) to get one row per prompt."
        if tuple(out.shape) == (D_MODEL, N) else "",
    )


def test_matches_reference(student, reference, setting):
    """Matches the reference: row i is W_U[:, IO_i] - W_U[:, S_i]"""
    model, data = setting
    expected = reference.logit_diff_directions(model, data).detach()
    W_U, W_E = model.W_U.detach(), model.W_E.detach()
    io, s = data.io_tokens, data.s_tokens
    mistakes = {
        "The sign is flipped: the direction is W_U[:, IO] - W_U[:, S], so that a positive dot product means "
        "the model prefers IO.": -expected,
        "You used the embedding W_E: the logits are read with the unembedding, model.W_U.": W_E[io] - W_E[s],
        "You returned W_U[:, IO] only: subtract the subject's column W_U[:, S].": W_U[:, io].T,
        "You returned (d_model, batch): transpose to one row per prompt, (batch, d_model).": expected.T,
    }
    assert_close(_run(student, model, data), expected, name="logit_diff_directions(model, data)",
                 mistakes=mistakes, check_dtype=False)


def test_one_prompt_by_hand(student, setting):
    """One prompt with IO = Mary and S = John: the direction is W_U[:, ' Mary'] - W_U[:, ' John']"""
    model, _ = setting
    data = IOIDataset([IOIPrompt(BABA_TEMPLATES[0], io="Mary", s="John", place="store", object="drink")],
                      model.tokenizer)
    mary, john = model.tokenizer.convert_tokens_to_ids(["Mary", "John"])
    expected = (model.W_U[:, mary] - model.W_U[:, john]).detach()[None]
    assert_close(_run(student, model, data), expected, name="direction for Mary (IO) vs John (S)",
                 check_dtype=False, mistakes={
                     "Sign flipped: W_U[:, IO] - W_U[:, S].": -expected,
                     "You used the embedding W_E: the logits are read with the unembedding, model.W_U.":
                         (model.W_E[mary] - model.W_E[john]).detach()[None],
                 })


def test_dot_product_gives_logit_diff(student, setting):
    """The final LayerNorm's output at each end position, dotted with the direction, is the logit difference"""
    model, data = setting
    batch = torch.arange(N)
    with torch.no_grad():
        logits, cache = model.run_with_cache(data.toks)
    end_logits = logits[batch, data.word_idx["end"]]
    logit_diff = end_logits[batch, data.io_tokens] - end_logits[batch, data.s_tokens]
    assert float(model.b_U.abs().max()) == 0.0  # so no bias term
    normalized = cache["ln_final.hook_normalized"][batch, data.word_idx["end"]]
    directions = _run(student, model, data)
    check(tuple(directions.shape) == (N, D_MODEL), f"expected shape ({N}, {D_MODEL}), got {tuple(directions.shape)}")
    assert_close((normalized * directions).sum(-1), logit_diff, name="LN output · direction, per prompt",
                 check_dtype=False,
                 diagnosis="Row i must pair with prompt i: W_U[:, data.io_tokens[i]] - W_U[:, data.s_tokens[i]].")
