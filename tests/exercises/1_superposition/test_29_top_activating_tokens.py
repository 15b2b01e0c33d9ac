"""Hidden test for top_activating_tokens: a latent's k top-activating (batch, position) pairs, BOS excluded.

Runs on an untrained tiny TransformerLens model (2 layers, d_model 32, built in code), random token
rows (BOS first) and a random SAE.
"""

import pytest
import torch

from arena_cli.testing import assert_close, call_student, check
from arena_course.superposition.lm_sae import BOS_ID, TOY_WORDS, random_sae, tiny_lm

HOOK = "blocks.1.hook_resid_pre"
D_MODEL, BATCH, SEQ, K = 32, 6, 10, 5

_CRASH = (
    "Encode the BOS-less activations (batch, seq - 1, d_model) -> (batch, seq - 1, d_sae), take the "
    "latent's slice (batch, seq - 1), flatten it, `topk(k)`, and turn the flat indices back into "
    "(batch, position) with `torch.unravel_index(indices, shape)`."
)


@pytest.fixture(scope="module")
def setting():
    model = tiny_lm(seed=0, d_model=D_MODEL)
    gen = torch.Generator().manual_seed(3)
    tokens = torch.randint(2, len(TOY_WORDS), (BATCH, SEQ), generator=gen)
    tokens[:, 0] = BOS_ID
    sae = random_sae(D_MODEL, 48, seed=0, hook_name=HOOK)
    _, cache = model.run_with_cache(tokens)
    cache = {k: v.detach() for k, v in cache.items() if "resid" in k}
    with torch.no_grad():
        acts = sae.encode(cache[HOOK][:, 1:])  # (batch, seq - 1, d_sae)
    # A latent that fires on many tokens, with distinct top values (so the top k is unambiguous).
    fires = (acts > 0).sum((0, 1))
    latent = int(fires.argmax())
    assert fires[latent] > 2 * K
    return model, tokens, sae, cache, latent


def _run(student, model, sae, tokens, latent, k=K, hook=HOOK):
    with torch.no_grad():
        out = call_student(student.top_activating_tokens, model, sae, tokens, hook, latent, k, diagnosis=_CRASH)
    check(
        isinstance(out, (tuple, list)) and len(out) == 2,
        f"top_activating_tokens returned {type(out).__name__}, expected a pair (positions, values)",
        diagnosis="Did you forget a `return`?" if out is None else "Return `positions, values`.",
    )
    positions, values = out
    check(
        isinstance(positions, torch.Tensor) and isinstance(values, torch.Tensor),
        f"positions is {type(positions).__name__} and values is {type(values).__name__}, expected two tensors",
    )
    shape = tuple(positions.shape)
    check(
        shape == (k, 2),
        f"positions has shape {shape}, expected ({k}, 2) for k = {k}",
        diagnosis="One row per token: (batch index, position). "
        + ("Stack the two index tensors along dim=1, not dim=0." if shape == (2, k) else
           "Convert the flat indices to (batch, position) pairs."),
    )
    return positions.detach(), values.detach()


def _top(activation, k, *, largest=True):
    """Reference-free: the top k of a (batch, pos) tensor as ((k, 2) indices, (k,) values)."""
    values, flat = activation.flatten().topk(k, largest=largest)
    return torch.stack(torch.unravel_index(flat, activation.shape), dim=1), values


def test_shapes(student, setting):
    """Returns positions of shape (k, 2) (integers) and values of shape (k,)"""
    model, tokens, sae, _, latent = setting
    positions, values = _run(student, model, sae, tokens, latent)  # checks positions' shape
    check(
        not positions.is_floating_point(),
        f"positions has dtype {positions.dtype}, expected integers (torch.long)",
        diagnosis="Indices should be integers: `//` and `%` on long tensors, or `torch.unravel_index`, keep them so.",
    )
    check(tuple(values.shape) == (K,), f"values has shape {tuple(values.shape)}, expected ({K},)")


def test_values_match_reference(student, reference, setting):
    """The top k activation values match the reference, largest first"""
    model, tokens, sae, cache, latent = setting
    with torch.no_grad():
        _, expected = reference.top_activating_tokens(model, sae, tokens, HOOK, latent, K)
        x = cache[HOOK]
        act = sae.encode(x[:, 1:])[..., latent]
        mistakes = {
            "You included the BOS token (position 0): take the top k over positions 1 onwards.": _top(
                sae.encode(x)[..., latent], K
            )[1],
            "Your values are in ascending order: return them largest first (`topk` does that).": _top(act, K)[1].flip(0),
            "You returned the k *smallest* activations: use `topk(k)` (largest=True).": _top(act, K, largest=False)[1],
            "You encoded without subtracting b_dec: use `sae.encode`, ReLU((x - b_dec) @ W_enc + b_enc).": _top(
                torch.relu(x[:, 1:] @ sae.W_enc[:, latent] + sae.b_enc[latent]), K
            )[1],
        }
    _, values = _run(student, model, sae, tokens, latent)
    assert_close(values, expected, name="values", mistakes=mistakes, check_dtype=False)


