"""Hidden test for exercise 19: mean ablation outside a circuit (per-template means over the ABC prompts,
circuit heads kept only at their class's positions).

Runs on a random-init tiny IOI model (2 layers x 4 heads, HookedTransformer processing on) and 12
prompts of 4 templates of two lengths (3 prompts each, padded on the right), so that a mean over all
prompts, zeros, the wrong positions or position -1 all give different logits from the right answer.
"""

import pytest
import torch

from arena_cli.testing import assert_close, call_student, check
from arena_course.ioi.dataset import BABA_TEMPLATES, IOIDataset, IOIPrompt, ioi_tokenizer
from arena_course.ioi.testing import compat_model

CIRCUIT = {
    "name mover": [(1, 0), (1, 3)],
    "S-inhibition": [(1, 1)],
    "duplicate token": [(0, 2)],
    "previous token": [(0, 0)],
}
POSITIONS = {"name mover": "end", "S-inhibition": "end", "duplicate token": "S2", "previous token": "S1+1"}

_CRASH = (
    "cache['z', L] (or cache['blocks.L.attn.hook_z']) is (batch, seq, head, d_head); means_data.groups is a list "
    "of index tensors, one per template; data.word_idx[positions[cls]] is (batch,), one position per prompt. "
    "A hook is fn(activation, hook) returning the new activation; "
    "model.run_with_hooks(data.toks, fwd_hooks=[(name, fn), ...]) returns the logits."
)


@pytest.fixture(scope="module")
def setting():
    model = compat_model(seed=2)
    data = IOIDataset.generate(ioi_tokenizer(), 12, templates=BABA_TEMPLATES[:2], seed=1)
    return model, data, data.abc(seed=5)


def _run(student, model, data, means_data, circuit=CIRCUIT, positions=POSITIONS, reset=True):
    try:
        with torch.no_grad():
            out = call_student(
                student.mean_ablate_outside_circuit, model, data, means_data, circuit, positions, diagnosis=_CRASH
            )
    finally:
        if reset:  # hooks left on the shared model would spoil the other checks (test_no_hooks_left_behind says so)
            model.reset_hooks(including_permanent=True)
    check(
        isinstance(out, torch.Tensor),
        f"mean_ablate_outside_circuit returned {type(out).__name__}, expected the logits tensor (batch, seq, d_vocab)",
        diagnosis="Did you forget to `return` the output of model.run_with_hooks(...)?"
        if out is None
        else "model.run_with_hooks(tokens, fwd_hooks=...) returns the logits: return them.",
    )
    return out.detach()


def _ablated(model, data, means_data, circuit=CIRCUIT, positions=POSITIONS, *, mean="template", keep="positions"):
    """Mean ablation done right (mean="template", keep="positions") or with one of the common mistakes."""
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{layer}.attn.hook_z" for layer in range(n_layers)]
    source = data if mean == "self" else means_data
    with torch.no_grad():
        _, cache = model.run_with_cache(source.toks, names_filter=lambda name: name in names)
    means = []
    for name in names:
        z = cache[name]
        if mean == "zero":
            means.append(torch.zeros_like(z))
        elif mean == "all":
            means.append(z.mean(0, keepdim=True).expand_as(z))
        else:
            m = torch.empty_like(z)
            for group in source.groups:
                m[group] = z[group].mean(0)
            means.append(m)
    batch, seq = data.toks.shape
    mask = torch.zeros(n_layers, batch, seq, n_heads, dtype=torch.bool)
    rows = torch.arange(batch)
    for cls, heads in circuit.items():
        where = data.word_idx[positions[cls]]
        if keep == "last" and positions[cls] == "end":
            where = torch.full_like(where, seq - 1)
        for layer, head in heads:
            if keep == "all":
                mask[layer, :, :, head] = True
            elif keep == "cross":
                mask[layer, :, where, head] = True
            else:
                mask[layer, rows, where, head] = True
    if keep == "inverted":
        mask = ~mask

    def hook(z, hook):
        return torch.where(mask[hook.layer()].unsqueeze(-1), z, means[hook.layer()])

    with torch.no_grad():
        return model.run_with_hooks(data.toks, fwd_hooks=[(name, hook) for name in names])


def test_returns_logits(student, setting):
    """Returns the logits of data.toks, shape (batch, seq, d_vocab)"""
    model, data, abc = setting
    out = _run(student, model, data, abc)
    expected = (*data.toks.shape, model.cfg.d_vocab)
    check(
        tuple(out.shape) == expected,
        f"expected logits of shape {expected} (batch, seq, d_vocab), got {tuple(out.shape)}",
        diagnosis="Run data.toks (the IOI prompts) with the hooks, not means_data.toks; return the full logits."
        if out.dim() == 3
        else "Return the logits themselves, not a logit difference.",
    )


