"""Measuring shrinkage: the relative reconstruction bias
====================================================

Difficulty: 2/5    Importance: 4/5    Time: ~10 minutes

Source: Rajamanoharan et al. 2024a, "Improving Dictionary Learning with Gated Sparse Autoencoders",
its measure of shrinkage, the relative reconstruction bias (https://arxiv.org/abs/2404.16014).

Shrinkage says the reconstructions come out too small. To measure it, ask: by what single factor
would you have to divide every reconstruction to make it fit its input best? The paper calls that
factor the relative reconstruction bias,

    γ = argmin over γ' of  E ‖ h' / γ' - h ‖²

(the expectation over inputs h, with h' the SAE's reconstruction of h). γ = 1 means the
reconstructions have the right size on average; γ < 1 means they are systematically too small
(shrunk), and dividing by γ would enlarge them; γ > 1, too large.

The minimum has a closed form: find it before you write code. (Substituting u = 1/γ' turns the
objective into a quadratic in u.) Replace the expectation by the mean over the batch; any constant
factor in front of it does not move the minimum. Each SAE instance gets its own γ, from its own
examples: sum over the batch and over d_in, keep the instance dimension.

What to write: `relative_reconstruction_bias(h, h_reconstructed)`, one γ per instance, shape
(inst,).

Then run this file: the section's result. It trains ReLU SAEs (yours, exercise 18) and Gated SAEs
(your encoder and loss, exercises 23 and 24) at several sparsity coefficients on the pentagon's
activations, and plots their reconstruction error and γ against L0 (see the end of this file).
"""

import torch
from jaxtyping import Float
from torch import Tensor


def relative_reconstruction_bias(
    h: Float[Tensor, "batch inst d_in"], h_reconstructed: Float[Tensor, "batch inst d_in"]
) -> Float[Tensor, "inst"]:
    """The relative reconstruction bias γ of each instance: the γ' minimising the batch mean of
    ‖h_reconstructed / γ' - h‖².

    Args:
        h: the inputs, (batch, inst, d_in).
        h_reconstructed: the SAE's reconstructions of them, (batch, inst, d_in).

    Returns:
        γ, shape (inst,): below 1 when the reconstructions are too small (shrunk).
    """
    raise NotImplementedError(
        "the γ that minimises the mean of ||h_reconstructed / γ - h||², one per instance"
    )


if __name__ == "__main__":
    # The section's result: reconstruction error and shrinkage (γ) against L0 for ReLU SAEs and
    # Gated SAEs, each over a range of sparsity coefficients.
    #
    # Uses your ReLU SAE (exercise 18), your training data (17), your toy model from section 1, your
    # Gated SAE's encoder (23) and loss (24), and your γ (this file). Writes
    # results/superposition/gated_shrinkage.png. About 40 s on a laptop.
    from pathlib import Path

    from arena_course.loading import load_sibling
    from arena_course.superposition.gated_sae import plot_shrinkage, sweep_sae
    from arena_course.superposition.toy_sae import toy_model_for_sae

    ToySAE = load_sibling(__file__, "sae_forward").ToySAE
    sae_training_data = load_sibling(__file__, "sae_training_data").sae_training_data
    gated_sae_encoder = load_sibling(__file__, "gated_sae_encoder")

    # your forward (exercise 24)
    class YourGatedSAE(load_sibling(__file__, "gated_sae_loss").GatedToySAE):
        encode = gated_sae_encoder.GatedToySAE.encode  # your encoder (exercise 23)

    # The same sparsity coefficients for both kinds, each twice (two random initialisations): with
    # these, the two kinds' L0s overlap, so they can be compared at the same sparsity.
    coeffs = torch.tensor([0.06, 0.1, 0.2, 0.3, 0.5]).repeat_interleave(2)
    n_inst, n_features, d_hidden, d_sae = len(coeffs), 5, 2, 5
    feature_probability = 0.025

    # Fail fast: your Gated SAE and your γ on a dummy batch, before spending seconds on the toy
    # model.
    dummy = torch.rand(16, n_inst, d_hidden)
    YourGatedSAE(n_inst, d_hidden, d_sae)(dummy, coeffs)[1].backward()
    relative_reconstruction_bias(dummy, 0.9 * dummy)

    model = toy_model_for_sae(
        load_sibling(__file__, "toy_model_forward").ToyModel,
        load_sibling(__file__, "generate_batch").generate_batch,
        load_sibling(__file__, "importance_weighted_loss").importance_weighted_loss,
        n_inst,
        n_features=n_features,
        d_hidden=d_hidden,
        feature_probability=feature_probability,
    )

    def data(batch_size: int) -> Tensor:
        return sae_training_data(model, batch_size)

    points = {}
    for name, sae_cls in [
        ("ReLU SAE (L1 on the latents)", ToySAE), ("Gated SAE (L1 on the gate)", YourGatedSAE)
    ]:
        points[name] = sweep_sae(
            lambda n: sae_cls(
                n, d_hidden, d_sae
            ), data, coeffs, relative_reconstruction_bias, description=name
        )

    true_l0 = n_features * feature_probability
    path = plot_shrinkage(
        points, Path("results/superposition/gated_shrinkage.png"), true_l0=true_l0
    )
    print(f"Wrote {path}")
    for name, p in points.items():
        print(f"  {name}:")
        for c, l0, mse, gamma in zip(
            p["coeff"].tolist(), p["L0"].tolist(), p["mse"].tolist(), p["gamma"].tolist()
        ):
            print(f"    coefficient {c:<5.2g} L0 {l0:.3f}   MSE {mse:.2e}   γ {gamma:.3f}")
    print(
        "Each point is one SAE. Right: the ReLU SAEs' γ is below 1, "
        "further below the larger the coefficient\n"
        "(the sparser the SAE): the L1 penalty shrinks every latent "
        "that fires, and the reconstructions with\n"
        "it. The Gated SAEs' γ stays at 1 (within 0.01) at every L0: "
        "their penalty reaches only the gate.\n"
        "Left: at the same L0, the Gated SAEs also reconstruct with less error."
    )