def test_positions_match_reference(student, reference, setting):
    """The (batch, position) pairs match the reference, as positions in `tokens`"""
    model, tokens, sae, cache, latent = setting
    with torch.no_grad():
        expected, _ = reference.top_activating_tokens(model, sae, tokens, HOOK, latent, K)
        x = cache[HOOK]
        act = sae.encode(x[:, 1:])[..., latent]
    idx, _ = _top(act, K)
    flat = act.flatten().topk(K).indices
    shifted = idx + torch.tensor([0, 1])
    mistakes = {
        "Your positions are one too small: they index the BOS-less tensor. Add 1 to get positions in `tokens`.": idx,
        "Your columns are swapped: each row is (batch index, position).": shifted.flip(1),
        "Your positions are one too small and the columns are swapped: rows are (batch index, position + 1).": idx.flip(1),
        "You turned flat indices into (batch, position) with the wrong divisor: flat // (seq - 1) is the batch "
        "index, flat % (seq - 1) the position (or use torch.unravel_index).": torch.stack(
            [flat // BATCH, flat % BATCH + 1], dim=1
        ),
        "You included the BOS token (position 0): take the top k over positions 1 onwards.": _top(
            sae.encode(x)[..., latent], K
        )[0],
        "Your rows are in ascending order of activation: largest first.": shifted.flip(0),
    }
    positions, _ = _run(student, model, sae, tokens, latent)
    assert_close(positions, expected, name="positions", mistakes=mistakes, check_dtype=False, atol=0, rtol=0)


def test_values_at_positions(student, setting):
    """Each value is the latent's activation at its position, largest first, and nothing larger is left out"""
    model, tokens, sae, cache, latent = setting
    positions, values = _run(student, model, sae, tokens, latent)
    with torch.no_grad():
        act = sae.encode(cache[HOOK])[..., latent]  # (batch, seq), BOS included: position p is tokens[:, p]
    b, p = positions.long().T
    check(
        bool(((b >= 0) & (b < BATCH) & (p >= 0) & (p < SEQ)).all()),
        f"positions out of range: batch index must be in [0, {BATCH}), position in [1, {SEQ}); got {positions.tolist()}",
        diagnosis="Turn flat indices into (batch, position) with the BOS-less shape (batch, seq - 1), then add 1 "
        "to the position.",
    )
    assert_close(
        values,
        act[b, p],
        name="values vs the latent's activation at your positions",
        check_dtype=False,
        diagnosis="Each positions[i] must be where values[i] was found: position p in the BOS-less tensor is "
        "position p + 1 in `tokens`.",
    )
    check(
        bool((values[:-1] >= values[1:]).all()),
        f"values are not in descending order: {[round(v, 4) for v in values.tolist()]}",
        diagnosis="Return the strongest first: `topk` sorts its output, largest first.",
    )
    rest = act[:, 1:].flatten().sort(descending=True).values[K]
    check(
        float(values.min()) >= float(rest) - 1e-6,
        f"a token with activation {float(rest):.4f} was left out, but you returned one with {float(values.min()):.4f}",
        diagnosis="Take the top k over all (batch, position) pairs at once: flatten first, then `topk`.",
    )


def test_never_bos(student, setting):
    """Never returns BOS (position 0), even for a latent that fires hardest there"""
    model, tokens, _, cache, _ = setting
    sae = random_sae(D_MODEL, 8, seed=4, hook_name=HOOK)
    with torch.no_grad():
        direction = cache[HOOK][0, 0] - sae.b_dec  # the BOS activation (the same in every row)
        sae.W_enc[:, 0] = direction / direction.norm() ** 2  # latent 0: 1.0 at BOS, less elsewhere
        sae.b_enc[0] = 0.0
    positions, _ = _run(student, model, sae, tokens, 0)
    check(
        bool((positions[:, 1] != 0).all()),
        f"you returned position 0 (BOS): {positions.tolist()}",
        diagnosis="Leave BOS out (`cache[hook_name][:, 1:]`), and add 1 to positions found in that BOS-less "
        "tensor so they index `tokens`.",
    )


def test_rare_latent(student, reference, setting):
    """For a latent that fires on fewer than k tokens, the remaining values are 0 (after the ReLU)"""
    model, tokens, sae, cache, _ = setting
    with torch.no_grad():
        pre = (cache[HOOK][:, 1:] - sae.b_dec) @ sae.W_enc + sae.b_enc  # (batch, seq - 1, d_sae)
        n_fires = (pre > 0).sum((0, 1))
        latent = int(torch.nonzero((n_fires >= 1) & (n_fires <= 3))[0])
        k = int(n_fires[latent]) + 3
        _, expected = reference.top_activating_tokens(model, sae, tokens, HOOK, latent, k)
    _, values = _run(student, model, sae, tokens, latent, k=k)
    assert_close(
        values,
        expected,
        name=f"values for latent {latent}, which fires on {k - 3} tokens, with k = {k}",
        check_dtype=False,
        mistakes={
            "You used the latents before the ReLU: the activation of a latent that doesn't fire is 0, "
            "not negative. Use `sae.encode`.": pre[..., latent].flatten().topk(k).values,
        },
    )


def test_uses_hook_name(student, reference, setting):
    """Reads the activations at `hook_name` (tested at another hook point)"""
    model, tokens, _, cache, _ = setting
    hook = "blocks.1.hook_resid_post"
    sae = random_sae(D_MODEL, 48, seed=0, hook_name=hook)
    with torch.no_grad():
        latent = int((sae.encode(cache[hook][:, 1:]) > 0).sum((0, 1)).argmax())
        expected = reference.top_activating_tokens(model, sae, tokens, hook, latent, K)
        wrong = _top(sae.encode(cache[HOOK][:, 1:])[..., latent], K)[1]
    _, values = _run(student, model, sae, tokens, latent, hook=hook)
    assert_close(
        values,
        expected[1],
        name="values at blocks.1.hook_resid_post",
        check_dtype=False,
        mistakes={f"These are the activations at {HOOK!r}: use the `hook_name` argument, not a fixed name.": wrong},
    )
