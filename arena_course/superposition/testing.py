"""What chapter 1's hidden tests share, so that no test carries a copy of another's set-up.

- Models: `twins(student, reference, "ToyModel", ...)`, the student's and the reference's module with the same
  weights (`biased_twins`: with a nonzero bias); for forward passes, `check_forward_matches`,
  `check_output_shape`, `check_leading_dims`, `check_gradients`.
- Feature geometry (exercises 06, 11): `W_COLUMNS`, `projections`, `check_per_feature`.
- Sparse batches (exercises 02, 04, 05, 08): `sample_batch` (the student's seeded batch, checked to be a tensor of
  the right shape), `check_float32`, `check_unit_range`, `check_presence` (each feature present with its
  probability), `present_values`, `check_uniform` and `magnitude_diagnosis` (the present values'
  distribution), `max_correlation`, `check_edge_features`, `fmt`.
- Losses (exercises 03, 10): `check_loss_shape`, `check_loss_gradient`.
- SAEs on a language model (the last section): `lm_sae_setting`, the tiny model, tokens and random SAE;
  `check_number`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import torch
from torch import Tensor

from arena_cli.testing import assert_close, call_student, check, seed
from arena_course.testing import check_tensor

# --------------------------------------------------------------------------- models and forward passes


def twins(student, reference, cls_name: str, *args: Any, init: Callable | None = None, **kwargs: Any):
    """(the student's, the reference's) `cls_name(*args, **kwargs)` with the same weights: the reference's,
    seeded (0), then changed by `init(ref)` (without gradients: nonzero biases, rows of other norms, ...)."""
    seed(0)
    ref = getattr(reference, cls_name)(*args, **kwargs)
    if init is not None:
        with torch.no_grad():
            init(ref)
    stu = getattr(student, cls_name)(*args, **kwargs)
    stu.load_state_dict(ref.state_dict())
    return stu, ref


def biased_twins(student, reference, cls_name: str, n_instances: int, n_features: int, d_hidden: int):
    """`twins` of a toy model (ToyModel, NeuronModel, AbsValueModel) with a nonzero bias b_final, so that bias
    mistakes show."""
    return twins(student, reference, cls_name, n_instances, n_features, d_hidden,
                 init=lambda ref: ref.b_final.copy_(0.3 * torch.randn(n_instances, n_features)))


def check_forward_matches(stu, ref, forward: Callable, x: Tensor, mistakes_of: Callable[[], dict]) -> None:
    """The student's `forward(stu, x)` matches the reference's on `x`; `mistakes_of()` gives the common mistakes'
    outputs (all without gradients)."""
    with torch.no_grad():
        expected = ref(x)
        actual = forward(stu, x)
        mistakes = mistakes_of()
    assert_close(actual, expected, name="forward(x)", mistakes=mistakes)


def check_output_shape(out: Any, shape: tuple[int, int, int], diagnosis: str) -> None:
    """forward's output on a (batch, inst, feats) input is a tensor of the input's `shape`."""
    check_tensor(out, "forward", "not a Tensor")
    batch, inst, feats = shape
    check(
        tuple(out.shape) == shape,
        f"input of shape (batch={batch}, inst={inst}, feats={feats}) gave output of shape {tuple(out.shape)}, "
        f"expected {shape}",
        diagnosis=diagnosis,
    )


def check_leading_dims(stu, ref, forward: Callable, first: Tensor, draw: Callable[[tuple], Tensor], diagnosis: str):
    """The student's forward works for any leading dimensions: first on `first`, the usual (batch, inst,
    feats), then with no batch dimension and with two, compared with the reference on inputs `draw(shape)`."""
    forward(stu, first)  # first, the usual (batch, inst, feats) must work
    for leading in [tuple(first.shape[1:]), (2, *first.shape)]:
        x = draw(leading)
        with torch.no_grad():
            expected = ref(x)
            actual = forward(stu, x, diagnosis=diagnosis)
        assert_close(actual, expected, name=f"forward(x) for x of shape {leading}")


def check_gradients(out: Any, module, params: Sequence[str], graph: str, use: str) -> None:
    """The output `out` of `module`'s forward depends on `params` through autograd: `graph` diagnoses an output
    with no graph, `use` ("... self.{name} ...") a parameter without a gradient."""
    check(
        isinstance(out, torch.Tensor) and out.requires_grad,
        "the output does not depend on the parameters through autograd",
        diagnosis=graph,
    )
    out.sum().backward()
    for name in params:
        grad = getattr(module, name).grad
        check(
            grad is not None and bool(grad.abs().sum() > 0),
            f"{name}.grad is {'None' if grad is None else 'all zero'} after backward",
            diagnosis=use.format(name=name),
        )


# --------------------------------------------------------------------------- feature geometry (06, 11)

W_COLUMNS = (
    "W has shape (inst, d_hidden, feats): feature i is the column W[k, :, i], so norms are taken over dim 1 "
    "(d_hidden), and the projections Ŵ_i · W_j sum over d_hidden, e.g. einops.einsum(W_hat, W, "
    "\"inst d feat_i, inst d feat_j -> inst feat_i feat_j\")."
)


def projections(W: Tensor) -> SimpleNamespace:
    """For W (inst, d_hidden, feats): the features' norms ‖W_i‖ (inst, feats), unit directions Ŵ_i, and the
    (inst, feats, feats) products Ŵ_i · W_j (`overlap`), W_i · W_j (`raw`), Ŵ_i · Ŵ_j (`cos`); `eye`."""
    norms = W.norm(dim=1)
    W_hat = W / norms.clamp_min(1e-8)[:, None, :]
    return SimpleNamespace(
        norms=norms,
        W_hat=W_hat,
        overlap=torch.einsum("kdi,kdj->kij", W_hat, W),
        raw=torch.einsum("kdi,kdj->kij", W, W),
        cos=torch.einsum("kdi,kdj->kij", W_hat, W_hat),
        eye=torch.eye(W.shape[-1]),
    )


def check_per_feature(shape: tuple, got: str, columns: str) -> None:
    """For a W of shape (inst=3, d_hidden=4, feats=6), a result of shape (3, 6) (one value per instance and
    feature); `got` describes it in the message, `columns` diagnoses a (3, 4) result."""
    check(
        shape == (3, 6),
        f"for W of shape (inst=3, d_hidden=4, feats=6){got} {shape}, expected (3, 6)",
        diagnosis=columns if shape == (3, 4) else W_COLUMNS,
    )


# --------------------------------------------------------------------------- sparse batches


def sample_batch(fn: Callable, batch_size: int, p: Tensor, *, crash: str | None, shape_diagnosis: Callable[[Tensor], str],
                 p_dims: str | None = None) -> Tensor:
    """A seeded batch from the student's `fn(batch_size, p)` (through `call_student` with `crash`, or called as it
    is when `crash` is None), checked to be a tensor of shape (batch_size, *p.shape). `p_dims` describes p's
    shape in the message (default: the shape itself); `shape_diagnosis(out)` diagnoses another shape."""
    seed(0)
    out = fn(batch_size, p.clone()) if crash is None else call_student(fn, batch_size, p.clone(), diagnosis=crash)
    check_tensor(out, fn.__name__, "not a Tensor")
    expected = (batch_size, *p.shape)
    check(
        tuple(out.shape) == expected,
        f"{fn.__name__}({batch_size}, p) with p of shape {p_dims or tuple(p.shape)} returned shape "
        f"{tuple(out.shape)}, expected {expected}",
        diagnosis=shape_diagnosis(out),
    )
    return out


def check_float32(out: Tensor, hint: str, bool_hint: str | None = None) -> None:
    """The batch is float32 (`bool_hint` diagnoses a boolean mask, `hint` any other dtype)."""
    check(
        out.dtype == torch.float32,
        f"expected dtype float32, got {out.dtype}",
        diagnosis=bool_hint if bool_hint is not None and out.dtype == torch.bool else hint,
    )


def check_unit_range(out: Tensor, hint: Callable[[float], str]) -> None:
    """Every value of the batch is in [0, 1] (`hint(lowest value)` diagnoses one that isn't)."""
    lo, hi = float(out.min()), float(out.max())
    check(lo >= 0.0 and hi <= 1.0, f"values range from {lo:.3f} to {hi:.3f}, expected within [0, 1]", diagnosis=hint(lo))


def present_values(out: Tensor, what: str = "magnitudes") -> Tensor:
    """The nonzero values of the batch, at least 100 of them (else a failed check: cannot check `what`)."""
    values = out[out != 0]
    check(values.numel() > 100, f"only {values.numel()} nonzero values in {out.numel()}: cannot check {what}")
    return values


def magnitude_diagnosis(values: Tensor, mask: str, below: float, reused: str) -> str:
    """Why present values in [0, 1] are not uniform: all 1 (`mask`: the 0/1 mask itself), all at most `below`
    (`reused`: the numbers that decided presence reused as magnitudes), or otherwise not torch.rand's."""
    if bool((values == 1).all()):
        return mask
    if float(values.max()) <= below + 1e-6:
        return reused
    return "Present features take a value drawn from torch.rand (uniform on [0, 1])."


def check_edge_features(never: Tensor, always: Tensor, never_hint: str) -> None:
    """A feature with p = 0 (its values `never`, one per example) is never present; one with p = 1 (`always`)
    always is."""
    check(
        bool((never == 0).all()),
        f"a feature with p = 0 was nonzero in {int((never != 0).sum())} of {len(never)} examples",
        diagnosis=never_hint,
    )
    check(
        bool((always != 0).all()),
        f"a feature with p = 1 was zero in {int((always == 0).sum())} of {len(always)} examples",
        diagnosis="With p = 1 a feature is always present: present when rand < p.",
    )


def fmt(t: Tensor) -> str:
    return "[" + ", ".join("[" + ", ".join(f"{v:.3f}" for v in row) + "]" for row in t.tolist()) + "]"


def check_presence(out: Tensor, p: Tensor, diagnose: Callable[[Tensor, Tensor], str]) -> None:
    """Each (instance, feature) of the batch `out` is nonzero with probability `p` (within about 5 standard
    deviations of the sampling noise); else `diagnose(frac, tol)` says what the fractions look like."""
    frac = (out != 0).float().mean(0)  # (inst, feats)
    tol = 5 * (p * (1 - p) / out.shape[0]).sqrt() + 1e-3
    if bool(((frac - p).abs() <= tol).all()):
        return
    check(
        False,
        f"fraction of nonzero entries per (instance, feature), over {out.shape[0]} examples:\n"
        f"  got      {fmt(frac)}\n  expected {fmt(p)}",
        diagnosis=diagnose(frac, tol),
    )


def check_uniform(values: Tensor, quartiles: Sequence[float], tol_mean: float, tol_quartiles: float, expected: str,
                  diagnose: Callable[[Tensor], str]) -> None:
    """The present values are uniform: their mean within `tol_mean` of the middle quartile's expected value,
    their quartiles within `tol_quartiles` of `quartiles`; else a failed check ("... for <expected>"),
    diagnosed by `diagnose(values)`."""
    mean = float(values.mean())
    found = torch.quantile(values, torch.tensor([0.25, 0.5, 0.75])).tolist()
    ok = abs(mean - quartiles[1]) < tol_mean and all(abs(q - e) < tol_quartiles for q, e in zip(found, quartiles))
    if ok:
        return
    check(
        False,
        f"present values have mean {mean:.3f} and quartiles {', '.join(f'{q:.3f}' for q in found)}; "
        f"for {expected}",
        diagnosis=diagnose(values),
    )


def max_correlation(present: Tensor) -> float:
    """The largest |correlation| between two different columns of `present` (examples, columns)."""
    corr = torch.corrcoef(present.T).nan_to_num(0.0)
    return float((corr - torch.eye(corr.shape[0])).abs().max())


# --------------------------------------------------------------------------- losses


def check_loss_shape(shape: tuple, diagnoses: dict[tuple, str]) -> None:
    """A loss of out and batch of shape (batch=6, inst=3, feats=4) has shape (3,); `diagnoses` per wrong shape."""
    check(
        shape == (3,),
        f"for out and batch of shape (batch=6, inst=3, feats=4), got a loss of shape {shape}, expected (3,)",
        diagnosis=diagnoses.get(shape, "Sum over features (the last dimension) and average over the batch (the first)."),
    )


def check_loss_gradient(loss_fn: Callable, out: Tensor, batch: Tensor, importance: Tensor, target: Tensor,
                        diagnosis: str) -> None:
    """The gradient of `loss_fn(out, batch, importance).sum()` with respect to `out` is that of the importance-
    weighted squared error against `target`; `diagnosis` for a loss not connected to `out`."""
    out.requires_grad_(True)
    loss = loss_fn(out, batch, importance)
    check(
        isinstance(loss, torch.Tensor) and loss.requires_grad,
        "the loss does not depend on `out` through autograd",
        diagnosis=diagnosis,
    )
    loss.sum().backward()
    expected = 2 * importance * (out.detach() - target) / batch.shape[0]
    assert_close(out.grad, expected, name="d loss.sum() / d out")


# --------------------------------------------------------------------------- SAEs on a language model (20-24)


def check_number(value: Any, what: str, expected: str, diagnosis: str) -> None:
    """`value` is a single number (a float or a 0-dimensional tensor): else "<what> is <type> [of shape ...],
    expected <expected>"."""
    shape = tuple(value.shape) if isinstance(value, torch.Tensor) else ()
    check(
        isinstance(value, (torch.Tensor, float)) and shape == (),
        f"{what} is {type(value).__name__}{f' of shape {shape}' if shape else ''}, expected {expected}",
        diagnosis=diagnosis,
    )


def lm_sae_setting(hook: str, *, d_model: int = 32, d_sae: int = 48, batch: int = 4, seq: int = 10):
    """(model, tokens, sae, cache): the tiny toy-language model, `batch` toy sentences of `seq` tokens, a random
    SAE at `hook`, and the model's residual streams on the tokens (detached)."""
    from arena_course.superposition.lm_sae import random_sae, tiny_lm, toy_tokens

    model = tiny_lm(seed=0, d_model=d_model)
    tokens = toy_tokens(batch, seq, seed=1)
    sae = random_sae(d_model, d_sae, seed=0, hook_name=hook)
    _, cache = model.run_with_cache(tokens)
    return model, tokens, sae, {k: v.detach() for k, v in cache.items() if "resid" in k}
