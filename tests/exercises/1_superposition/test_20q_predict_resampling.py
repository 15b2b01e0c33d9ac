"""Hidden test for question 17q: random against loss-weighted resampling, in 2D and in a language model."""

from arena_cli.testing import check_answer


def test_answer(student):
    """Your prediction"""
    check_answer(student.ANSWER, "B", wrong={
        "A": "That is the right picture for a language model, not for this toy. Here the activations live "
             "in a plane: no direction is more than 36° from one of the pentagon's 5 features, so a "
             "random fresh latent fires on inputs of some feature at once and gets pulled onto it. Random "
             "directions do about as well as aiming at badly reconstructed inputs.",
        "C": "A revived latent that lands on a feature already covered may die again, but not every one "
             "does: the dead latents left features uncovered (the live ones were stretched between "
             "features), and a fresh latent near one of those has a feature to itself, which lowers the "
             "reconstruction loss. So resampling does find more features, not only more live latents.",
        "D": "The toy half is right, but a fresh random direction in hundreds or thousands of dimensions "
             "is nearly orthogonal to every feature: it fires on almost nothing, or on a blur of "
             "everything, and tends to die again before it drifts anywhere. Aiming it at an input the "
             "SAE reconstructs badly points it at something the SAE is missing, which is why Anthropic "
             "resample that way.",
    })
