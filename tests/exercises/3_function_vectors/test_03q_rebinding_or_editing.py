"""Hidden test for question 03q: a trace that saves without cloning and rebinds instead of editing in place."""

from arena_cli.testing import check_answer


def test_answer(student):
    """Your prediction"""
    check_answer(student.ANSWER, "C", wrong={
        "A": (
            "That is what the correct, in-place edit would do to a `before` saved without .clone(): the saved "
            "view would show the zeroed values. But `out = out * scale` is not an edit: it computes a new "
            "tensor and binds the name `out` to it. The MLP's output tensor is untouched, so `before` (a view "
            "of it) keeps the real values, and the model, which never sees the new tensor, runs as if nothing "
            "happened."
        ),
        "B": (
            "Right about `before`: nothing writes into the MLP's output tensor, so its view keeps the real "
            "values. But the same reason cuts the other way: `out = out * scale` makes a new tensor that only "
            "your code holds. The model adds the MLP's original output to the residual stream, and the logits "
            "are the clean run's."
        ),
        "D": (
            "Right about the logits: rebinding a name doesn't reach the model. But then nothing overwrote the "
            "MLP's output either: `.save()` keeps a reference to what it is called on (here a view of the "
            "original tensor), and that tensor still holds the real values. `after` is zeros (it is a slice "
            "of the new tensor); `before` is not."
        ),
    })
