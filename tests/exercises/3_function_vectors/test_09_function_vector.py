"""Hidden test for exercise 09: the function vector, the sum over the top-k heads of their mean output at
the last position of the clean prompts, each put through its layer's out_proj on its own.

Runs on a tiny random GPT-J (3 blocks of 4 heads, d_model 32, built in code, weights redrawn at std 1) with
hand-made effect grids: distinct values, the largest in a later layer than the second largest (so the heads
must be read in layer order), and large negative values (so ranking by absolute value shows).
"""

from types import SimpleNamespace

import pytest
import torch

from arena_cli.testing import assert_close, check
from arena_course.function_vectors.models import tiny_gptj
from arena_course.function_vectors.tasks import ICLDataset, load_word_pairs
from arena_course.function_vectors.testing import NOT_SAVED, basics_model, check_remote_everywhere, icl_prompts
from arena_course.function_vectors.testing import remote_recorded, shared, sharp, traced_tensor

N_LAYERS, N_HEADS, D_HEAD = 3, 4, 8
D_MODEL = N_HEADS * D_HEAD

# Largest: (2, 1), then (0, 3), (2, 2), (1, 0); most negative: (1, 2), (0, 0).
EFFECTS = torch.tensor([
    [-0.30, 0.01, 0.02, 0.25],
    [0.12, -0.04, -0.40, 0.03],
    [0.05, 0.31, 0.20, -0.02],
])

_CRASH = (
    "Inside the trace, `model.transformer.h[layer].attn.out_proj.input[:, -1].mean(dim=0)` is every head's mean "
    "output side by side, (d_model,); `model.transformer.h[layer].attn.out_proj(x)` runs out_proj on a (d_model,) "
    "vector x of your making and returns (d_model,)."
)


model = shared(basics_model, "model")


@pytest.fixture(scope="module")
def dataset():
    return ICLDataset(load_word_pairs("antonyms"), 5, 3, seed=2)


@pytest.fixture(scope="module")
def mean_inputs(model, dataset):
    return _mean_inputs(model, dataset.prompts)


def _weights(model, layer):
    return model._module.transformer.h[layer].attn.out_proj.weight.detach()  # (d_model, d_model): out = W @ in


def _mean_inputs(model, prompts):
    """out_proj's input at every position, mean over the prompts, per layer: (layers, seq, d_model)."""
    out = []
    with torch.no_grad(), model.trace(prompts):
        for layer in range(model.config.n_layer):
            out.append(model.transformer.h[layer].attn.out_proj.input.mean(0).clone().save())
    return torch.stack(out)


def _fv(model, mean_inputs, heads, *, position=-1, whole=False, layout="heads", reduce="sum"):
    """What a function vector built from `heads` [(layer, head), ...] is, the right way or with a mistake."""
    n_heads = model.config.n_head
    d_head = model.config.n_embd // n_heads
    parts = []
    for layer, head in heads:
        z = mean_inputs[layer, position]
        cols = slice(head * d_head, (head + 1) * d_head) if layout == "heads" else slice(head, None, n_heads)
        x = z.clone() if whole else torch.zeros_like(z)
        if not whole:
            x[cols] = z[cols]
        parts.append(_weights(model, layer) @ x)
    stacked = torch.stack(parts)
    return stacked.sum(0) if reduce == "sum" else stacked.mean(0)


