"""Hidden test for question 02q: the logit difference of a prompt whose P(IO) is 0.60 and P(S) 0.20."""

import math

from arena_cli.testing import check_number


def test_answer(student):
    """Your prediction"""
    check_number(
        student.ANSWER, math.log(0.60 / 0.20), tolerance=0.05,
        too_low=(
            "Too low. If you answered 0.40, that is P(IO) - P(S), a difference of probabilities; "
            "the logit difference is a difference of logits, and a logit is a log-probability plus a constant "
            "shared by every token (log of the softmax's normaliser). If you answered about 0.48, you took "
            "log10 of the ratio: logits are natural logarithms. If you brought the 0.20 spread over other tokens "
            "into it: that constant is the same for both names, so the rest of the vocabulary cancels."
        ),
        too_high=(
            "Too high. If you answered 3, that is the ratio P(IO) / P(S), not yet the logit difference: a logit "
            "is a log-probability plus a constant shared by every token (the softmax's normaliser), so what "
            "separates two logits is a difference of log-probabilities."
        ),
    )
