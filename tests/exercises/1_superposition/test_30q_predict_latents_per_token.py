"""Hidden test for question 24q: an SAE's L0 from its latents' firing fractions."""

from arena_cli.testing import check_answer


def test_answer(student):
    """Your prediction"""
    check_answer(student.ANSWER, "C", wrong={
        "A": "0.043 is the average per latent: the chance that one given latent fires on a token. A token "
             "has 128 latents that may each fire on it, and the number that do adds up their chances.",
        "B": "The firing fractions are not a distribution over latents that sums to 1, as if each token "
             "picked one latent: each latent fires or not on its own, and a token usually has several "
             "firing. Their sum can be anything from 0 to 128.",
        "D": "Which latents fire together matters for other questions (how often two of them co-fire), not "
             "for this one: the number of latents firing on a token is a sum of 128 indicators, and the "
             "mean of a sum is the sum of the means, whatever the dependence between them.",
    })
