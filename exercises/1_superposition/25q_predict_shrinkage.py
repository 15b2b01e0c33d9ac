"""Predict: which SAE shrinks its reconstructions?
===============================================

Difficulty: 2/5    Importance: 4/5    Time: ~5 minutes    (a question: predict, then look)

Source: Rajamanoharan et al. 2024a, "Improving Dictionary Learning with Gated Sparse Autoencoders"
(https://arxiv.org/abs/2404.16014).

Before you run this section's result (`arena results`), commit to a prediction.

The result trains ReLU SAEs and Gated SAEs on the pentagon's 2D activations, each kind at the same
five sparsity coefficients (from 0.06 to 0.5), and measures each SAE's L0 and its relative
reconstruction bias γ (exercise 25). Across the sweep, the two kinds cover about the same range of
L0. What does γ against L0 look like?

    A. Both kinds have γ ≈ 1 at every L0: an SAE is trained to reconstruct its inputs, so on average
       its reconstructions come out the right size, whatever its penalty.
    B. The ReLU SAEs have γ < 1, further below 1 the sparser they are (larger coefficient, smaller
       L0); the Gated SAEs have γ ≈ 1 at every L0.
    C. Both kinds have γ < 1, the Gated SAEs a little less so: the penalty is on the gate path, but
       the magnitude path shares the gate's weights W_gate, so the penalty pulls the magnitudes down
       too.
    D. The ReLU SAEs have γ < 1 by about the same amount at every L0 (the L1 penalty always costs
    the
       same share of each latent); the Gated SAEs have γ ≈ 1.

Write your answer as a letter below, then `arena run` this question. The explanation comes once it
passes; `arena results` then shows your answer beside the plot.
"""

ANSWER = None  # one of "A", "B", "C", "D"
