"""Hidden test for exercise 17: sae_training_data, the toy model's hidden activations h = W x."""

import torch

from arena_cli.testing import assert_close, call_student, check, load_reference, seed
from arena_course.testing import check_tensor


# Exercise 1's ToyModel (its reference): sae_training_data uses its W (n_inst, d_hidden, n_features) and
# its feature_probability buffer (n_inst, n_features).
ToyModel = load_reference(__file__, "toy_model_forward").ToyModel


def _toy_model(n_inst=3, n_features=5, d_hidden=2, p=0.2):
    """A toy model with random weights, different per instance."""
    seed(0)
    return ToyModel(n_inst, n_features, d_hidden, feature_probability=p)


def _data(student, model, batch_size, seed_value=1, diagnosis=""):
    seed(seed_value)
    h = call_student(student.sae_training_data, model, batch_size, diagnosis=diagnosis)
    return check_tensor(h, "sae_training_data", "not a Tensor")


_SIZE = (
    "model.W has shape (n_inst, d_hidden, n_features) and the features (batch, n_inst, n_features): "
    'einops.einsum(features, model.W, "batch inst feats, inst d_hidden feats -> batch inst d_hidden").'
)


def test_shape(student):
    """Returns shape (batch, instances, d_hidden)"""
    model = _toy_model()
    h = _data(student, model, 7, diagnosis=_SIZE)
    shape = tuple(h.shape)
    check(
        shape == (7, 3, 2),
        f"for a toy model with 3 instances, 5 features, d_hidden 2 and a batch of 7, got shape {shape}, expected (7, 3, 2)",
        diagnosis="You returned the features x, not the hidden activations W x." if shape == (7, 3, 5) else _SIZE,
    )


def test_is_W_times_sparse_features(student):
    """Each h is W times a sparse feature vector in [0, 1] (recovered exactly with an invertible W)"""
    # d_hidden >= n_features, so W has a left inverse and x can be read back from h.
    model = _toy_model(n_inst=2, n_features=3, d_hidden=4, p=0.3)
    h = _data(student, model, 4000, diagnosis=_SIZE).detach()
    check(tuple(h.shape) == (4000, 2, 4), f"shape {tuple(h.shape)}, expected (4000, 2, 4)", diagnosis=_SIZE)
    W = model.W.detach()
    x = torch.einsum("ifh,bih->bif", torch.linalg.pinv(W), h)  # (batch, inst, feats)
    ok = [torch.allclose(torch.einsum("hf,bf->bh", W[k], x[:, k]), h[:, k], atol=1e-4) for k in range(2)]
    check(
        all(ok),
        f"h[:, k] is not W[k] times any feature vector, for instance(s) k = {[k for k in range(2) if not ok[k]]}",
        diagnosis="Instance 0 is right but not instance 1: every instance used instance 0's W. Keep `inst` in "
        "the einsum so instance k uses its own W[k]."
        if ok[0]
        else "h[b, k] should be W[k] @ x[b, k]: W has shape (n_inst, d_hidden, n_features); sum over features.",
    )
    lo, hi = float(x.min()), float(x.max())
    check(
        lo > -1e-3 and hi < 1 + 1e-3,
        f"the features behind h range from {lo:.3f} to {hi:.3f}, expected within [0, 1]",
        diagnosis="Sample the features with sparse_features (uniform magnitudes in [0, 1]).",
    )
    frac = (x.abs() > 1e-4).float().mean(0)  # (inst, feats)
    p = model.feature_probability
    tol = 5 * (p * (1 - p) / 4000).sqrt() + 0.01
    check(
        bool(((frac - p).abs() <= tol).all()),
        f"the features behind h are present a fraction {frac.mean():.3f} of the time, expected the model's "
        f"feature probability {float(p.mean()):.3f}",
        diagnosis="Sample with the model's own probabilities: sparse_features(batch_size, model.feature_probability)."
        if float(frac.mean()) > 0.9
        else "Use sparse_features(batch_size, model.feature_probability) to sample the features.",
    )


def test_sparse_probability_per_instance(student):
    """Uses the model's own feature probability: a sparse model gives mostly h = 0"""
    model = _toy_model(p=torch.tensor([[0.02], [0.5], [1.0]]))
    h = _data(student, model, 3000, diagnosis=_SIZE).detach()
    zero = (h == 0).all(-1).float().mean(0)  # fraction of examples with no feature, per instance
    expected = (1 - model.feature_probability).prod(-1)  # (inst,)
    check(
        bool(((zero - expected).abs() < 0.04).all()),
        f"fraction of examples with h = 0 per instance: got {[round(v, 3) for v in zero.tolist()]}, "
        f"expected {[round(v, 3) for v in expected.tolist()]} (feature probabilities 0.02, 0.5, 1)",
        diagnosis="Sample the features with model.feature_probability (shape (n_inst, n_features)), not a fixed "
        "probability.",
    )


def test_no_gradient(student):
    """h carries no gradient back into the toy model"""
    model = _toy_model()  # W requires grad, as in a freshly built model
    h = _data(student, model, 16, diagnosis=_SIZE)
    check(
        not h.requires_grad,
        "h requires grad: the SAE's loss would backpropagate into the toy model",
        diagnosis="Compute h inside `with torch.no_grad():` (or return h.detach()): the toy model is frozen data.",
    )


def test_matches_reference(student, reference):
    """Matches the reference under the same seed (one call to sparse_features)"""
    model = _toy_model()
    expected = _data(reference, model, 64)
    actual = _data(student, model, 64, diagnosis=_SIZE)
    seed(1)
    from arena_course.superposition.toy_sae import sparse_features

    x = sparse_features(64, model.feature_probability)
    W = model.W.detach()
    assert_close(
        actual.detach(),
        expected,
        name="h",
        mistakes={
            "Every instance used instance 0's W: project each instance with its own W[k] (keep `inst` in the einsum).": torch.einsum(
                "bif,hf->bih", x, W[0]
            ),
        },
        diagnosis="Call sparse_features(batch_size, model.feature_probability) exactly once, then multiply by each "
        "instance's W (if you sample the features another way, this check can't line up your random numbers "
        "with the reference's: the property checks below still apply).",
    )
