"""Hidden test for exercise 15: duplicate-token and induction scores of every head, from the attention
patterns on BOS + N random tokens + the same N tokens.

Runs on a random-init tiny IOI model (2 layers x 4 heads, compatibility mode). One test replaces the
attention patterns with hand-made ones through a hook (a perfect duplicate-token head, a perfect
induction head, a previous-token head, ...), so the expected scores are known exactly; another compares
with the reference on the model's own patterns.
"""

import pytest
import torch

from arena_cli.testing import call_student, check
from arena_course.ioi.testing import compat_model
from arena_course.testing import assert_close_lazily

N, BATCH = 7, 3
SEQ = 1 + 2 * N
N_LAYERS, N_HEADS = 2, 4

_CRASH = (
    "cache['pattern', layer] has shape (batch, head, query_pos, key_pos). With tokens = BOS + N tokens + the "
    "same N tokens, N = (tokens.shape[1] - 1) // 2 and the queries of the second copy are positions N+1..2N."
)


@pytest.fixture(scope="module")
def model():
    return compat_model(seed=3, n_layers=N_LAYERS, n_heads=N_HEADS)


@pytest.fixture(scope="module")
def tokens(reference, model):
    return reference.repeated_random_tokens(model, N, BATCH, seed=0)


def _run(student, model, tokens):
    with torch.no_grad():
        out = call_student(student.repeated_token_scores, model, tokens, diagnosis=_CRASH)
    check(
        isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out),
        f"repeated_token_scores returned {type(out).__name__}, expected a tuple of two tensors "
        "(duplicate_scores, induction_scores)",
        diagnosis="Did you forget a `return`?" if out is None else "Return `duplicate_scores, induction_scores`.",
    )
    return [t.detach().float() for t in out]


def _patterns(model, tokens):
    """(layer, batch, head, q, k): the model's own attention patterns."""
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(N_LAYERS)]
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda name: name in names)
    return torch.stack([cache[name] for name in names])


def _mistakes(P: torch.Tensor, which: str) -> dict[str, torch.Tensor]:
    """The values common mistakes give, from patterns P (layer, batch, head, q, k) on BOS + 2 copies of N tokens."""
    N, BATCH = (P.shape[-1] - 1) // 2, P.shape[1]
    j = torch.arange(1, N + 1)
    i = torch.arange(0, N)  # positions as if there were no BOS
    dup = P[:, :, :, N + j, j].mean((1, 3))
    ind = P[:, :, :, N + j[:-1], j[:-1] + 1].mean((1, 3))
    right, other = (dup, ind) if which == "duplicate" else (ind, dup)
    mistakes = {
        f"These are the {'induction' if which == 'duplicate' else 'duplicate-token'} scores: return "
        "(duplicate_scores, induction_scores), in that order.": other,
        "You read pattern[..., key, query]: the pattern is (batch, head, query_pos, key_pos), and a query only "
        "attends to earlier keys (the upper triangle is 0).": P.transpose(-1, -2)[:, :, :, N + j, j].mean((1, 3))
        if which == "duplicate" else P.transpose(-1, -2)[:, :, :, N + j[:-1], j[:-1] + 1].mean((1, 3)),
        "You summed over the batch: average over the batch and the queries.": right * BATCH,
        "You summed over the queries: average over the batch and the queries.": right * (N if which == "duplicate" else N - 1),
    }
    if which == "duplicate":
        mistakes.update({
            "You took the whole diagonal pattern.diagonal(-N): it starts with the query at position N (the last "
            "token of the FIRST copy) attending to BOS. Only queries N+1..2N (the second copy) count.":
                P.diagonal(offset=-N, dim1=-2, dim2=-1).mean((1, 3)),
            "Your positions are one too early: position 0 is BOS, so the first copy is at 1..N and the second "
            "at N+1..2N.": P[:, :, :, N + i, i].mean((1, 3)),
            "You measured attention to the token BEFORE the earlier copy (N + j -> j - 1): the duplicate-token "
            "target is the earlier copy itself, j.": P[:, :, :, N + j, j - 1].mean((1, 3)),
        })
    else:
        mistakes.update({
            "You included j = N (query 2N attending to position N + 1, which is in the second copy): the "
            "induction score averages over j = 1..N-1 only.": P[:, :, :, N + j, j + 1].mean((1, 3)),
            "You took the whole diagonal pattern.diagonal(-(N - 1)): it includes queries of the first copy "
            "(N - 1 and N) and the last query 2N. Only queries N+1..2N-1 count.":
                P.diagonal(offset=-(N - 1), dim1=-2, dim2=-1).mean((1, 3)),
            "Your positions are one too early: position 0 is BOS, so the first copy is at 1..N and the second "
            "at N+1..2N.": P[:, :, :, N + i[:-1], i[:-1] + 1].mean((1, 3)),
            "You measured attention to the token two after the earlier copy (N + j -> j + 2): induction "
            "attends to the token right after it, j + 1.": P[:, :, :, N + j[:-2], j[:-2] + 2].mean((1, 3)),
        })
    return mistakes


