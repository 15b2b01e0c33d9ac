"""Predict: how many features sit on the digon plateau?
====================================================

Difficulty: 2/5    Importance: 4/5    Time: ~5 minutes    (a question: predict, then look)

Source: Elhage et al. 2022, "Toy Models of Superposition", section "The Geometry of Superposition",
subsection "Feature Dimensionality" (https://transformer-circuits.pub/2022/toy_model/index.html).

Before you run this section's result (`arena results`), commit to a prediction.

The result trains 50 equally important features in 10 dimensions, one instance per sparsity, and
plots every feature's dimensionality D_i (exercise 11) against 1/(1 - S). Over a range of moderate
sparsities the plot has a plateau: in those instances every feature the model keeps has D_i ≈ 1/2,
and every other feature is dropped (W_i ≈ 0, so D_i = 0).

How many of the 50 features does one of those instances keep (store with ‖W_i‖ ≈ 1)?

    A. 10
    B. 20
    C. 25
    D. 50

Write your answer as a letter below, then `arena run` this question. The explanation comes once it
passes; `arena results` then shows your answer beside the plot.
"""

ANSWER = None  # one of "A", "B", "C", "D"
