"""The results of chapter 1's sections on SAEs on the toy model, at reduced scale, with the reference
solutions: fewer instances and steps than the results, the same functions and settings otherwise.

- The SAE section (sae_forward): an SAE initialised with W_dec = W_encᵀ finds all 5 features
  of the pentagon in most instances, with no dead latents; with the decoder drawn independently, latents
  die and fewer features are found.
- The resampling section (resample_advanced): with that independent init, resampling (simple or loss-weighted)
  leaves fewer dead latents and finds more features than no resampling.
- The JumpReLU section (jumprelu_sae): at about the same L0, a JumpReLU SAE reconstructs with much less error
  than a ReLU SAE.
"""

import math
from pathlib import Path

import pytest
import torch

from arena_cli.layout import chapter_file
from arena_course.loading import load_sibling
from arena_course.superposition.toy_sae import SAELog, evaluate_sae, feature_recovery, independent_decoder_init_
from arena_course.superposition.toy_sae import plot_resampling, plot_sae_features, plot_tradeoff, toy_model_for_sae
from arena_course.superposition.toy_sae import train_sae

SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions" / "1_superposition"
HERE = chapter_file(SOLUTIONS, "jumprelu_sae")  # load_sibling finds the exercises next to it
STEPS = 2000
N_INST = 8


def _png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert len(data) > 5_000, f"suspiciously small PNG ({len(data)} bytes)"


@pytest.fixture(scope="module")
def model(seed):
    """The results' toy model: 5 features of probability 0.025 in 2 dimensions, in N_INST copies."""
    return toy_model_for_sae(
        load_sibling(HERE, "toy_model_forward").ToyModel,
        load_sibling(HERE, "generate_batch").generate_batch,
        load_sibling(HERE, "importance_weighted_loss").importance_weighted_loss,
        N_INST,
        seed=seed,
        progress=False,
    )


def _data(model):
    sae_training_data = load_sibling(HERE, "sae_training_data").sae_training_data
    return lambda batch_size: sae_training_data(model, batch_size)


def test_toy_model_is_a_pentagon(model):
    W = model.W[0]
    norms = W.norm(dim=0)
    assert ((norms > 0.8) & (norms < 1.4)).all(), f"expected 5 features of norm ≈ 1, got {norms.tolist()}"
    angles = torch.atan2(W[1], W[0]).rad2deg().sort().values
    gaps = torch.diff(torch.cat([angles, angles[:1] + 360]))
    assert (gaps - 72).abs().max() < 8, f"expected a pentagon, got gaps {gaps.tolist()}"


def test_section4_sae_finds_the_features(model, seed):
    ToySAE = load_sibling(HERE, "sae_forward").ToySAE
    torch.manual_seed(seed)
    sae = ToySAE(N_INST, 2, 5)
    log = train_sae(sae, _data(model), sparsity_coeff=0.2, steps=STEPS, progress=False)
    tied = (feature_recovery(sae.W_dec_normalized, model.W) >= 0.99).sum(-1)
    # Seeds 0-5: all 5 features in 5 to 8 of the 8 instances (2 in the others), at most 1 dead latent in all.
    assert int((tied == 5).sum()) >= N_INST // 2, f"features found per instance: {tied.tolist()}"
    assert int(log.dead.sum()) <= N_INST // 4, f"dead latents per instance: {log.dead.sum(-1).tolist()}"

    torch.manual_seed(seed)
    sae = independent_decoder_init_(ToySAE(N_INST, 2, 5))
    log = train_sae(sae, _data(model), sparsity_coeff=0.2, steps=STEPS, progress=False)
    independent = (feature_recovery(sae.W_dec_normalized, model.W) >= 0.99).sum(-1)
    assert int(log.dead.sum()) >= N_INST // 2, (
        f"with an independent decoder init, expected dead latents in most instances; got {log.dead.sum(-1).tolist()}"
    )
    assert float(tied.float().mean()) >= float(independent.float().mean()) + 1.0, (
        f"features found: tied init {tied.tolist()}, independent init {independent.tolist()}"
    )


