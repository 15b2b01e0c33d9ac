"""Predict: ReLU against JumpReLU, sparsity against reconstruction
===============================================================

Difficulty: 2/5    Importance: 4/5    Time: ~5 minutes    (a question: predict, then look)

Source: Rajamanoharan et al. 2024, "Jumping Ahead: Improving Reconstruction Fidelity with JumpReLU
Sparse Autoencoders" (https://arxiv.org/abs/2407.14435).

Before you run this section's result (`arena results`), commit to a prediction.

The result trains ReLU SAEs over a range of L1 coefficients and JumpReLU SAEs over a range of L0
coefficients, all on the pentagon's 2D activations, and plots each SAE as a point: its L0 (latents
active per input) across, its reconstruction error (MSE) up, one curve per kind of SAE. How do the
two curves compare?

    A. They lie on top of each other: at a given L0 both kinds reconstruct equally well; the
       penalty only decides which coefficient lands where along the curve.
    B. The ReLU curve lies lower: the L1 penalty is smooth and gives every latent an exact gradient,
       while the JumpReLU thresholds learn from a rough pseudo-gradient.
    C. The JumpReLU curve lies lower: at the same L0 it reconstructs with less error, because the
       latents that fire are not made smaller by the penalty.
    D. The JumpReLU curve lies lower: at the same L0 it reconstructs with less error, because its
       learned thresholds let it keep more latents firing on each input.

Write your answer as a letter below, then `arena run` this question. The explanation comes once it
passes; `arena results` then shows your answer beside the plot.
"""

# SOLUTION
ANSWER = "C"
# END SOLUTION
# EXERCISE
# ANSWER = None  # one of "A", "B", "C", "D"
# END EXERCISE
