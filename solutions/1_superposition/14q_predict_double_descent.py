"""Predict: where is the test loss highest?
========================================

Difficulty: 2/5    Importance: 4/5    Time: ~5 minutes    (a question: predict, then look)

Source: Henighan et al. 2023, "Superposition, Memorization, and Double Descent"
(https://transformer-circuits.pub/2023/toy-double-descent/index.html).

Before you run this section's result (`arena results`), commit to a prediction.

The result trains the toy model (200 features, 2 hidden dimensions, each feature present with
probability 0.02, examples of unit length) on fixed training sets of T examples, T from 3 to 1000,
and measures the loss on fresh examples it never saw (the test loss). For reference: a model that
outputs 0 for every example has loss exactly 1, since every example has unit length.

Where is the test loss highest?

    A. At the smallest sets (T = 3 to 10): the model has seen almost nothing.
    B. At the largest sets (T = 1000): there are the most examples to fit into 2 dimensions.
    C. In between (T around 50 to 200), and lower on both sides.
    D. Nowhere in particular: it falls steadily as T grows, as more data always helps.

Write your answer as a letter below, then `arena run` this question. The explanation comes once it
passes; `arena results` then shows your answer beside the plot.
"""

# SOLUTION
ANSWER = "C"
# END SOLUTION
# EXERCISE
# ANSWER = None  # one of "A", "B", "C", "D"
# END EXERCISE
