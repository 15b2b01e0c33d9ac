"""Hidden test for question 14q: where the test loss peaks across training-set sizes."""

from arena_cli.testing import check_answer


def test_answer(student):
    """Your prediction"""
    check_answer(student.ANSWER, "C", wrong={
        "A": "With 3 to 10 examples the model memorises them, and on a fresh example it outputs nearly 0 (the "
             "memorised directions rarely match): a test loss close to 1, the loss of outputting nothing. "
             "Knowing little costs little here; what costs is confidently wrong output.",
        "B": "With 1000 examples each feature appears in about 20 of them, enough for the model to learn a few "
             "features (a polygon in its 2 dimensions) rather than the examples. Features carry over to fresh "
             "examples: the test loss is at its lowest, below 1.",
        "D": "That is the classical picture, and it fails here: between memorising examples and learning "
             "features there is a range of T where the model does neither well, and its test loss rises above "
             "the loss of outputting nothing. That rise and fall is the 'double descent'.",
    })
