"""Hidden test for exercise 21: Heaviside and JumpReLU autograd functions with pseudo-gradients for θ."""

import os
import traceback

import torch

from arena_cli.testing import CheckFailed, assert_close, check, display_path, seed

EPS = 0.1


def _call(student, thunk, what, diagnosis=""):
    """Run `thunk`; an exception raised in the student's file becomes a failed check naming the line."""
    try:
        return thunk()
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 - student code may raise anything
        frames = [f for f in traceback.extract_tb(e.__traceback__) if os.path.realpath(f.filename) == os.path.realpath(student.__file__)]
        where = f" at {display_path(frames[-1].filename)}:{frames[-1].lineno} (`{(frames[-1].line or '').strip()}`)" if frames else ""
        detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
        if not diagnosis and ("incorrect number of gradients" in detail or "expected 3" in detail):
            diagnosis = "backward returns one gradient per input of forward: (grad_z, grad_theta, None), None for eps."
        if not diagnosis and "shape" in detail:
            diagnosis = (
                "grad_theta must have theta's shape: sum the per-element gradient over the broadcast (batch) "
                "dimensions with _sum_to_shape(grad, theta.shape)."
            )
        raise CheckFailed(f"{what} raised {type(e).__name__}{where}: {detail}", diagnosis=diagnosis) from None


def _inputs(dtype=torch.float32):
    """z of shape (batch, inst, d_sae) with many values within ε/2 of θ, and θ of shape (inst, d_sae)."""
    seed(0)
    theta = 0.2 + 0.6 * torch.rand(3, 5, dtype=dtype)
    z = theta + 0.12 * torch.randn(40, 3, 5, dtype=dtype)
    grad_output = torch.randn(40, 3, 5, dtype=dtype)  # an arbitrary upstream gradient
    return z, theta, grad_output


def _run(student, cls_name, z, theta, grad_output, eps=EPS):
    """Forward and backward through the student's Function; returns (out, z.grad, theta.grad)."""
    cls = getattr(student, cls_name)
    z = z.clone().requires_grad_(True)
    theta = theta.clone().requires_grad_(True)
    out = _call(student, lambda: cls.apply(z, theta, eps), f"{cls_name}.apply (forward)")
    check(isinstance(out, torch.Tensor), f"{cls_name}.forward returned {type(out).__name__}, not a Tensor",
          diagnosis="Did you forget a `return`?" if out is None else "")
    check(out.requires_grad, f"{cls_name}'s output is not connected to autograd",
          diagnosis="Call it with .apply, and don't detach inside forward.")
    _call(student, lambda: out.backward(grad_output), f"{cls_name}.backward")
    return out.detach(), z.grad, theta.grad


def _rect(x):
    return ((x > -0.5) & (x < 0.5)).to(x.dtype)


def test_heaviside_forward(student, reference):
    """Heaviside forward: 1.0 where z > θ (strictly), else 0.0, in z's dtype"""
    z, theta, g = _inputs()
    z[0, 0, 0] = theta[0, 0]  # exactly at the threshold: not active
    expected = reference.Heaviside.apply(z, theta, EPS)
    out, _, _ = _run(student, "Heaviside", z, theta, g)
    check(out.dtype == z.dtype, f"output dtype {out.dtype}, expected z's dtype {z.dtype}",
          diagnosis="Convert the boolean comparison with .to(z.dtype).")
    assert_close(out, expected, name="Heaviside(z, θ)", mistakes={
        "At z == θ the output must be 0: use a strict z > theta, not >=.": (z >= theta).float(),
        "You computed 1[z < θ]: it is 1 where z is above the threshold.": (z < theta).float(),
    })


