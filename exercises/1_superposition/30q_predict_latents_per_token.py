"""Predict: from firing fractions to latents per token
===================================================

Difficulty: 2/5    Importance: 3/5    Time: ~4 minutes    (a question: predict, then look)

Source: Bricken et al. 2023, "Towards Monosemanticity"
(https://transformer-circuits.pub/2023/monosemantic-features), its feature-density histograms.

Before you run this section's result (`arena results`), commit to a prediction.

Exercise 26 measured each latent's activation probability: the fraction f_j of tokens on which
latent j fires. The result draws them as a histogram, and its title also reports the SAE's L0: how
many latents fire on a token, on average. Suppose an SAE has 128 latents, and over the tokens of the
batch their firing fractions f_j average 0.043 (a few of them are 0: dead). What is its L0?

    A. About 0.043
    B. 1
    C. About 5.5
    D. It can't be known from the f_j alone: it depends on which latents fire together.

Write your answer as a letter below, then `arena run` this question. The explanation comes once it
passes; `arena results` then shows your answer beside the plot.
"""

ANSWER = None  # one of "A", "B", "C", "D"
