"""Predict: the |x| model's neurons, dense and sparse
==================================================

Difficulty: 2/5    Importance: 4/5    Time: ~5 minutes    (a question: predict, then look)

Source: Elhage et al. 2022, "Toy Models of Superposition", section "Computation in Superposition"
(https://transformer-circuits.pub/2022/toy_model/index.html).

Before you run this section's result (`arena results`), commit to a prediction of its plot.

The result trains the |x| model (exercise 9) on 20 signed features (importance 0.9^i) with 10 ReLU
neurons, one instance per sparsity S = 0, 0.7, 0.9, 0.97, 0.99. The bottom row of
results/superposition/neurons.png draws, for each neuron, its input weights W1[n, :] as a stacked
bar, one colour per feature: a one-colour bar is a neuron that responds to a single feature
(monosemantic), a many-colour bar a neuron shared by several (polysemantic). Which describes the
leftmost panel (S = 0: every feature present in every example) and the rightmost (S = 0.99)?

    A. Dense: 5 features computed, each by two neurons with input weights of opposite sign, every
       bar one colour. Sparse: more features than neurons, and bars of many colours.
    B. Dense: 10 features computed, one neuron each, every bar one colour. Sparse: all 20
       features, and bars of many colours.
    C. Dense: all 20 features, each neuron shared by two of them with opposite signs (two colours
       per bar). Sparse: one colour per bar, since features rarely meet.
    D. Dense: 5 features computed, each by two neurons with input weights of opposite sign, every
       bar one colour. Sparse: the same, since |x| can't be computed in superposition.

Write your answer as a letter below, then `arena run` this question. The explanation comes once it
passes; `arena results` then shows your answer beside the plot.
"""

ANSWER = None  # one of "A", "B", "C", "D"
