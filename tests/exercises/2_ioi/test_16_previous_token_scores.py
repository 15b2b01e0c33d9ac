"""Hidden test for exercise 16: every head's attention to the previous position, averaged over the batch and
positions 1..seq-1.

Runs on a random-init tiny IOI model (2 layers x 4 heads, compatibility mode) and exercise 15's repeated random
tokens. One test replaces the attention patterns with hand-made ones through a hook (a perfect previous-token
head, a self-attending head, a BOS head, a duplicate-token head, mixtures), so the scores are known exactly;
another compares with the reference on the model's own patterns, at two lengths.
"""

import pytest
import torch

from arena_cli.testing import call_student, check, load_reference
from arena_course.ioi.testing import compat_model
from arena_course.testing import assert_close_lazily, check_tensor

N, BATCH = 6, 3
SEQ = 1 + 2 * N
N_LAYERS, N_HEADS = 2, 4
_CRASH = (
    "cache['pattern', layer] has shape (batch, head, query_pos, key_pos). The entries (q, q - 1) are "
    "pattern.diagonal(offset=-1, dim1=-2, dim2=-1), with shape (batch, head, seq - 1)."
)


@pytest.fixture(scope="module")
def model():
    return compat_model(seed=4, n_layers=N_LAYERS, n_heads=N_HEADS)


def _tokens(model, n, batch, seed):
    return load_reference(__file__, "repeated_token_scores").repeated_random_tokens(model, n, batch, seed=seed)


def _run(student, model, tokens):
    with torch.no_grad():
        out = call_student(student.previous_token_scores, model, tokens, diagnosis=_CRASH)
    out = check_tensor(out, "previous_token_scores", "expected a (layer, head) tensor")
    check(tuple(out.shape) == (N_LAYERS, N_HEADS),
          f"previous_token_scores has shape {tuple(out.shape)}, expected (n_layers, n_heads) = ({N_LAYERS}, {N_HEADS})",
          diagnosis="Average over the batch and the query positions, keeping one number per head of every layer.")
    return out.detach().float()


def _mistakes(P: torch.Tensor) -> dict[str, torch.Tensor]:
    """What common mistakes give, from patterns P (layer, batch, head, q, k)."""
    seq, batch = P.shape[-1], P.shape[1]
    right = P.diagonal(offset=-1, dim1=-2, dim2=-1).mean((1, 3))
    return {
        "You read the diagonal above the main one (offset=+1): a query attends only to earlier keys, so that is "
        "all 0. The previous position is offset=-1.": P.diagonal(offset=1, dim1=-2, dim2=-1).mean((1, 3)),
        "You measured each token's attention to itself (the main diagonal): the previous token is offset=-1.":
            P.diagonal(dim1=-2, dim2=-1).mean((1, 3)),
        "You counted position 0 (BOS attending to itself, always 1) as a query: average over q = 1..seq-1 only.":
            (P.diagonal(offset=-1, dim1=-2, dim2=-1).sum(-1) + P[..., 0, 0]).mean(1) / seq,
        "You summed over the batch: average over the batch and the queries.": right * batch,
        "You summed over the queries: average over the batch and the queries.": right * (seq - 1),
    }


def _hand(kind: str) -> torch.Tensor:
    p = torch.zeros(SEQ, SEQ)
    for q in range(SEQ):
        k = {"previous": max(q - 1, 0), "self": q, "bos": 0, "duplicate": q - N if q > N else 0}[kind]
        p[q, k] = 1.0
    return p


HAND = [
    [_hand("previous"), _hand("self"), _hand("bos"), _hand("duplicate")],
    [0.5 * _hand("previous") + 0.5 * _hand("self"), 0.25 * _hand("previous") + 0.75 * _hand("bos"), _hand("bos"),
     _hand("self")],
]
# Heads that attend to BOS at q = 1 (0.2, and 0.3 in the first copy) score 1/(seq-1): there the previous
# position is BOS.
HAND_SCORES = torch.tensor([[1.0, 0.0, 1 / (SEQ - 1), 1 / (SEQ - 1)],
                            [0.5, 0.25 + 0.75 / (SEQ - 1), 1 / (SEQ - 1), 0.0]])


def test_hand_made_patterns(student, model):
    """Hand-made patterns: a perfect previous-token head scores 1, a self-attending head 0"""
    tokens = _tokens(model, N, BATCH, 0)
    hooks = []
    for layer in range(N_LAYERS):
        fixed = torch.stack(HAND[layer])
        hooks.append((f"blocks.{layer}.attn.hook_pattern", lambda pattern, hook, fixed=fixed: fixed.expand_as(pattern).clone()))
    with model.hooks(fwd_hooks=hooks):
        out = _run(student, model, tokens)
    P = torch.stack([torch.stack(HAND[layer]).expand(BATCH, -1, -1, -1) for layer in range(N_LAYERS)])
    assert_close_lazily(out, HAND_SCORES, name="previous_token_scores (layer 0 head 0: a perfect previous-token "
                        "head; head 1 attends to itself)", mistakes=lambda: _mistakes(P),
                        diagnosis="Previous-token score: attention from q to q - 1, averaged over q = 1..seq-1.")


@pytest.mark.parametrize("n", [N, 9])
def test_matches_reference(student, reference, model, n):
    """Scores of the model's own patterns match the reference (two lengths)"""
    tokens = _tokens(model, n, 2, 1)
    with torch.no_grad():
        expected = reference.previous_token_scores(model, tokens)
        _, cache = model.run_with_cache(tokens)
    P = torch.stack([cache["pattern", layer] for layer in range(N_LAYERS)])
    out = _run(student, model, tokens)
    assert_close_lazily(out, expected, name=f"previous_token_scores (seq {tokens.shape[1]})",
                        mistakes=lambda: _mistakes(P),
                        diagnosis="The number of queries is seq - 1: compute it from the tokens, don't hard-code it.")
