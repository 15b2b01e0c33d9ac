"""The result of chapter 1's Gated SAE section, at reduced scale, with the reference solutions.

`solutions/1_superposition/<NN>_relative_reconstruction_bias.py` trains ReLU and Gated SAEs on the
pentagon's activations at the same sparsity coefficients and plots reconstruction error and the
relative reconstruction bias γ against L0. What it shows, and what these tests check across seeds with
fewer instances and steps: the ReLU SAEs' reconstructions are shrunk (γ < 1), more so the larger the
coefficient; the Gated SAEs' are not (γ ≈ 1), at comparable L0; and at comparable L0 the Gated SAEs
reconstruct with less error.
"""

from pathlib import Path

import pytest
import torch

from arena_cli.layout import chapter_file
from arena_course.loading import load_sibling
from arena_course.superposition.gated_sae import measure_sae, plot_shrinkage, sweep_sae
from arena_course.superposition.toy_sae import toy_model_for_sae

SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions" / "1_superposition"
HERE = chapter_file(SOLUTIONS, "relative_reconstruction_bias")  # load_sibling finds the others next to it
STEPS = 2000
COEFFS = torch.tensor([0.1, 0.2, 0.3]).repeat_interleave(2)


@pytest.fixture(scope="module")
def sweeps(seed):
    """{"relu": ..., "gated": ...}: sweep_sae's measurements of each kind, at COEFFS, on one toy model."""
    model = toy_model_for_sae(
        load_sibling(HERE, "toy_model_forward").ToyModel,
        load_sibling(HERE, "generate_batch").generate_batch,
        load_sibling(HERE, "importance_weighted_loss").importance_weighted_loss,
        len(COEFFS),
        seed=seed,
        progress=False,
    )
    sae_training_data = load_sibling(HERE, "sae_training_data").sae_training_data
    gamma = load_sibling(HERE, "relative_reconstruction_bias").relative_reconstruction_bias
    kinds = {"relu": load_sibling(HERE, "sae_forward").ToySAE, "gated": load_sibling(HERE, "gated_sae_loss").GatedToySAE}
    return {
        name: sweep_sae(lambda n, cls=cls: cls(n, 2, 5), lambda b: sae_training_data(model, b), COEFFS, gamma,
                        steps=STEPS, seed=seed, progress=False)
        for name, cls in kinds.items()
    }


def _table(sweeps) -> str:
    return "; ".join(
        f"{name}: " + ", ".join(f"c={c:.2g} L0={l0:.3f} γ={g:.3f}" for c, l0, g in
                                zip(p["coeff"].tolist(), p["L0"].tolist(), p["gamma"].tolist()))
        for name, p in sweeps.items()
    )


def test_comparable_l0(sweeps):
    relu, gated = sweeps["relu"]["L0"], sweeps["gated"]["L0"]
    assert abs(float(relu.median() - gated.median())) < 0.05, _table(sweeps)
    assert float(gated.min()) < float(relu.max()) and float(relu.min()) < float(gated.max()), _table(sweeps)


def test_relu_shrinks_gated_does_not(sweeps):
    relu_gap = (1 - sweeps["relu"]["gamma"]).abs()
    gated_gap = (1 - sweeps["gated"]["gamma"]).abs()
    # Seed 0: ReLU γ 0.88 to 0.66, Gated γ within 0.01 of 1.
    assert (sweeps["relu"]["gamma"] < 0.95).all(), f"expected shrunk ReLU reconstructions: {_table(sweeps)}"
    assert (gated_gap < 0.03).all(), f"expected Gated γ ≈ 1: {_table(sweeps)}"
    assert float(gated_gap.max()) < float(relu_gap.min()) / 3, _table(sweeps)


def test_relu_shrinks_more_when_sparser(sweeps):
    gamma = sweeps["relu"]["gamma"]
    low, high = gamma[COEFFS == 0.1].mean(), gamma[COEFFS == 0.3].mean()
    assert float(high) < float(low) - 0.1, f"ReLU γ at c = 0.1: {low:.3f}, at c = 0.3: {high:.3f}"


def test_gated_reconstructs_better(sweeps):
    # Compared as medians: the two kinds' L0s are comparable (test_comparable_l0).
    relu, gated = sweeps["relu"]["mse"].median(), sweeps["gated"]["mse"].median()
    assert float(gated) < float(relu) / 2, f"median MSE: ReLU {relu:.2e}, Gated {gated:.2e}"


def test_measure_sae_and_plot(tmp_path):
    class Halving(torch.nn.Module):  # reconstructs h / 2 with one latent per input dimension
        def forward(self, h, coeff):
            return {}, torch.tensor(0.0), h.abs(), h / 2

    gamma = load_sibling(HERE, "relative_reconstruction_bias").relative_reconstruction_bias
    stats = measure_sae(Halving(), lambda b: torch.randn(b, 3, 2), gamma, batch_size=100)
    assert torch.allclose(stats["gamma"], torch.full((3,), 0.5)), stats["gamma"]
    assert torch.allclose(stats["L0"], torch.full((3,), 2.0)), stats["L0"]
    p = {"coeff": torch.tensor([0.1, 0.2]), "L0": torch.tensor([0.2, 0.1]), "mse": torch.tensor([1e-4, 1e-3]),
         "gamma": torch.tensor([0.9, 0.7])}
    path = plot_shrinkage({"ReLU": p, "Gated": {**p, "gamma": torch.tensor([1.0, 1.0])}}, tmp_path / "g.png",
                          true_l0=0.125)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