def test_matches_reference(student, reference, setting):
    """Logits with everything outside the circuit mean-ablated match the reference"""
    model, data, abc = setting
    with torch.no_grad():
        expected = reference.mean_ablate_outside_circuit(model, data, abc, CIRCUIT, POSITIONS)
    out = _run(student, model, data, abc)
    mistakes = {
        "You took each head's mean over all the ABC prompts at once: take it per template (for group in "
        "means_data.groups: the mean of z[group]), so each prompt gets the mean of prompts with the same words at "
        "the same positions.": _ablated(model, data, abc, mean="all"),
        "You replaced the outputs with zeros: mean ablation replaces them with their mean over the ABC prompts of "
        "the same template.": _ablated(model, data, abc, mean="zero"),
        "You took the means over `data` (the IOI prompts): take them over `means_data` (the ABC prompts), which "
        "carry no information about which name is the indirect object.": _ablated(model, data, abc, mean="self"),
        "You kept the circuit heads at every position: keep each one only at its class's position "
        "(data.word_idx[positions[cls]]) and mean-ablate it everywhere else too.": _ablated(model, data, abc, keep="all"),
        "You kept the end-position heads at position -1: prompts are padded on the right, so each prompt's end is "
        "data.word_idx['end'], one position per prompt.": _ablated(model, data, abc, keep="last"),
        "You indexed the mask with [:, positions] (every prompt at every prompt's position): pair each prompt with "
        "its own position, mask[torch.arange(batch), positions].": _ablated(model, data, abc, keep="cross"),
        "Your mask is the wrong way round: the circuit heads at their positions keep their own output; everything "
        "else gets the mean.": _ablated(model, data, abc, keep="inverted"),
    }
    assert_close(out, expected, name="logits", atol=1e-4, rtol=1e-4, mistakes=mistakes,
                 diagnosis="Check each step on its own: the per-template means, the keep mask, and the hook on "
                           "blocks.{L}.attn.hook_z for every layer.")


def test_templates_are_separate(student, setting):
    """A prompt's output depends only on the ABC prompts of its own template"""
    model, data, abc = setting
    group = data.groups[0]
    other = data.abc(seed=9)  # different names everywhere
    mixed = IOIDataset(
        [other.prompts[i] if i in group.tolist() else abc.prompts[i] for i in range(len(data))], data.tokenizer
    )
    before = _run(student, model, data, abc)
    after = _run(student, model, data, mixed)
    rest = torch.tensor([i for i in range(len(data)) if i not in group.tolist()])
    assert_close(
        after[rest], before[rest], name=f"logits of the prompts outside template group 0, after changing only "
        f"the ABC prompts {group.tolist()} of group 0", atol=1e-4, rtol=1e-4,
        diagnosis="Take the means per template: prompt i is replaced by the mean over the ABC prompts of its own "
                  "template (its group in means_data.groups), and no other prompt's.",
    )
    check(
        not torch.allclose(after[group], before[group], atol=1e-4),
        "changing the ABC prompts of template group 0 did not change that group's logits",
        diagnosis="Replace the z's with their means over means_data (the ABC prompts): run the model on "
                  "means_data.toks and average its z's (not data's, and not zeros).",
    )


def test_single_prompt_templates_with_their_own_means_change_nothing(student, setting):
    """When every template has one prompt and the means come from the prompts themselves, nothing changes"""
    model, _, _ = setting
    tok = ioi_tokenizer()
    names = [("Mary", "John"), ("Alice", "Bob"), ("Kate", "Tom"), ("Anna", "Paul")]
    prompts = [IOIPrompt(BABA_TEMPLATES[i], io, s, "store", "drink") for i, (io, s) in enumerate(names)]
    data = IOIDataset(prompts, tok)
    with torch.no_grad():
        clean = model(data.toks)
    out = _run(student, model, data, data, {}, POSITIONS)
    assert_close(
        out, clean, name="logits with an empty circuit, one prompt per template and means_data = data", atol=1e-4,
        rtol=1e-4,
        diagnosis="The mean of a group of one prompt is that prompt's own z, so every head keeps its output: the "
                  "logits must be the clean ones. If not, check that you take the mean over each group (not over "
                  "all prompts), that you replace with it (not with zeros), and that prompt i gets its own group's mean.",
    )


def test_no_hooks_left_behind(student, setting):
    """The model has no hooks left on it afterwards"""
    _, data, abc = setting
    model = compat_model(seed=2)  # a model of its own: the others are reset after each call
    with torch.no_grad():
        clean = model(data.toks)
        _run(student, model, data, abc, reset=False)
        again = model(data.toks)
    assert_close(
        again, clean, name="the model's logits after your function ran", atol=1e-5,
        diagnosis="Hooks added with model.add_hook stay on the model: use model.run_with_hooks(...) (or the "
                  "model.hooks(...) context manager), which removes them when the run ends.",
    )
