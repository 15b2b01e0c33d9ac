"""Hidden test for question 14q: the country_capital FV decodes to capital cities, many of them (the task's
output space), not to the queries, one answer, or the format."""

from arena_cli.testing import check_answer


def test_answer(student):
    """Your prediction"""
    check_answer(student.ANSWER, "B", wrong={
        "A": (
            "The heads' outputs are averaged over prompts with different queries: no one country survives the "
            "average. And what the FV is for is the next token, the answer: the heads that carry the task write "
            "towards the answers' side of the vocabulary, not back towards the input."
        ),
        "C": (
            "There is no single query: the FV is a mean over 20 prompts, each with its own country, and it is added "
            "to prompts it was never extracted from. It can only hold what those prompts share: the kind of "
            "answer, not one answer (the query of the prompt it is added to picks which capital)."
        ),
        "D": (
            "The format is shared by the clean prompts and by the corrupted ones of exercise 08 alike, so the heads "
            "chosen by causal effect are the ones whose output restores the TASK, not the format. What their sum "
            "promotes is the task's kind of answer."
        ),
    })
