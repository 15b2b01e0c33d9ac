"""Hidden test for exercise 15: ToySAE.__init__, the SAE's parameters (tied and untied) and their init."""

import math
import os
import traceback

import torch
from torch import nn

from arena_cli.testing import CheckFailed, check, display_path, seed


def _build(student, *args, **kwargs):
    """student.ToySAE(*args, **kwargs); an exception in the student's __init__ becomes a failed check
    naming the student's line."""
    try:
        return student.ToySAE(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 - student code may raise anything
        frames = [
            f for f in traceback.extract_tb(e.__traceback__) if os.path.realpath(f.filename) == os.path.realpath(student.__file__)
        ]
        where = f" at {display_path(frames[-1].filename)}:{frames[-1].lineno} (`{(frames[-1].line or '').strip()}`)" if frames else ""
        detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CheckFailed(
            f"ToySAE{args} raised {type(e).__name__}{where}: {detail}",
            diagnosis="Shapes: W_enc (n_inst, d_in, d_sae), _W_dec (n_inst, d_sae, d_in), b_enc (n_inst, d_sae), "
            "b_dec (n_inst, d_in). nn.init.kaiming_uniform_ fills a tensor in place and returns it.",
        ) from None


def _params(sae) -> dict[str, tuple[int, ...]]:
    return {name: tuple(p.shape) for name, p in sae.named_parameters()}


def _fmt(params: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in params.items()) or "none"


def test_untied_parameters(student):
    """Untied: parameters W_enc, _W_dec, b_enc, b_dec with the right shapes"""
    seed(0)
    sae = _build(student, 3, 4, 6)
    got = _params(sae)
    expected = {"W_enc": (3, 4, 6), "_W_dec": (3, 6, 4), "b_enc": (3, 6), "b_dec": (3, 4)}
    missing = [name for name in expected if name not in got]
    plain = [name for name in missing if isinstance(getattr(sae, name, None), torch.Tensor)]
    check(
        not plain,
        f"{', '.join(plain)} {'is a plain tensor, not a registered parameter' if len(plain) == 1 else 'are plain tensors, not registered parameters'}",
        diagnosis="Wrap each in nn.Parameter(...): only parameters appear in sae.parameters(), so the "
        "optimiser would never train a plain tensor.",
    )
    check(
        not missing,
        f"missing parameter(s): {', '.join(missing)} (the SAE has: {_fmt(got)})",
        diagnosis="Assign each as an attribute: self.W_enc = nn.Parameter(...), and for an untied SAE "
        "self._W_dec = nn.Parameter(...) (note the underscore: the property W_dec reads it).",
    )
    extra = [name for name in got if name not in expected]
    check(not extra, f"unexpected parameter(s): {', '.join(extra)}", diagnosis="The SAE has exactly 4 parameters.")
    for name, shape in expected.items():
        if got[name] != shape:
            diagnosis = (
                "Same sizes in the other order: W_enc is (n_inst, d_in, d_sae) and _W_dec is (n_inst, d_sae, d_in)."
                if sorted(got[name]) == sorted(shape)
                else "Every parameter has the instance dimension first."
                if len(got[name]) < len(shape)
                else ""
            )
            check(False, f"{name} has shape {got[name]}, expected {shape} (n_inst=3, d_in=4, d_sae=6)", diagnosis=diagnosis)
    for name, p in sae.named_parameters():
        check(p.dtype == torch.float32, f"{name} has dtype {p.dtype}, expected float32", diagnosis="Build tensors with torch.empty / torch.zeros (float32 by default).")


def test_tied_parameters(student):
    """Tied: no decoder parameter (_W_dec is None), and W_dec is W_enc transposed"""
    seed(0)
    sae = _build(student, 3, 4, 6, tied=True)
    got = _params(sae)
    check(
        "_W_dec" not in got,
        f"a tied SAE has a decoder parameter _W_dec {got.get('_W_dec')}",
        diagnosis="When tied, set self._W_dec = None: the property W_dec then returns W_enc transposed.",
    )
    check(
        set(got) == {"W_enc", "b_enc", "b_dec"},
        f"a tied SAE should have exactly W_enc, b_enc, b_dec; it has: {_fmt(got)}",
        diagnosis="Create W_enc, b_enc and b_dec whether or not the SAE is tied.",
    )
    check(
        getattr(sae, "_W_dec", "missing") is None,
        "a tied SAE's _W_dec is not None",
        diagnosis="Set self._W_dec = None when tied (the given property W_dec checks for None).",
    )
    W_dec = sae.W_dec
    check(tuple(W_dec.shape) == (3, 6, 4), f"W_dec has shape {tuple(W_dec.shape)}, expected (3, 6, 4)")
    with torch.no_grad():
        sae.W_enc.add_(1.0)  # a change to the encoder is a change to the decoder
    check(
        torch.equal(sae.W_dec, sae.W_enc.transpose(-1, -2)),
        "after changing W_enc, the tied W_dec did not change with it",
        diagnosis="A tied decoder is not a copy: leave _W_dec as None, so W_dec is always W_enc transposed.",
    )


def test_biases_start_at_zero(student):
    """Both biases start at zero"""
    seed(0)
    sae = _build(student, 3, 4, 6)
    for name in ["b_enc", "b_dec"]:
        b = getattr(sae, name).detach()
        check(
            bool((b == 0).all()),
            f"{name} starts with values from {float(b.min()):.3f} to {float(b.max()):.3f}, expected all 0",
            diagnosis="Create the biases with torch.zeros.",
        )


def test_encoder_init(student):
    """W_enc is kaiming-uniform: uniform on [-√(6/(d_in·d_sae)), +√(6/(d_in·d_sae))]"""
    seed(0)
    n_inst, d_in, d_sae = 4, 16, 64
    sae = _build(student, n_inst, d_in, d_sae)
    W = sae.W_enc.detach()
    bound = math.sqrt(6 / (d_in * d_sae))
    lo, hi, std, mean = float(W.min()), float(W.max()), float(W.std()), float(W.mean())
    if bool((W == 0).all()):
        diagnosis = "W_enc is all zeros: fill it with nn.init.kaiming_uniform_."
    elif lo >= 0:
        diagnosis = "Every value is positive: torch.rand draws from [0, 1]; use nn.init.kaiming_uniform_."
    elif abs(std - 1) < 0.1:
        diagnosis = "The values look standard normal (torch.randn): use nn.init.kaiming_uniform_ on the whole 3D tensor."
    elif abs(std * math.sqrt(3) - math.sqrt(6 / d_sae)) < 0.1 * math.sqrt(6 / d_sae):
        diagnosis = (
            "The scale is that of kaiming_uniform_ on a 2D (d_in, d_sae) matrix. Apply it to the whole "
            "(n_inst, d_in, d_sae) tensor, whose fan-in PyTorch computes as d_in * d_sae."
        )
    else:
        diagnosis = "Create W_enc as nn.Parameter(nn.init.kaiming_uniform_(torch.empty(n_inst, d_in, d_sae)))."
    ok = lo >= -bound * 1.0001 and hi <= bound * 1.0001 and abs(std - bound / math.sqrt(3)) < 0.05 * bound and abs(mean) < 0.05 * bound
    check(
        ok,
        f"W_enc (n_inst={n_inst}, d_in={d_in}, d_sae={d_sae}) has values in [{lo:.4f}, {hi:.4f}], std {std:.4f}; "
        f"expected uniform on [-{bound:.4f}, {bound:.4f}] (std {bound / math.sqrt(3):.4f})",
        diagnosis=diagnosis,
    )
    check(
        not torch.equal(W[0], W[1]),
        "every instance's W_enc is the same",
        diagnosis="Draw the whole (n_inst, d_in, d_sae) tensor at once, so each instance gets its own random "
        "values (not one (d_in, d_sae) matrix repeated).",
    )


def test_untied_decoder_starts_as_encoder_transposed(student):
    """Untied: _W_dec starts equal to W_enc transposed, but is its own tensor"""
    seed(0)
    sae = _build(student, 3, 4, 6)
    check(
        isinstance(getattr(sae, "_W_dec", None), torch.Tensor),
        f"an untied SAE's _W_dec is {type(getattr(sae, '_W_dec', None)).__name__}, expected a parameter",
        diagnosis="For an untied SAE, self._W_dec = nn.Parameter(...) (with the underscore).",
    )
    W_enc, W_dec = sae.W_enc.detach(), sae._W_dec.detach()
    check(
        tuple(W_dec.shape) == (3, 6, 4),
        f"_W_dec has shape {tuple(W_dec.shape)}, expected (3, 6, 4)",
    )
    if not torch.allclose(W_dec, W_enc.transpose(-1, -2)):
        bound = math.sqrt(6 / (4 * 6))
        independent = float(W_dec.abs().max()) <= bound * 1.0001 and float(W_dec.std()) > 0.3 * bound
        check(
            False,
            "the untied decoder does not start as W_enc transposed",
            diagnosis="Looks like an independent random draw (the older recipe). This course starts each latent's "
            "decoder direction at its encoder direction: nn.Parameter(self.W_enc.detach().transpose(-1, -2).clone())."
            if independent
            else "Start it as a copy of the encoder transposed: nn.Parameter(self.W_enc.detach().transpose(-1, -2).clone()).",
        )
    check(
        sae._W_dec.data_ptr() != sae.W_enc.data_ptr(),
        "_W_dec shares its memory with W_enc",
        diagnosis="Untied means the two learn separately: .clone() the transposed encoder, so _W_dec owns its memory.",
    )
    check(
        sae._W_dec.is_leaf and isinstance(sae._W_dec, nn.Parameter),
        "_W_dec is not a leaf parameter",
        diagnosis="Make _W_dec an nn.Parameter of a detached copy: nn.Parameter(self.W_enc.detach().transpose(-1, -2).clone()).",
    )
    with torch.no_grad():
        sae.W_enc.add_(1.0)
    check(
        not torch.allclose(sae._W_dec, sae.W_enc.transpose(-1, -2)),
        "after changing W_enc, the untied _W_dec changed with it",
        diagnosis="The untied decoder must be a copy: .clone() it.",
    )
    check(sae.W_dec is sae._W_dec, "the property W_dec does not return _W_dec for an untied SAE")


def test_hyperparameters_kept(student):
    """The given attributes are still set (n_inst, d_in, d_sae, tied, weight_normalize_eps)"""
    seed(0)
    sae = _build(student, 2, 3, 5, tied=True, weight_normalize_eps=1e-6)
    got = {name: getattr(sae, name, None) for name in ["n_inst", "d_in", "d_sae", "tied", "weight_normalize_eps"]}
    check(
        got == {"n_inst": 2, "d_in": 3, "d_sae": 5, "tied": True, "weight_normalize_eps": 1e-6},
        f"attributes are {got}",
        diagnosis="Keep the given lines at the start of __init__ (super().__init__() and the attributes).",
    )
