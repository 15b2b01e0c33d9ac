"""Hidden test for question 14q: which of eight heads of GPT-2 small's IOI circuit have a large direct effect
towards IO (Wang et al. 2022, Section 3: the name movers 9.9, 9.6, 10.0)."""

from arena_cli.testing import check_set

_MOVER = (
    "is missing: at the end position it attends to IO and its OV circuit copies that name straight into "
    "the final residual stream. With its output from the ABC run, that push towards IO is gone and the "
    "logit difference drops: a large direct effect, the mark of a name mover."
)
_STS = (
    "is not among them: what it writes at the end position is read by the layer 9-10 heads' queries, so "
    "its effect on the answer goes through them. Path patching to the logits freezes those heads at their "
    "IOI values: only its own vector, read directly by the unembedding, changes, and that vector says "
    "little about either name. Its large effect shows in the second plot (sender -> the name movers' "
    "queries): it is an S-inhibition head."
)
_NEG = (
    "is not among them: it attends to IO too, but its OV circuit writes minus the name it reads: on "
    "IOI prompts it pushes the IO's logit DOWN. Taking that away (its output from the ABC run) raises the "
    "logit difference: its cell is above 0, not below. The paper calls these negative name movers."
)


def test_answer(student):
    """Your prediction"""
    check_set(
        student.ANSWER,
        {(9, 9), (9, 6), (10, 0)},
        missing={head: f"{head} {_MOVER}" for head in [(9, 9), (9, 6), (10, 0)]},
        extra={
            (10, 7): f"(10, 7) {_NEG}",
            (11, 10): f"(11, 10) {_NEG}",
            (7, 9): f"(7, 9) {_STS}",
            (8, 6): f"(8, 6) {_STS}",
            (5, 5): (
                "(5, 5) is not among them: it acts at S2, not at the end position where the logits are read. "
                "What it writes at S2 reaches the answer only if later heads carry it to the end, and path "
                "patching to the logits freezes those heads: its direct effect is about 0. It is an induction "
                "head, two steps upstream (it feeds the S-inhibition heads)."
            ),
        },
    )
