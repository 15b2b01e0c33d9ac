"""Hidden test for question 11q: how many features an instance keeps when every kept one has D = 1/2."""

from arena_cli.testing import check_answer


def test_answer(student):
    """Your prediction"""
    check_answer(student.ANSWER, "B", wrong={
        "A": "10 features in 10 dimensions would each have a dimension to itself: D = 1, not 1/2. A "
             "dimensionality of 1/2 says the feature shares its direction: the denominator Σ_j (Ŵ_i·W_j)² "
             "is twice its own ‖W_i‖². And 10 features at 1/2 would use only 5 of the 10 dimensions: "
             "the dimensionalities of an instance add up to (at most) d_hidden.",
        "C": "D_i = 1/2 is each kept feature's share of a dimension, not the fraction of features kept (25 is "
             "half of the 50). The shares add up to at most d_hidden = 10 over the whole instance: 25 features "
             "at 1/2 each would need 12.5 dimensions.",
        "D": "Dropped features have D_i = 0, and the question says every feature is either kept at 1/2 "
             "or dropped. 50 features at 1/2 would add up to 25 dimensions; the instance has 10, and "
             "the dimensionalities of an instance add up to at most d_hidden.",
    })
