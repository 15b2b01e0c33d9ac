"""Hidden test for exercise 17: induction scores with some heads mean-ablated (their z replaced by its mean
over the batch and positions).

Runs on a random-init tiny IOI model (3 layers x 4 heads, compatibility mode) and exercise 15's repeated random
tokens; compares with the reference for two sets of heads, checks that no heads gives exercise 15's induction
scores, that heads in the ablated layer or earlier keep theirs, and that no hook is left on the model.
"""

import pytest
import torch

from arena_cli.testing import call_student, check, load_reference
from arena_course.ioi.testing import compat_model
from arena_course.testing import assert_close_lazily, check_tensor

N_LAYERS, N_HEADS = 3, 4
_CRASH = (
    "blocks.L.attn.hook_z is (batch, seq, head, d_head): head h everywhere is z[:, :, h], and its mean over the "
    "batch and positions is z[:, :, h].mean(dim=(0, 1)), shape (d_head,). Run the measurement inside "
    "`with model.hooks(fwd_hooks=[(name, hook_fn), ...]):`."
)
HEAD_SETS = [[(0, 1), (0, 3)], [(0, 2), (1, 0)]]


@pytest.fixture(scope="module")
def setting():
    model = compat_model(seed=9, n_layers=N_LAYERS, n_heads=N_HEADS)
    tokens = load_reference(__file__, "repeated_token_scores").repeated_random_tokens(model, 7, 3, seed=2)
    return model, tokens


def _run(student, model, tokens, heads):
    with torch.no_grad():
        out = call_student(student.induction_without_previous_token, model, tokens, heads, diagnosis=_CRASH)
    out = check_tensor(out, "induction_without_previous_token", "expected a (layer, head) tensor",
                       "Return the induction scores, the second output of repeated_token_scores.")
    check(tuple(out.shape) == (N_LAYERS, N_HEADS),
          f"induction_without_previous_token returned shape {tuple(out.shape)}, expected (n_layers, n_heads)",
          diagnosis="Return repeated_token_scores(model, tokens)[1] (the induction scores), measured with the "
          "heads ablated.")
    return out.detach().float()


def _ablated(reference, model, tokens, heads, how):
    """Induction scores with the heads' z replaced by a wrong value (a mistake), or the duplicate scores."""
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)

        def value(layer, head):
            z = cache["z", layer][:, :, head]
            return {"zero": torch.zeros_like(z), "per_position": z.mean(0, keepdim=True).expand_as(z),
                    "per_sequence": z.mean(1, keepdim=True).expand_as(z)}.get(how, z.mean((0, 1)).expand_as(z))

        def ablate(z, hook, layer):
            for head_layer, head in heads:
                if head_layer == layer:
                    z[:, :, head] = value(layer, head)
            return z

        hooks = [(f"blocks.{layer}.attn.hook_z", lambda z, hook, layer=layer: ablate(z, hook, layer))
                 for layer in sorted({layer for layer, _ in heads})]
        with model.hooks(fwd_hooks=hooks):
            duplicate, induction = reference.repeated_token_scores(model, tokens)
    return duplicate if how == "duplicate" else induction


def _mistakes(reference, model, tokens, heads):
    return {
        "You zero-ablated the heads: replace their z by its mean over the batch and positions, not by 0.":
            _ablated(reference, model, tokens, heads, "zero"),
        "Your mean is per position (over the batch only): average over the batch AND the positions, one "
        "(d_head,) vector per head.": _ablated(reference, model, tokens, heads, "per_position"),
        "Your mean is per sequence (over the positions only): average over the batch AND the positions.":
            _ablated(reference, model, tokens, heads, "per_sequence"),
        "These are the duplicate-token scores: return the induction scores, repeated_token_scores(...)[1].":
            _ablated(reference, model, tokens, heads, "duplicate"),
        "Nothing was ablated: these are the model's own induction scores. Run repeated_token_scores INSIDE the "
        "`with model.hooks(fwd_hooks=hooks):` block, with hooks on blocks.L.attn.hook_z.":
            reference.repeated_token_scores(model, tokens)[1],
    }


@pytest.mark.parametrize("heads", HEAD_SETS, ids=["layer_0", "layers_0_1"])
def test_matches_reference(student, reference, setting, heads):
    """Induction scores with the heads mean-ablated match the reference"""
    model, tokens = setting
    out = _run(student, model, tokens, heads)
    with torch.no_grad():
        expected = reference.induction_without_previous_token(model, tokens, heads)
    assert_close_lazily(out, expected, name=f"induction scores with {heads} mean-ablated",
                        mistakes=lambda: _mistakes(reference, model, tokens, heads))


def test_earlier_layers_and_no_hooks_left(student, reference, setting):
    """Heads in the ablated layer or earlier keep their scores; with no heads it is exercise 15's scores; and
    the model is left without hooks"""
    model, tokens = setting
    with torch.no_grad():
        own = reference.repeated_token_scores(model, tokens)[1]
        logits = model(tokens)
    out = _run(student, model, tokens, [(1, 2)])
    assert_close_lazily(out[:2], own[:2], name="induction scores of layers 0-1 with head 1.2 ablated (unchanged)",
                        mistakes=lambda: {}, diagnosis="Only heads after the ablated one can change: ablate only "
                        "the given heads, in their own layer's hook_z.")
    none = _run(student, model, tokens, [])
    assert_close_lazily(none, own, name="induction scores with no head ablated", mistakes=lambda: {},
                        diagnosis="With an empty list of heads nothing is ablated: exercise 15's induction scores.")
    with torch.no_grad():
        after = model(tokens)
    check(torch.allclose(after, logits, atol=1e-5), "after your function, the model's own output has changed: hooks "
          "were left on the model", diagnosis="Use `with model.hooks(fwd_hooks=...):` (it removes its hooks), not "
          "model.add_hook.")
