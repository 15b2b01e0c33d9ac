"""Predict: what the decoder's initialisation does
===============================================

Difficulty: 3/5    Importance: 4/5    Time: ~6 minutes    (a question: predict, then look)

Source: Bricken et al. 2023, "Towards Monosemanticity", section "Setup: Sparse Autoencoders"
(https://transformer-circuits.pub/2023/monosemantic-features).

Before you run this section's result (`arena results`), commit to a prediction.

The result trains 8 SAEs (5 latents each, L1 coefficient 0.2, 3000 steps) on the pentagon's 2D
hidden activations, twice: once initialised as you wrote in exercise 15 (the decoder starts as
W_encᵀ), once with the decoder drawn independently of the encoder, everything else the same. With
W_dec = W_encᵀ at the start, every one of the 8 SAEs ends with each latent on one of the 5 features.
What do the 8 SAEs started with an independent decoder show?

    A. The same picture: the losses and the data are the same, so training ends at the same
       solution; the initialisation only changes the path there.
    B. All latents stay alive and head for the features, but more slowly: after 3000 steps their
       directions are still some degrees off the features.
    C. A better picture: directions drawn independently cover the plane more evenly from the start,
       so the latents reach the 5 features sooner.
    D. In most of them, latents stop firing early and never fire again; the ones left have to
       share the 5 features, so fewer features are found.

Write your answer as a letter below, then `arena run` this question. The explanation comes once it
passes; `arena results` then shows your answer beside the plot.
"""

ANSWER = None  # one of "A", "B", "C", "D"
