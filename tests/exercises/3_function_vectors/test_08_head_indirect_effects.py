"""Hidden test for exercise 08: each head's mean output at the last position over clean ICL prompts, and
its causal indirect effect (patched into corrupted prompts, the rise in the right answer's probability).

Runs on a tiny random GPT-J (2 blocks of 4 heads, d_model 32, built in code) with its weights redrawn at
std 0.3 and the lm_head bias of the dataset's answers raised, so that the answers have probabilities of
0.03-0.4 and patching a head moves them by up to ~0.02 (with GPT-J's default init every probability is
~1/423 and every effect ~1e-5, too small to tell a wrong answer from a right one).
"""

import pytest
import torch

from arena_cli.testing import assert_close, check
from arena_course.function_vectors.models import fv_tokenizer, tiny_gptj
from arena_course.function_vectors.tasks import ICLDataset, answer_token_ids, load_word_pairs
from arena_course.function_vectors.testing import check_remote_everywhere, icl_prompts, once_per_input, remote_recorded
from arena_course.function_vectors.testing import sharp, traced_tensor

N_LAYERS, N_HEADS, D_HEAD = 2, 4, 8

_CRASH = (
    "`model.transformer.h[layer].attn.out_proj.input` is (batch, seq, d_model): the n_heads head outputs side by "
    "side, head h in columns h * d_head:(h + 1) * d_head. `model.config.n_layer`, `.n_head`, `.n_embd` give the "
    "sizes."
)


def _dataset(size=6, n_prepended=3, seed=1):
    return ICLDataset(load_word_pairs("antonyms"), size, n_prepended, seed=seed)


def _model(dataset):
    model = sharp(tiny_gptj, n_layers=N_LAYERS, std=0.3)
    with torch.no_grad():  # make the dataset's answers likely enough that heads move their probabilities
        model._module.lm_head.bias[answer_token_ids(model.tokenizer, dataset.completions)] += 10.0
    return model


@pytest.fixture(scope="module")
def dataset():
    return _dataset()


@pytest.fixture(scope="module")
def model(dataset):
    return _model(dataset)


@pytest.fixture(scope="module")
def mixed_prompts():
    """Prompts with 0 to 3 examples: a left-padded batch."""
    return icl_prompts("antonyms", *[(2, n, n) for n in (3, 0, 2, 1)])


# --------------------------------------------------------------------------- what mistakes would give


def _activations(model, prompts, site):
    """Per layer, the (batch, seq, n_heads, d_head) tensor at `site` ("input" of out_proj, its "output", or
    the "block" output), split the right way ("heads") or the wrong way ("transposed": d_head first)."""
    out = []
    with torch.no_grad(), model.trace(prompts):
        for layer in range(N_LAYERS):
            proj = model.transformer.h[layer].attn.out_proj
            value = {"input": proj.input, "output": proj.output}[site]
            out.append(value.clone().save())
    return [o.view(*o.shape[:2], N_HEADS, D_HEAD) for o in out]


def _mean_variants(model, prompts):
    z_in = torch.stack([z for z in _activations(model, prompts, "input")])  # (layers, batch, seq, heads, d_head)
    z_out = torch.stack([z for z in _activations(model, prompts, "output")])
    flat = z_in.flatten(-2)  # (layers, batch, seq, d_model)
    return {
        "That is position 0 (the first token): take each head's output at the last position, -1 (the "
        "batch is left-padded, so every prompt ends there).": z_in[:, :, 0].mean(1),
        "That is the second-to-last position: the last is -1.": z_in[:, :, -2].mean(1),
        "That is the sum over the prompts: take the mean (`.mean(dim=0)` over the batch).": z_in[:, :, -1].sum(1),
        "That is out_proj's OUTPUT split into slices: the heads are only separate in its INPUT "
        "(`attn.out_proj.input`); its output is already the sum over heads, projected.": z_out[:, :, -1].mean(1),
        "The heads are split the wrong way: head h is the contiguous slice h * d_head:(h + 1) * d_head, so "
        "view the last dimension as (n_heads, d_head), not (d_head, n_heads).":
            flat[:, :, -1].view(N_LAYERS, -1, D_HEAD, N_HEADS).transpose(-1, -2).mean(1),
        "That is the mean over every position of the prompts: take the last position only.": z_in.mean((1, 2)),
    }


