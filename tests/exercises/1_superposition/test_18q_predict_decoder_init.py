"""Hidden test for question 15q: what an independently drawn decoder does to the SAE's latents."""

from arena_cli.testing import check_answer


def test_answer(student):
    """Your prediction"""
    check_answer(student.ANSWER, "D", wrong={
        "A": "Training is gradient descent, not a search for the best solution: where it ends depends on "
             "where it starts. In particular, a latent whose pre-activation becomes negative on every "
             "input gets no gradient at all (the ReLU's gradient is 0 there), so nothing can move it "
             "back: the same loss, a different and worse end.",
        "B": "Slowness isn't the failure. A latent that keeps firing gets the reconstruction's gradient "
             "and does head for what it fires on; the damage is to latents that stop firing. Once a "
             "latent's pre-activation is negative on every input, the ReLU passes it no gradient, and it "
             "stays silent for the rest of training, however long.",
        "C": "Coverage of the plane isn't the problem: 5 random encoder directions in 2D already point "
             "towards some of the inputs. The problem is what a latent does when it fires: with its "
             "decoder unrelated to its encoder, it adds a direction that doesn't match the inputs it fires "
             "on, so the reconstruction loss (and the L1 penalty) push it to fire less, sometimes until "
             "it never fires.",
    })
