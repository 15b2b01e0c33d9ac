"""Hidden test for question 19q: the sparsity-reconstruction trade-off of ReLU and JumpReLU SAEs."""

from arena_cli.testing import check_answer


def test_answer(student):
    """Your prediction"""
    check_answer(student.ANSWER, "C", wrong={
        "A": "The two penalties don't only decide how many latents fire: they also act on the values of "
             "those that do. An L1 penalty charges c for every unit of activation, so the SAE pays to make "
             "each active latent smaller than the value that would reconstruct its input; an L0 penalty "
             "charges per latent, whatever its size. Same L0, different errors.",
        "B": "A pseudo-gradient is an estimate, but it only trains the thresholds; the encoder and decoder "
             "of a JumpReLU SAE learn from the reconstruction loss alone, with ordinary gradients. The "
             "ReLU SAE's exact L1 gradient is exactly what hurts it: it pulls every active latent towards "
             "0, also when the latent is right to fire.",
        "D": "The comparison is at the same L0: the same number of latents firing per input, so neither "
             "kind keeps more latents firing there. The difference is in the values of the latents that "
             "fire: under an L1 penalty they are shrunk, under an L0 penalty not.",
    })