def _patched_logits(model, dataset, *, site="input", position=-1, mean_position=-1, patch_into="corrupted",
                    layout="heads"):
    """Last-position logits of the corrupted prompts, unpatched (batch, d_vocab) and with each head patched
    (layers, heads, batch, d_vocab): the right way (defaults) or with one mistake."""
    target = dataset.corrupted() if patch_into == "corrupted" else dataset
    with torch.no_grad():
        means = []
        with model.trace(dataset.prompts):
            for layer in range(N_LAYERS):
                proj = model.transformer.h[layer].attn.out_proj
                value = proj.input if site == "input" else proj.output
                means.append(value[:, mean_position].mean(0).save())
        means = torch.stack(means)  # (layers, d_model)
        with model.trace(dataset.corrupted().prompts):
            base = model.lm_head.output[:, -1].save()
        patched = []
        with model.trace() as tracer:
            for layer in range(N_LAYERS):
                for head in range(N_HEADS):
                    with tracer.invoke(target.prompts):
                        proj = model.transformer.h[layer].attn.out_proj
                        value = proj.input if site == "input" else proj.output
                        if layout == "heads":
                            cols = slice(head * D_HEAD, (head + 1) * D_HEAD)
                        else:  # d_head-major: head h is every n_heads-th column
                            cols = slice(head, None, N_HEADS)
                        if position == "all":
                            value[:, :, cols] = means[layer, cols]
                        else:
                            value[:, position, cols] = means[layer, cols]
                        patched.append(model.lm_head.output[:, -1].save())
    return base, torch.stack(patched).view(N_LAYERS, N_HEADS, *base.shape)


def _effect(dataset, base, patched, *, measure="prob", subtract=True):
    """The effect grid from `_patched_logits`, measured one way or another."""
    answers = answer_token_ids(fv_tokenizer(), dataset.completions)
    rows = torch.arange(len(dataset))

    def score(logits):
        p = logits.softmax(-1) if measure == "prob" else logits.log_softmax(-1) if measure == "logprob" else logits
        return p[..., rows, answers]

    return (score(patched) - score(base) if subtract else score(patched)).mean(-1)


def _effects(model, dataset, **kwargs):
    """The causal-indirect-effect grid computed the right way (defaults) or with one mistake."""
    return _effect(dataset, *_patched_logits(model, dataset, **kwargs))


def _effect_mistakes(model, dataset):
    right = _patched_logits(model, dataset)
    return {
        "Your effects are all 0: patching changed nothing. Either the edit never reached the model (you edited a "
        "copy: `.clone()`, or a reshape that copies; edit `out_proj.input` itself, in place), or you patched "
        "position 0, where every prompt has the same token (\"Q\"), so its mean is what is already there: patch "
        "the last position, -1.": torch.zeros(N_LAYERS, N_HEADS),
        "You patched at position 0: patch each head's output at the LAST position (-1), where the answer is "
        "predicted.": _effects(model, dataset, position=0),
        "You patched the mean into every position: patch the last position only (-1).":
            _effects(model, dataset, position="all"),
        "You patched out_proj's OUTPUT: a head's output is its slice of out_proj's INPUT "
        "(`attn.out_proj.input[:, -1, h * d_head:(h + 1) * d_head]`); the output has the heads already mixed.":
            _effects(model, dataset, site="output"),
        "You measured log-probabilities: the effect is the rise in the answer's probability (softmax), as "
        "Todd et al. measure it.": _effect(dataset, *right, measure="logprob"),
        "You measured logits: the effect is the rise in the answer's probability (softmax).":
            _effect(dataset, *right, measure="logit"),
        "You returned the patched probability itself: subtract the corrupted prompts' probability (nothing "
        "patched) to get the rise.": _effect(dataset, *right, subtract=False),
        "You patched into the clean prompts: patch into `dataset.corrupted().prompts` (the clean means go into "
        "the corrupted run).": _effects(model, dataset, patch_into="clean"),
        "The heads are split the wrong way: head h is the contiguous slice h * d_head:(h + 1) * d_head.":
            _effects(model, dataset, layout="strided"),
    }


# --------------------------------------------------------------------------- mean_head_outputs


def _means(student, model, prompts, **kwargs):
    return traced_tensor(student.mean_head_outputs, model, prompts, crash=_CRASH,
                         expected="a tensor (n_layers, n_heads, d_head)",
                         hint="Stack the per-layer means: `torch.stack(means)`.", **kwargs)


@pytest.fixture(scope="module")
def saved_means(student, model, mixed_prompts):
    """`saved_means()`: the student's mean_head_outputs of `mixed_prompts`, from one call."""
    return once_per_input(_means, student, model, mixed_prompts)


def test_mean_shape(saved_means):
    """mean_head_outputs returns (n_layers, n_heads, d_head)"""
    out = saved_means()
    check(
        tuple(out.shape) == (N_LAYERS, N_HEADS, D_HEAD),
        f"mean_head_outputs has shape {tuple(out.shape)}, expected ({N_LAYERS}, {N_HEADS}, {D_HEAD}) "
        "(n_layers, n_heads, d_head)",
        diagnosis="One (n_heads, d_head) mean per layer: view out_proj's input (batch, seq, d_model) as (batch, "
        "seq, n_heads, d_head), take position -1, average over the batch (dim 0), and stack the layers.",
    )