def test_heaviside_theta_gradient(student, reference):
    """Heaviside backward: ∂/∂θ = -(1/ε) rect((z - θ)/ε) · grad_output, summed over the batch"""
    z, theta, g = _inputs()
    _, _, expected = _run(reference, "Heaviside", z, theta, g)
    _, _, actual = _run(student, "Heaviside", z, theta, g)
    check(actual is not None, "θ received no gradient",
          diagnosis="backward returns (grad_z, grad_theta, None): grad_theta is the second.")
    per_element = _rect((z - theta) / EPS) * g
    assert_close(actual, expected, name="θ.grad", mistakes={
        "Your gradient has the wrong sign: it is -(1/ε) rect((z - θ)/ε) (raising θ switches latents off).": -expected,
        "You left out the 1/ε factor.": -per_element.sum(0),
        "You used rect(z - θ): divide by ε inside the kernel, rect((z - θ)/ε).": -(1 / EPS) * (_rect(z - theta) * g).sum(0),
        "You left out grad_output (the chain rule): multiply the pseudo-derivative by it.": -(1 / EPS) * _rect((z - theta) / EPS).sum(0),
        "You averaged over the batch: sum (each θ is used by every example).": -(1 / EPS) * per_element.mean(0),
    })


def test_heaviside_z_gradient_is_zero(student):
    """Heaviside backward: the gradient with respect to z is 0"""
    z, theta, g = _inputs()
    _, z_grad, _ = _run(student, "Heaviside", z, theta, g)
    check(
        z_grad is None or bool((z_grad == 0).all()),
        "z received a nonzero gradient from Heaviside",
        diagnosis="H(z - θ) is flat in z: return zeros (torch.zeros_like(z)) or None for grad_z. The "
        "pseudo-gradient is for θ only.",
    )


def test_jumprelu_forward(student, reference):
    """JumpReLU forward: z where z > θ (strictly), else 0.0"""
    z, theta, g = _inputs()
    z[0, 0, 0] = theta[0, 0]
    expected = reference.JumpReLU.apply(z, theta, EPS)
    out, _, _ = _run(student, "JumpReLU", z, theta, g)
    check(out.dtype == z.dtype, f"output dtype {out.dtype}, expected z's dtype {z.dtype}")
    assert_close(out, expected, name="JumpReLU(z, θ)", mistakes={
        "At z == θ the output must be 0: use a strict z > theta, not >=.": z * (z >= theta).float(),
        "You returned the step 1[z > θ], not z · 1[z > θ].": (z > theta).float(),
        "You subtracted the threshold (z - θ where active): JumpReLU passes z through unchanged.": (z - theta) * (z > theta).float(),
        "You computed ReLU(z): values between 0 and θ must be zeroed too.": torch.relu(z),
    })


def test_jumprelu_gradients(student, reference):
    """JumpReLU backward: ∂/∂z = 1[z > θ]; ∂/∂θ = -(θ/ε) rect((z - θ)/ε), times grad_output"""
    z, theta, g = _inputs()
    _, z_ref, theta_ref = _run(reference, "JumpReLU", z, theta, g)
    _, z_grad, theta_grad = _run(student, "JumpReLU", z, theta, g)
    check(z_grad is not None, "z received no gradient from JumpReLU", diagnosis="grad_z = 1[z > θ] · grad_output.")
    assert_close(z_grad, z_ref, name="z.grad", mistakes={
        "You passed the gradient straight through everywhere: below the threshold the output is 0, so its "
        "gradient is 0; grad_z = 1[z > θ] · grad_output.": g,
        "You left out grad_output: grad_z = 1[z > θ] · grad_output.": (z > theta).float(),
    })
    check(theta_grad is not None, "θ received no gradient from JumpReLU")
    per_element = _rect((z - theta) / EPS) * g
    assert_close(theta_grad, theta_ref, name="θ.grad", mistakes={
        "You used Heaviside's 1/ε: JumpReLU's jump at θ has height θ, so ∂/∂θ = -(θ/ε) rect((z - θ)/ε).": -(1 / EPS)
        * per_element.sum(0),
        "Your gradient has the wrong sign: it is -(θ/ε) rect((z - θ)/ε).": -theta_ref,
        "You used z instead of θ in the factor: -(θ/ε) rect((z - θ)/ε).": -((z / EPS) * per_element).sum(0),
    })


