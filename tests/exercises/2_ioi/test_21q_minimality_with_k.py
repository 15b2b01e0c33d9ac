"""Hidden test for question 21q: a head whose minimality score is small alone and large once its class (K)
is removed backs up its classmates (redundancy, the reason the paper's K sets exist)."""

from arena_cli.testing import check_answer


def test_answer(student):
    """Your interpretation"""
    check_answer(student.ANSWER, "B", wrong={
        "A": (
            "The score is a difference, |F(C \\ (K ∪ {v})) - F(C \\ K)|, measured from the broken circuit "
            "C \\ K, not from C: whatever damage removing K did is already in both terms and cancels. What "
            "is left is what v itself does in that circuit. A broken circuit has less logit difference left "
            "to lose, not more; and a head that did nothing would leave F unchanged with or without K."
        ),
        "C": (
            "Composition gives the opposite pattern. If the classmates needed v's output, removing v alone "
            "would already hurt (they would lose their input: a large outline), and once they are gone there "
            "would be nobody left to feed (a small bar). Small alone and large without the others is the "
            "signature of heads that do the same thing and can stand in for each other."
        ),
    })
