"""Hidden test for question 22q: which SAE's reconstructions are shrunk (γ < 1), and how it depends on L0."""

from arena_cli.testing import check_answer


def test_answer(student):
    """Your prediction"""
    check_answer(student.ANSWER, "B", wrong={
        "A": "Reconstructing well is one term of the loss; the penalty is the other. An L1 penalty on the latents "
             "charges for every unit of a firing latent's value, so the ReLU SAE settles on values smaller than "
             "the ones that reconstruct best: its reconstructions are too small on average.",
        "C": "Sharing W_gate shares the directions the two paths read, not the values they report: the magnitude "
             "path has its own scale exp(r_mag) and bias b_mag, which the penalty on ReLU(pi_gate) never reaches. "
             "They can always set a firing latent to its full size.",
        "D": "The L1 penalty shrinks each firing latent by about the coefficient c itself, not by a fixed share: "
             "a latent that should be r comes out near r - c. A larger coefficient (a sparser SAE, smaller L0) "
             "means more shrinkage, so the ReLU SAEs' γ falls as L0 falls.",
    })