def test_hand_computed(student):
    """Hand-computed: z = (0.2, 0.5, 0.505, 0.9), θ = 0.5, ε = 0.1"""
    z = torch.tensor([[0.2, 0.5, 0.505, 0.9]])  # (batch 1, 4 latents)
    theta = torch.full((4,), 0.5)
    ones = torch.ones(1, 4)
    # H = (0, 0, 1, 1); rect((z - θ)/ε) = rect(-3, 0, 0.05, 4) = (0, 1, 1, 0)
    # Heaviside: dθ = -(1/0.1) · (0, 1, 1, 0) = (0, -10, -10, 0)
    # JumpReLU:  out = (0, 0, 0.505, 0.9), dz = (0, 0, 1, 1), dθ = -(0.5/0.1) · (0, 1, 1, 0) = (0, -5, -5, 0)
    out, _, dtheta = _run(student, "Heaviside", z, theta, ones, eps=0.1)
    assert_close(out, torch.tensor([[0.0, 0.0, 1.0, 1.0]]), name="Heaviside(z, θ)",
                 mistakes={"At z == θ the output must be 0: use a strict z > theta.": torch.tensor([[0.0, 1.0, 1.0, 1.0]])})
    assert_close(dtheta, torch.tensor([0.0, -10.0, -10.0, 0.0]), name="Heaviside: θ.grad",
                 mistakes={"Wrong sign: ∂H/∂θ = -(1/ε) rect((z - θ)/ε).": torch.tensor([0.0, 10.0, 10.0, 0.0])})
    out, dz, dtheta = _run(student, "JumpReLU", z, theta, ones, eps=0.1)
    assert_close(out, torch.tensor([[0.0, 0.0, 0.505, 0.9]]), name="JumpReLU(z, θ)")
    assert_close(dz, torch.tensor([[0.0, 0.0, 1.0, 1.0]]), name="JumpReLU: z.grad")
    assert_close(dtheta, torch.tensor([0.0, -5.0, -5.0, 0.0]), name="JumpReLU: θ.grad",
                 mistakes={"You used 1/ε: for JumpReLU it is -(θ/ε) rect((z - θ)/ε).": torch.tensor([0.0, -10.0, -10.0, 0.0])})


def test_jumprelu_gradcheck_in_z(student):
    """JumpReLU's gradient in z passes torch.autograd.gradcheck (away from the threshold)"""
    seed(0)
    theta = torch.full((3,), 0.5, dtype=torch.float64)
    z = torch.rand(6, 3, dtype=torch.float64)
    z = torch.where((z - 0.5).abs() < 0.01, z + 0.05, z).requires_grad_(True)  # keep clear of the jump
    out = _call(student, lambda: student.JumpReLU.apply(z, theta, EPS), "JumpReLU.apply (forward)")
    check(out.dtype == torch.float64, f"for float64 z the output has dtype {out.dtype}",
          diagnosis="Convert the comparison with .to(z.dtype) (not .float()), so the output keeps z's dtype.")
    ok = _call(
        student,
        lambda: torch.autograd.gradcheck(lambda x: student.JumpReLU.apply(x, theta, EPS), (z,), raise_exception=False),
        "gradcheck of JumpReLU",
    )
    check(ok, "JumpReLU's gradient with respect to z disagrees with finite differences",
          diagnosis="Away from the threshold, JumpReLU is z (slope 1) or 0 (slope 0): grad_z = 1[z > θ] · grad_output.")


def test_pseudo_gradients_estimate_expectations(student):
    """Over a batch, the pseudo-gradients match d/dθ of the expected output (z uniform on [0, 1])"""
    z = torch.linspace(0, 1, 10_001)  # a density of 1 on [0, 1]
    theta = torch.tensor(0.5)
    # d/dθ E[H(z - θ)] = -p(θ) = -1 and d/dθ E[z H(z - θ)] = -θ p(θ) = -0.5
    for name, expected in [("Heaviside", -1.0), ("JumpReLU", -0.5)]:
        _, _, dtheta = _run(student, name, z, theta, torch.full_like(z, 1 / z.numel()), eps=0.1)
        check(dtheta is not None and dtheta.shape == theta.shape,
              f"{name}: θ of shape () got a gradient of shape {None if dtheta is None else tuple(dtheta.shape)}",
              diagnosis="Sum the per-element gradient to θ's shape with _sum_to_shape(grad, theta.shape).")
        assert_close(dtheta, torch.tensor(expected), name=f"{name}: d/dθ of the batch mean", atol=5e-3)
