"""Hidden test for question 07q: h patched at the last block replaces the very state the logits are read
from, so every zero-shot prompt gets the same prediction."""

from arena_cli.testing import check_answer


def test_answer(student):
    """Your prediction"""
    check_answer(student.ANSWER, "C", wrong={
        "A": (
            "h is an average over ICL prompts with different queries. What they share is the task; what each "
            "one's answer is depends on its own query, and the average washes that out. At an earlier block "
            "that is fine: the blocks after it still read the zero-shot prompt's own query (at its own "
            "position) and combine it with the task. After the last block nothing reads anything any more: "
            "the patched vector IS what the unembedding reads, and it no longer knows which query this is."
        ),
        "B": (
            "There is no block left, but the logits themselves are read from that state: the last block's "
            "output at the last position goes through the final LayerNorm and the unembedding, and that is "
            "the prediction. Replacing it replaces the prediction outright."
        ),
    })
