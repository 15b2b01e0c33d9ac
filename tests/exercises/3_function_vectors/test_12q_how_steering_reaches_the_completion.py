"""Hidden test for question 12q: an edit at the first positions reaches later positions only through
attention (in the prompt's pass, and from the key/value cache while generating)."""

from arena_cli.testing import check_answer


def test_answer(student):
    """Your interpretation"""
    check_answer(student.ANSWER, "B", wrong={
        "A": (
            "The residual stream of a position carries it from one block to the next at that SAME position. "
            "It never moves anything sideways, from position 1 to position 7: in a transformer only attention "
            "mixes positions. Without a head reading the first positions, the edited vectors would reach the "
            "unembedding only at the first positions, whose predictions nobody samples."
        ),
        "C": (
            "An MLP works on each position separately: the MLPs at the first positions change only those "
            "positions' residual streams. The logits the completion comes from are read at the last position, "
            "and nothing gets there from the first positions except through attention."
        ),
    })
