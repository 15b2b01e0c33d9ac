"""Hidden test for exercise 18: copying scores, unembed(ln_final(±(W_E[name] + MLP0) @ W_V @ W_O)), the
fraction of names in their own top k.

Two tiny IOI models (compatibility mode), built in code:
- a random-init one (2 layers x 4 heads) with a nonzero unembedding bias, compared with the reference
  and with what common mistakes give;
- a hand-made one with one head per layer and d_head = d_model, whose OV matrices are +I (layer 0: a
  perfect copier) and -I (layer 1: a perfect negative copier), and whose unembedding is tied to the
  names' normalised residual streams, so the scores are known exactly.
"""

import pytest
import torch

from arena_cli.testing import check
from arena_course.ioi.dataset import NAMES, ioi_tokenizer, name_token
from arena_course.ioi.testing import compat_model, returned_tensor
from arena_course.testing import assert_close_lazily

K = 5

_CRASH = (
    "model.W_V is (layer, head, d_model, d_head) and model.W_O (layer, head, d_head, d_model): W_V @ W_O is "
    "(layer, head, d_model, d_model). The names' residual streams are (n_names, d_model); `resid @ W_OV` "
    "broadcasts to (layer, head, n_names, d_model). model.ln_final and model.unembed accept any leading "
    "dimensions."
)


@pytest.fixture(scope="module")
def name_tokens():
    tokenizer = ioi_tokenizer()
    return torch.tensor([name_token(tokenizer, n) for n in NAMES])


@pytest.fixture(scope="module")
def random_model():
    model = compat_model(seed=5, n_layers=2, n_heads=4)
    with torch.no_grad():
        model.unembed.bias.copy_(torch.randn(model.cfg.d_vocab, generator=torch.Generator().manual_seed(0)))
    return model


def _resid(model, tokens):
    e = model.embed(tokens)
    return e + model.blocks[0].mlp(model.blocks[0].ln2(e))


@pytest.fixture(scope="module")
def copier_model(name_tokens):
    """One head per layer, d_head = d_model; W_OV = +I in layer 0 and -I in layer 1; the unembedding's row
    for every token is ln_final of that token's post-MLP0 residual stream, so x @ W_U is largest for the
    token x came from (all rows have the same norm: Cauchy-Schwarz)."""
    model = compat_model(seed=6, n_layers=2, n_heads=1)
    d = model.cfg.d_model
    with torch.no_grad():
        for layer, sign in ((0, 1.0), (1, -1.0)):
            model.blocks[layer].attn.v.weight.copy_(sign * torch.eye(d))
            model.blocks[layer].attn.o.weight.copy_(torch.eye(d))
        all_tokens = torch.arange(model.cfg.d_vocab)
        model.unembed.weight.copy_(model.ln_final(_resid(model, all_tokens)))
        model.unembed.bias.zero_()
    return model


def _run(student, model, name_tokens, k=K, negative=False):
    out = returned_tensor(student.copying_scores, model, name_tokens, k, negative, crash=_CRASH,
                          expected="a (layer, head) tensor")
    return out.float()


def _score(model, name_tokens, resid, W_OV, k, negative, *, ln=True, flip_logits=False):
    out = resid @ W_OV
    if negative and not flip_logits:
        out = -out
    logits = model.unembed(model.ln_final(out) if ln else out)
    if negative and flip_logits:
        logits = -logits
    return (logits.topk(k, dim=-1).indices == name_tokens[:, None]).any(-1).float().mean(-1)


