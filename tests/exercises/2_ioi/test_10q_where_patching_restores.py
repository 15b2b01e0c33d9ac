"""Hidden test for question 10q: where residual-stream patching (clean -> corrupted) restores the answer."""

from arena_cli.testing import check_answer


def test_answer(student):
    """Your prediction"""
    check_answer(student.ANSWER, "C", wrong={
        "A": (
            "The names are there, but they are the same names in both runs: the corruption changes only the S2 "
            "token. Every token before S2 is identical in the clean and corrupted prompts, and the model is "
            "causal, so the residual stream at S1 and IO is identical in the two runs, at every layer. Patching "
            "it copies a value onto itself: exactly 0. Patching restores only where the two runs differ."
        ),
        "B": (
            "At the first layers the end position holds little more than the embedding of ' to', the same "
            "token in both runs (at layer 0 it is exactly the same vector: the patch changes nothing). The end "
            "position only comes to differ, and to matter, once some layer's heads have read the name at S2 "
            "and moved what they found to the end. Before that layer, what decides the answer is still at S2, "
            "where later heads will read it."
        ),
        "D": (
            "Patching S2 at layer L only changes what layers L and later read from S2. Once the heads that "
            "read S2 from the end position have run, nothing later reads S2 for the answer: patching it after "
            "them is too late, while the end position, which now carries what they moved, restores. "
            "Information moves between positions only through attention, and in the last layers it sits at "
            "the end, where the logits are read."
        ),
    })
