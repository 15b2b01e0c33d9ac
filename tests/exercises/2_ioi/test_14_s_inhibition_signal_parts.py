"""Hidden test for exercise 14: the mean logit difference with some heads' z at the end patched from four
sources (the prompts themselves, the first two names swapped, other names, both).

Runs on a tiny random IOI model (3 layers x 4 heads, compatibility mode) and 6 prompts of mixed templates
(padded on the right); compares with the reference for two sets of heads, and checks that the "original"
entry is the unpatched model's logit difference.
"""

from functools import partial

import pytest
import torch

from arena_cli.testing import call_student, check
from arena_course.ioi.dataset import IOIDataset
from arena_course.ioi.testing import compat_model
from arena_course.testing import assert_close_lazily, check_tensor

_CRASH = (
    "cache['z', layer] is (batch, seq, head, d_head): head h at each prompt's end is "
    "z[torch.arange(batch), data.word_idx['end'], h]. A hook is called as hook_fn(z, hook) and returns z; give "
    "it its layer with functools.partial or a default argument."
)
HEAD_SETS = [[(1, 0), (1, 3), (2, 1)], [(0, 2)]]


@pytest.fixture(scope="module")
def setting():
    model = compat_model(seed=21, n_layers=3, n_heads=4)
    data = IOIDataset.generate(model.tokenizer, 6, seed=8)
    assert len(set(data.word_idx["end"].tolist())) > 1  # prompts of different lengths
    return model, data


def _run(student, model, data, heads):
    with torch.no_grad():
        out = call_student(student.s_inhibition_signal_parts, model, data, heads, 0, diagnosis=_CRASH)
    out = check_tensor(out, "s_inhibition_signal_parts", "expected a (4,) tensor",
                       "Stack the four mean logit differences: torch.stack(results).")
    check(tuple(out.shape) == (4,), f"s_inhibition_signal_parts returned shape {tuple(out.shape)}, expected (4,)",
          diagnosis="One mean logit difference (a 0-dimensional tensor) per source, stacked: (4,).")
    return out.detach().float()


def _variant(reference, model, data, heads, *, everywhere=False, source_answers=False, run_source=False):
    """What a mistake gives: patching every position, measuring with the source's answers, or running the
    source's tokens with data's z patched in (the wrong direction)."""
    results = []
    with torch.no_grad():
        _, data_cache = model.run_with_cache(data.toks)
        for source in reference.signal_sources(data, 0).values():
            _, source_cache = model.run_with_cache(source.toks)
            run, cache = (source, data_cache) if run_source else (data, source_cache)
            batch, end = torch.arange(len(data)), data.word_idx["end"]

            def hook(z, hook, layer):
                for head_layer, head in heads:
                    if head_layer == layer:
                        if everywhere:
                            z[:, :, head] = cache["z", layer][:, :, head]
                        else:
                            z[batch, end, head] = cache["z", layer][batch, end, head]
                return z

            hooks = [(f"blocks.{layer}.attn.hook_z", partial(hook, layer=layer))
                     for layer in sorted({layer for layer, _ in heads})]
            logits = model.run_with_hooks(run.toks, fwd_hooks=hooks)
            results.append(reference.mean_logit_diff(logits, source if source_answers else data))
    return torch.stack(results)


def _mistakes(reference, model, data, heads):
    return {
        "You patched the heads' z at every position: the S-inhibition heads act at the end, so copy the source's "
        "z at data.word_idx['end'] only.": _variant(reference, model, data, heads, everywhere=True),
        "You measured the logit difference with the source's answers: always use the prompts' own, "
        "mean_logit_diff(logits, data).": _variant(reference, model, data, heads, source_answers=True),
        "You ran the source's tokens with the prompts' z patched in: the wrong direction. Run data.toks and copy "
        "the SOURCE's z into it.": _variant(reference, model, data, heads, run_source=True),
    }


@pytest.mark.parametrize("heads", HEAD_SETS, ids=["three_heads", "one_head"])
def test_matches_reference(student, reference, setting, heads):
    """The four logit differences match the reference"""
    model, data = setting
    out = _run(student, model, data, heads)
    with torch.no_grad():
        expected = reference.s_inhibition_signal_parts(model, data, heads, 0)
    assert_close_lazily(out, expected, name="logit differences (original, position, token, both)", atol=1e-4,
                        rtol=1e-3, mistakes=lambda: _mistakes(reference, model, data, heads))


def test_original_is_unpatched(student, reference, setting):
    """The 'original' entry is the model's own logit difference (the heads get their own values back)"""
    model, data = setting
    out = _run(student, model, data, HEAD_SETS[0])
    with torch.no_grad():
        own = float(reference.mean_logit_diff(model(data.toks), data))
    check(abs(float(out[0]) - own) < 1e-4, f"the first entry is {float(out[0]):.4f}, the unpatched logit "
          f"difference is {own:.4f}",
          diagnosis="SOURCES[0] is the prompts themselves: patching a head with its own z changes nothing. Patch "
          "only the given heads, and run data.toks.")