def _top(effects, k, *, largest=True, absolute=False, swapped=False):
    n_layers, n_heads = effects.shape
    values = effects.abs() if absolute else effects
    indices = values.flatten().topk(k, largest=largest).indices.tolist()
    if swapped:  # the flat index divided by the number of layers instead of heads
        return [(i % n_layers, i // n_layers) for i in indices if i // n_layers < n_heads]
    return [(i // n_heads, i % n_heads) for i in indices]


def _mistakes(model, mean_inputs, effects, k):
    right = _top(effects, k)
    found = {
        "You put each chosen layer's WHOLE mean output through out_proj (every head): keep only the chosen "
        "head's slice, h * d_head:(h + 1) * d_head, and zero the rest.":
            _fv(model, mean_inputs, right, whole=True),
        "You took the heads with the SMALLEST effects: `effects.flatten().topk(k)` gives the largest.":
            _fv(model, mean_inputs, _top(effects, k, largest=False)),
        "You ranked the heads by absolute effect: Todd et al. take the largest (positive) effects, "
        "`effects.flatten().topk(k)`.": _fv(model, mean_inputs, _top(effects, k, absolute=True)),
        "You used the heads' outputs at position 0: the function vector is built from the LAST position (-1).":
            _fv(model, mean_inputs, right, position=0),
        "You averaged the heads' contributions: the function vector is their SUM.":
            _fv(model, mean_inputs, right, reduce="mean"),
        "The heads are split the wrong way: head h is the contiguous slice h * d_head:(h + 1) * d_head of "
        "out_proj's input.": _fv(model, mean_inputs, right, layout="strided"),
    }
    swapped = _top(effects, k, swapped=True)
    if len(swapped) == k and sorted(swapped) != sorted(right):
        found["You split the flat index by the number of LAYERS: in the flattened (n_layers * n_heads) grid, index i "
              "is layer i // n_heads, head i % n_heads (or use `torch.unravel_index(i, effects.shape)`)."] = _fv(
            model, mean_inputs, swapped)
    return found


# nnsight's errors, and what they mean here (the first that matches is shown).
_ERRORS = (
    ("OutOfOrderError", "`topk` lists the heads largest effect first, not in layer order: here the best head is in "
     "layer 2 and the next in layer 0, and once the trace has read layer 2 the model has run past layer 0. Sort the "
     "chosen heads by layer (sorting the flat indices does it) and read each layer's out_proj input once."),
    ("raised UnboundLocalError", NOT_SAVED),
    ("raised NameError", NOT_SAVED),
)


def _run(student, model, dataset, effects, k, **kwargs):
    return traced_tensor(student.function_vector, model, dataset, effects, k, crash=_CRASH, errors=_ERRORS,
                         expected="a tensor of shape (d_model,)", hint="Return the summed vector, a tensor (d_model,).",
                         **kwargs)


def test_shape(student, model, dataset):
    """Returns one vector of shape (d_model,)"""
    out = _run(student, model, dataset, EFFECTS, 3)
    check(
        tuple(out.shape) == (D_MODEL,),
        f"function_vector has shape {tuple(out.shape)}, expected ({D_MODEL},) (d_model,)",
        diagnosis="Each head's contribution is out_proj applied to a (d_model,) vector, so it is (d_model,); sum "
        "the k contributions (over dim 0 of their stack)."
        + (" A (d_head,) result means the heads' slices were summed without going through out_proj."
           if tuple(out.shape) == (D_HEAD,) else ""),
    )


def test_one_head_by_hand(student, model, dataset, mean_inputs):
    """With k = 1 the function vector is W_O[:, head's columns] @ the head's mean output at the last position"""
    layer, head = 2, 1  # the largest effect
    cols = slice(head * D_HEAD, (head + 1) * D_HEAD)
    expected = _weights(model, layer)[:, cols] @ mean_inputs[layer, -1, cols]
    out = _run(student, model, dataset, EFFECTS, 1)
    assert_close(out, expected, name="function_vector with k = 1 (layer 2, head 1)", atol=1e-4,
                 mistakes=_mistakes(model, mean_inputs, EFFECTS, 1),
                 diagnosis="For one head: its slice of out_proj's input at position -1, averaged over the "
                 "prompts, placed in a zero (d_model,) vector, through that layer's out_proj.")


def test_matches_reference(student, reference, model, dataset, mean_inputs):
    """With k = 4 (heads in layers 0 and 2, two in the same layer) it matches the reference"""
    with torch.no_grad():
        expected = reference.function_vector(model, dataset, EFFECTS, 4).detach()
    out = _run(student, model, dataset, EFFECTS, 4)
    assert_close(out, expected, name="function_vector with k = 4", atol=1e-4,
                 mistakes=_mistakes(model, mean_inputs, EFFECTS, 4))


def test_heads_layers_not_swapped(student, reference, dataset):
    """On a grid with more heads than layers, the flat index splits as (index // n_heads, index % n_heads)"""
    model = sharp(tiny_gptj, 1, n_layers=2, d_model=48, n_heads=6)
    effects = torch.zeros(2, 6)
    effects[1, 3], effects[0, 5], effects[1, 0] = 0.5, 0.4, 0.3
    with torch.no_grad():
        expected = reference.function_vector(model, dataset, effects, 3).detach()
    out = _run(student, model, dataset, effects, 3)
    assert_close(out, expected, name="function_vector on a (2 layers, 6 heads) grid", atol=1e-4,
                 mistakes=_mistakes(model, _mean_inputs(model, dataset.prompts), effects, 3),
                 diagnosis="In the flattened (n_layers * n_heads) grid, index i is layer i // n_heads, head "
                 "i % n_heads (divide by the number of HEADS), or use `torch.unravel_index(i, effects.shape)`.")


def test_left_padded_prompts(student, reference, model):
    """Works on prompts of different lengths (left-padded: the last position is -1 for every prompt)"""
    prompts = icl_prompts("country_capital", *[(2, n, n) for n in (0, 3, 1)])
    dataset = SimpleNamespace(prompts=prompts)
    with torch.no_grad():
        expected = reference.function_vector(model, dataset, EFFECTS, 2).detach()
    out = _run(student, model, dataset, EFFECTS, 2)
    assert_close(out, expected, name="function_vector on a left-padded batch", atol=1e-4,
                 mistakes=_mistakes(model, _mean_inputs(model, prompts), EFFECTS, 2),
                 diagnosis="Take every prompt's last token at position -1 (the batch is padded on the left).")


def test_passes_remote_on(student, model, dataset):
    """Passes `remote` on to model.trace"""
    with remote_recorded(model) as calls:
        _run(student, model, dataset, EFFECTS, 2, remote=True)
    check_remote_everywhere(
        calls,
        "Write `with model.trace(dataset.prompts, remote=remote):` and call out_proj inside it (on NDIF "
        "the weights are on the server: out_proj can only run inside a trace).",
    )