def test_mean_matches_reference(saved_means, reference, model, mixed_prompts):
    """The mean head outputs match the reference, on a left-padded batch"""
    with torch.no_grad():
        expected = reference.mean_head_outputs(model, mixed_prompts).detach()
    out = saved_means()
    mistakes = {} if out.shape == expected.shape and torch.allclose(out, expected, atol=1e-5) else _mean_variants(
        model, mixed_prompts)
    assert_close(out, expected, name="mean_head_outputs", mistakes=mistakes)


def test_mean_of_one_prompt(student, model, mixed_prompts):
    """With one prompt, each head's mean is that prompt's last-position slice of out_proj's input"""
    prompt = mixed_prompts[:1]
    inputs = []
    with torch.no_grad(), model.trace(prompt):
        for layer in range(N_LAYERS):
            inputs.append(model.transformer.h[layer].attn.out_proj.input[0, -1].clone().save())
    expected = torch.stack(inputs).view(N_LAYERS, N_HEADS, D_HEAD)
    out = _means(student, model, prompt)
    assert_close(out, expected, name="mean_head_outputs of a single prompt",
                 diagnosis="For one prompt, entry [layer, h] is out_proj's input at the last position, "
                 "columns h * d_head:(h + 1) * d_head.")


# --------------------------------------------------------------------------- head_indirect_effects


def _run(student, model, dataset, **kwargs):
    return traced_tensor(student.head_indirect_effects, model, dataset, crash=_CRASH,
                         expected="a tensor (n_layers, n_heads)", hint="Return the (n_layers, n_heads) grid as a tensor.",
                         **kwargs)


def test_effects_match_reference(student, reference, model, dataset):
    """The indirect-effect grid (n_layers, n_heads) matches the reference"""
    with torch.no_grad():
        expected = reference.head_indirect_effects(model, dataset).detach()
    out = _run(student, model, dataset)
    ok = out.shape == expected.shape and torch.allclose(out.double(), expected.double(), atol=1e-6, rtol=1e-4)
    mistakes = {} if ok else {
        "Your grid is (n_heads, n_layers): return it as (n_layers, n_heads), entry [layer, head].": expected.T,
        **_effect_mistakes(model, dataset),
    }
    assert_close(out, expected, name="head_indirect_effects", atol=1e-6, check_dtype=False, mistakes=mistakes,
                 diagnosis="Check each step on one head: mean over the clean prompts at position -1, patched into "
                 "the corrupted prompts at position -1, P(answer) patched minus P(answer) not patched.")


def test_head_that_writes_nothing_has_no_effect(student, dataset):
    """A head whose columns of out_proj are zero (it writes nothing) has an effect of exactly 0"""
    model = _model(dataset)
    with torch.no_grad():
        model._module.transformer.h[1].attn.out_proj.weight[:, 2 * D_HEAD:3 * D_HEAD] = 0.0  # layer 1, head 2
    out = _run(student, model, dataset)
    check(tuple(out.shape) == (N_LAYERS, N_HEADS), f"head_indirect_effects has shape {tuple(out.shape)}, expected "
          f"({N_LAYERS}, {N_HEADS})")
    check(
        abs(float(out[1, 2])) < 1e-7,
        f"the effect of layer 1, head 2 is {float(out[1, 2]):.3g}, expected 0: its columns of out_proj's weight "
        "are zero, so whatever is patched into its slice of out_proj's input changes nothing",
        diagnosis="Patch the head's slice of out_proj's INPUT (`attn.out_proj.input[:, -1, h * d_head:(h + 1) * "
        "d_head]`), not of its output, and subtract the unpatched corrupted run's probability.",
    )
    check(
        bool((out.abs() > 1e-5).sum() >= 4),
        "almost every head has an effect of 0: patching changed nothing",
        diagnosis="Edit out_proj's input in place (`z[:, -1, cols] = mean`) inside each invoke, before reading "
        "`model.lm_head.output` in that same invoke.",
    )


def test_batched_and_remote(student, model, dataset):
    """Batches the heads (a few traces, not one per head) and passes `remote` on to every trace"""
    with remote_recorded(model) as calls:
        _run(student, model, dataset, remote=True)
    check_remote_everywhere(calls, "Pass `remote=remote` to every `model.trace(...)`, including the one in "
                            "mean_head_outputs (call it with `remote=remote`).")
    limit = N_LAYERS + 2
    check(
        len(calls) <= limit,
        f"head_indirect_effects ran {len(calls)} traces for {N_LAYERS} layers of {N_HEADS} heads; at most {limit} "
        "expected (the clean means, the corrupted baseline, one per layer)",
        diagnosis="Patch the heads of a layer in one trace, with one `tracer.invoke(corrupted.prompts)` per head: "
        "the invokes run as one batched forward pass. One trace per head is n_layers * n_heads requests on NDIF.",
    )
