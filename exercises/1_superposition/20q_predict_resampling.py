"""Predict: random or loss-weighted resampling?
============================================

Difficulty: 2/5    Importance: 3/5    Time: ~5 minutes    (a question: predict, then look)

Source: Bricken et al. 2023, "Towards Monosemanticity", appendix "Autoencoder Dead Neuron
Resampling"
(https://transformer-circuits.pub/2023/monosemantic-features/index.html#appendix-autoencoder-resampling).

Before you run this section's result (`arena results`), commit to a prediction.

The result trains 16 SAEs (5 latents each) on the pentagon's 2D activations, started with an
independent decoder so that latents die, three times: without resampling, with your random-direction
resampling (exercise 19) and with your loss-weighted resampling (exercise 20), and counts how many
of the 5 features each SAE finds. Which describes what it shows, and what you would see with an SAE
on a language model's residual stream (d_in in the hundreds or thousands) instead?

    A. Here: loss-weighted resampling finds clearly more features than random directions do, which
       find hardly more than no resampling. On a language model: the same gap.
    B. Here: both resampling methods find about as many features as each other, far more than no
       resampling. On a language model: loss-weighted resampling does much better than random.
    C. Here: both revive the dead latents but find no more features than no resampling, as the
       revived latents land on features already covered. On a language model: the same.
    D. Here: both resampling methods find about as many features as each other, far more than no
       resampling. On a language model: the same, as any fresh latent drifts to a feature in time.

Write your answer as a letter below, then `arena run` this question. The explanation comes once it
passes; `arena results` then shows your answer beside the plot.
"""

ANSWER = None  # one of "A", "B", "C", "D"
