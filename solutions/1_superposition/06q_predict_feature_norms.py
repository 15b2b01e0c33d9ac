"""Predict: 20 features in 5 dimensions, from dense to sparse
==========================================================

Difficulty: 2/5    Importance: 4/5    Time: ~5 minutes    (a question: predict, then look)

Source: Elhage et al. 2022, "Toy Models of Superposition", section "Demonstrating Superposition"
(https://transformer-circuits.pub/2022/toy_model/index.html).

Before you run this section's result (`arena results`), commit to a prediction of its main plot.

The result trains the toy model with 20 features (importance 0.9^i: feature 0 the most important) in
5 dimensions, one instance per sparsity S = 0, 0.7, 0.9, 0.97, 0.99, 0.997, and draws
results/superposition/feature_norms.png: one panel per instance, one bar per feature, its length
‖W_i‖ (≈ 1: the feature is stored; ≈ 0: dropped), its colour the interference Σ_{j≠i} (Ŵ_i · W_j)²
from exercise 6 (dark: the feature has a direction to itself; bright: it shares its direction with
others). Which describes the panels, from dense (left) to sparse (right)?

    A. All 20 features kept in every panel; as S grows the bars get shorter (‖W_i‖ shrinks), since
       a feature that is rarely present matters little to the loss.
    B. 5 features kept in every panel, each alone in a dimension (dark): 5 dimensions hold only 5
       directions that don't interfere, whatever the sparsity.
    C. Dense: the 5 most important features kept, each alone (dark). Sparser: more and more
       features kept, up to all 20, and the bars turn bright.
    D. Dense: all 20 features kept, squeezed together (bright). Sparser: fewer kept, as rare
    features
       give too few examples to learn from, and those left turn dark.

Write your answer as a letter below, then `arena run` this question. The explanation comes once it
passes; `arena results` then shows your answer beside the plot.
"""

# SOLUTION
ANSWER = "C"
# END SOLUTION
# EXERCISE
# ANSWER = None  # one of "A", "B", "C", "D"
# END EXERCISE
