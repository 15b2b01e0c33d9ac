"""Hidden test for question 06q: what feature_norms.png shows as sparsity grows."""

from arena_cli.testing import check_answer


def test_answer(student):
    """Your prediction"""
    check_answer(student.ANSWER, "C", wrong={
        "A": "Rarity does shrink what a feature is worth (its error counts only on the fraction p of "
             "examples where it is present), but it shrinks what sharing costs faster still: interference "
             "hurts only when two features are present together, about p² of the examples. So sparsity "
             "makes room for more features, not fewer. And the model doesn't store features faintly: a "
             "kept feature needs ‖W_i‖ ≈ 1 to reconstruct its value; the others are dropped outright.",
        "B": "That is the linear answer (keep the top 5 directions, like PCA), and it is what the dense "
             "panel shows. But the model has a ReLU and a bias after Wᵀ: when features are sparse, the "
             "small amount another feature leaks into feature i's readout mostly arrives while x_i = 0, "
             "and a negative bias with the ReLU cuts it off. Nearly orthogonal directions then suffice, "
             "and 5 dimensions hold many more than 5 of them.",
        "D": "Backwards. Dense features are all present in every example, so any overlap between two "
             "directions costs on every example: the model can't afford to share and keeps only as many "
             "features as it has dimensions. Nor does rarity starve it of examples: every step draws a "
             "fresh batch of 1024. Sparsity is what makes sharing cheap (two features at once is rare).",
    })
