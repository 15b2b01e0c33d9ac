"""Hidden test for question 10q: a large causal indirect effect shows that a head's mean output carries the
task (what the clean prompts share and the corrupted ones lack)."""

from arena_cli.testing import check_answer


def test_answer(student):
    """Your interpretation"""
    check_answer(student.ANSWER, "C", wrong={
        "A": (
            "The patched value is a MEAN over prompts with different queries: it cannot hold any one prompt's "
            "query word (the queries average out). And the corrupted prompts still contain their own query; "
            "shuffling the examples' answers doesn't remove it, so there is nothing of the kind to restore."
        ),
        "B": (
            "The corrupted prompts have exactly the clean prompts' format: the same Q:/A: lines, the same "
            "newlines, the same number of examples. Only which answer goes with which example is shuffled. "
            "What the patch restores must be something the clean prompts have and the corrupted ones lack."
        ),
        "D": (
            "The effect measures what putting the head's clean mean INTO a corrupted run restores, not what "
            "taking the head out of a clean run destroys. The two can differ: other heads may carry the task "
            "too and make up for an ablated one (as backup heads do in the IOI circuit), so a head with a "
            "large effect need not be necessary, and the experiment doesn't test it."
        ),
    })