def test_shapes(student, model, tokens):
    """Returns two (n_layers, n_heads) tensors"""
    for name, t in zip(["duplicate_scores", "induction_scores"], _run(student, model, tokens)):
        check(
            tuple(t.shape) == (N_LAYERS, N_HEADS),
            f"{name} has shape {tuple(t.shape)}, expected (n_layers, n_heads) = ({N_LAYERS}, {N_HEADS})",
            diagnosis="Average over the batch and the query positions, keeping one number per head of every layer.",
        )


def _target(kind: str, q: int) -> int:
    """Where a hand-made head attends from query position q (everything it doesn't care about: BOS)."""
    if kind == "duplicate":
        return q - N if q > N else 0
    if kind == "induction":
        return q - N + 1 if N < q < 2 * N else 0
    if kind == "previous":
        return max(q - 1, 0)
    return 0  # "bos"


def _hand_pattern(kind: str) -> torch.Tensor:
    p = torch.zeros(SEQ, SEQ)
    for q in range(SEQ):
        p[q, _target(kind, q)] = 1.0
    return p


# Layer 0: a perfect duplicate-token head, a perfect induction head, a previous-token head, a BOS head.
# Layer 1: half duplicate / half BOS, half induction / half previous, a quarter each of all four, BOS.
HAND = [
    [_hand_pattern("duplicate"), _hand_pattern("induction"), _hand_pattern("previous"), _hand_pattern("bos")],
    [
        0.5 * _hand_pattern("duplicate") + 0.5 * _hand_pattern("bos"),
        0.5 * _hand_pattern("induction") + 0.5 * _hand_pattern("previous"),
        0.25 * sum(_hand_pattern(k) for k in ("duplicate", "induction", "previous", "bos")),
        _hand_pattern("bos"),
    ],
]
HAND_DUPLICATE = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.25, 0.0]])
HAND_INDUCTION = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.5, 0.25, 0.0]])


def test_hand_made_patterns(student, model, tokens):
    """Hand-made patterns: a perfect duplicate-token head scores (1, 0), a perfect induction head (0, 1)"""
    hooks = []
    for layer in range(N_LAYERS):
        fixed = torch.stack(HAND[layer])  # (head, q, k)

        def replace(pattern, hook, fixed=fixed):
            return fixed.expand_as(pattern).clone()

        hooks.append((f"blocks.{layer}.attn.hook_pattern", replace))
    with model.hooks(fwd_hooks=hooks):
        duplicate, induction = _run(student, model, tokens)
    P = torch.stack([torch.stack(HAND[layer]).expand(BATCH, -1, -1, -1) for layer in range(N_LAYERS)])
    assert_close_lazily(
        duplicate, HAND_DUPLICATE, name="duplicate_scores (rows: layers; layer 0 head 0 attends to each token's "
        "earlier copy, head 1 is an induction head)", mistakes=lambda: _mistakes(P, "duplicate"),
        diagnosis="Duplicate-token score: attention from position N + j to position j, averaged over j = 1..N.",
    )
    assert_close_lazily(
        induction, HAND_INDUCTION, name="induction_scores (rows: layers; layer 0 head 1 attends to the token after "
        "each token's earlier copy)", mistakes=lambda: _mistakes(P, "induction"),
        diagnosis="Induction score: attention from position N + j to position j + 1, averaged over j = 1..N-1.",
    )


def test_matches_reference(student, reference, model, tokens):
    """Both scores match the reference on a random model's own attention patterns"""
    expected = reference.repeated_token_scores(model, tokens)
    duplicate, induction = _run(student, model, tokens)
    assert_close_lazily(duplicate, expected[0], name="duplicate_scores",
             mistakes=lambda: _mistakes(_patterns(model, tokens), "duplicate"))
    assert_close_lazily(induction, expected[1], name="induction_scores",
             mistakes=lambda: _mistakes(_patterns(model, tokens), "induction"))


def test_other_length(student, reference, model):
    """With N = 10 the scores are still between 0 and 1 and match the reference"""
    tokens = reference.repeated_random_tokens(model, 10, 2, seed=1)
    expected = reference.repeated_token_scores(model, tokens)
    diagnosis = "N is (tokens.shape[1] - 1) // 2: compute it from the tokens, don't hard-code it."
    for which, t, e in zip(["duplicate", "induction"], _run(student, model, tokens), expected):
        check(
            bool(((t >= -1e-6) & (t <= 1 + 1e-6)).all()),
            f"{which} scores have values outside [0, 1]: min {float(t.min()):.3g}, max {float(t.max()):.3g}",
            diagnosis="Each score is an average of attention weights (each between 0 and 1): average, don't sum.",
        )
        assert_close_lazily(t, e, name=f"{which} scores with N = 10", diagnosis=diagnosis,
                 mistakes=lambda which=which: _mistakes(_patterns(model, tokens), which))