def _mistakes(model, name_tokens, k, negative):
    with torch.no_grad():
        e = model.embed(name_tokens)
        mlp = model.blocks[0].mlp
        resid = _resid(model, name_tokens)
        W_OV = model.W_V @ model.W_O
        mistakes = {
            "You left out MLP0: the name is W_E[name] + MLP0(LN(W_E[name])), the embedding with the first MLP's "
            "output added.": _score(model, name_tokens, e, W_OV, k, negative),
            "You used MLP0's output alone: keep the embedding too, x = W_E[name] + MLP0(LN(W_E[name])) (the "
            "residual connection).": _score(model, name_tokens, mlp(model.blocks[0].ln2(e)), W_OV, k, negative),
            "You fed MLP0 without its LayerNorm: MLP0 reads model.blocks[0].ln2(x), not x.":
                _score(model, name_tokens, e + mlp(e), W_OV, k, negative),
            "You left out the final LayerNorm: logits = model.unembed(model.ln_final(out)).":
                _score(model, name_tokens, resid, W_OV, k, negative, ln=False),
            "You used W_OV transposed: the head writes x @ W_V @ W_O (x a row vector), not x @ (W_V @ W_O).T.":
                _score(model, name_tokens, resid, W_OV.transpose(-1, -2), k, negative),
        }
        if k != 5:
            mistakes[f"You used k = 5: use the argument k (here {k}) in topk(k, dim=-1)."] = _score(
                model, name_tokens, resid, W_OV, 5, negative)
        if negative:
            mistakes["You negated the logits: negate the head's output before ln_final and the unembedding "
                     "(the unembedding adds b_U, which must not be negated)."] = _score(
                model, name_tokens, resid, W_OV, k, negative, flip_logits=True)
            mistakes["You ignored `negative`: with negative=True, score -W_OV."] = _score(
                model, name_tokens, resid, W_OV, k, False)
        else:
            mistakes["You negated W_OV although negative=False."] = _score(model, name_tokens, resid, W_OV, k, True)
    return mistakes


def test_shape(student, random_model, name_tokens):
    """Returns one fraction per head: shape (n_layers, n_heads), values in [0, 1]"""
    out = _run(student, random_model, name_tokens)
    check(
        tuple(out.shape) == (2, 4),
        f"copying_scores has shape {tuple(out.shape)}, expected (n_layers, n_heads) = (2, 4)",
        diagnosis="For each head: for each name, is it in its own top k (a bool); then the mean over the names.",
    )
    check(
        bool(((out >= 0) & (out <= 1)).all()),
        f"copying_scores has values outside [0, 1]: min {float(out.min()):.3g}, max {float(out.max()):.3g}",
        diagnosis="A copying score is a fraction of names: average the booleans over the names, don't sum them.",
    )


def test_perfect_copier(student, copier_model, name_tokens):
    """A head with W_OV = I copies every name (score 1); one with W_OV = -I has negative score 1"""
    positive = _run(student, copier_model, name_tokens)
    negative = _run(student, copier_model, name_tokens, negative=True)
    assert_close_lazily(
        positive, [[1.0], [0.0]], name="copying_scores (layer 0: W_OV = +I, layer 1: W_OV = -I)",
        mistakes=lambda: _mistakes(copier_model, name_tokens, K, False),
        diagnosis="A head that writes exactly the name's own residual stream must put the name first.",
    )
    assert_close_lazily(
        negative, [[0.0], [1.0]], name="copying_scores with negative=True (layer 0: +I, layer 1: -I)",
        mistakes=lambda: _mistakes(copier_model, name_tokens, K, True),
        diagnosis="With negative=True, score -W_OV: the head with W_OV = -I becomes a perfect copier.",
    )


@pytest.mark.parametrize("negative", [False, True])
def test_matches_reference(student, reference, random_model, name_tokens, negative):
    """Copying scores of a random model match the reference (positive and negative)"""
    k = 12  # large enough that random heads get a spread of scores
    with torch.no_grad():
        expected = reference.copying_scores(random_model, name_tokens, k, negative)
    out = _run(student, random_model, name_tokens, k=k, negative=negative)
    assert_close_lazily(out, expected, name=f"copying_scores (k = {k}, negative = {negative})",
             mistakes=lambda: _mistakes(random_model, name_tokens, k, negative),
             diagnosis="Use `k` as given (not a fixed 5), and count a name when its own token is among "
             "the k largest logits of its own row.")


def test_k_matters(student, reference, random_model, name_tokens):
    """With k = 1 (is the name the single top logit?) the scores match the reference"""
    with torch.no_grad():
        expected = reference.copying_scores(random_model, name_tokens, 1, False)
    out = _run(student, random_model, name_tokens, k=1)
    assert_close_lazily(out, expected, name="copying_scores with k = 1", mistakes=lambda: _mistakes(random_model, name_tokens, 1, False),
             diagnosis="Use the argument `k` in `topk(k, dim=-1)`, not a fixed 5.")