def test_section5_resampling_revives_latents(model, seed):
    ToySAE = load_sibling(HERE, "sae_forward").ToySAE
    resample_simple = load_sibling(HERE, "resample_simple").resample_simple
    resample_advanced = load_sibling(HERE, "resample_advanced").resample_advanced
    data = _data(model)
    methods = {
        "none": None,
        "simple": lambda sae, frac: resample_simple(sae, frac, resample_scale=0.5),
        "advanced": lambda sae, frac: resample_advanced(sae, data(1024), frac, resample_scale=0.2),
    }
    found, dead = {}, {}
    for name, resample in methods.items():
        torch.manual_seed(seed + 2)
        sae = independent_decoder_init_(ToySAE(N_INST, 2, 5))
        log = train_sae(sae, data, sparsity_coeff=0.2, steps=STEPS, resample=resample, progress=False)
        found[name] = float((feature_recovery(sae.W_dec_normalized, model.W) >= 0.99).sum(-1).float().mean())
        dead[name] = int(log.dead.sum())
        if resample is not None:
            assert sum(log.n_resampled) > 0, f"{name}: nothing was resampled"
    assert dead["none"] >= 4, f"dead latents at the end: {dead}"
    for name in ["simple", "advanced"]:
        assert dead[name] <= dead["none"] // 2, f"dead latents at the end: {dead}"
        assert found[name] >= found["none"] + 1.0, f"features found (mean of 5): {found}"


def test_section6_jumprelu_beats_relu(model, seed):
    ToySAE = load_sibling(HERE, "sae_forward").ToySAE
    JumpReLUToySAE = load_sibling(HERE, "jumprelu_sae").JumpReLUToySAE
    data = _data(model)
    results = {}
    for name, cls, coeffs in [
        ("relu", ToySAE, torch.tensor([0.2, 0.3] * (N_INST // 2))),
        ("jumprelu", JumpReLUToySAE, torch.tensor([0.03, 0.06] * (N_INST // 2))),
    ]:
        torch.manual_seed(seed)
        sae = cls(N_INST, 2, 5)
        train_sae(sae, data, sparsity_coeff=coeffs, steps=STEPS, progress=False)
        results[name] = evaluate_sae(sae, data, coeffs)
    relu_l0, relu_mse = results["relu"]["L0"].median(), results["relu"]["mse"].median()
    jump_l0, jump_mse = results["jumprelu"]["L0"].median(), results["jumprelu"]["mse"].median()
    assert abs(float(jump_l0 - relu_l0)) < 0.04, f"L0: ReLU {relu_l0:.3f}, JumpReLU {jump_l0:.3f} (expected similar)"
    assert jump_mse < relu_mse / 3, f"MSE at similar L0: ReLU {relu_mse:.2e}, JumpReLU {jump_mse:.2e}"


def test_plots_write_pngs(tmp_path):
    torch.manual_seed(0)
    steps = list(range(0, 100, 10))
    log = SAELog(steps=steps, dead_fraction=torch.rand(10, 3) * 0.4, resample_steps=[30, 60], n_resampled=[1, 0],
                 dead=torch.rand(3, 5) < 0.3)
    W = torch.randn(3, 2, 5)
    path = plot_sae_features(W, {"a": (torch.randn(3, 5, 2), log), "b": (torch.randn(3, 5, 2), log)}, tmp_path / "x" / "f.png")
    assert path == tmp_path / "x" / "f.png"
    _png(path)
    _png(plot_resampling({"none": log, "simple": log}, {"none": torch.rand(3, 5), "simple": torch.rand(3, 5)}, tmp_path / "r.png"))
    points = {"ReLU": (torch.tensor([0.1, 0.2]), torch.tensor([0.1, 0.2]), torch.tensor([1e-3, 1e-4]))}
    _png(plot_tradeoff(points, tmp_path / "t.png", true_l0=0.125))
    with pytest.raises(ValueError, match="d_in"):
        plot_sae_features(torch.randn(2, 3, 5), {"a": (torch.randn(2, 5, 3), log)}, tmp_path / "bad.png")


def test_feature_recovery():
    # feature_recovery: a decoder row exactly along a feature gives cosine 1 for it.
    W = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # features along x and y
    W_dec = torch.tensor([[[0.0, 1.0], [math.sqrt(0.5), math.sqrt(0.5)]]])
    rec = feature_recovery(W_dec, W)
    assert torch.allclose(rec, torch.tensor([[math.sqrt(0.5), 1.0]]), atol=1e-6), rec
