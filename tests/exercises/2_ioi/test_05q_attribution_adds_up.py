"""Hidden test for question 05q: the components' direct attributions sum to the final residual stream's."""

from arena_cli.testing import check_answer


def test_answer(student):
    """Your prediction"""
    check_answer(student.ANSWER, "C", wrong={
        "A": (
            "The LayerNorm is non-linear in the residual stream as a whole, but the attribution does not run it: "
            "it takes the scale from the cache (the one the forward pass computed, from the whole residual "
            "stream) and divides every component by that same number. Centring (subtracting the mean over "
            "d_model) is linear too. With the scale frozen, 'LayerNorm then project' is a linear map, and a "
            "linear map of a sum is the sum of the maps."
        ),
        "B": (
            "Direct attribution counts only the direct path: a component's vector as it sits in the final "
            "residual stream, projected on the answer direction. What it does by changing later heads' inputs "
            "is not in its bar; it shows up, if anywhere, in the bars of those later heads, once. Nothing is "
            "counted twice, and that indirect effect is exactly what this method misses (the next sections "
            "measure it with patching)."
        ),
        "D": (
            "They measure the same kind of thing on the same vectors: the final residual stream is, exactly, "
            "the embeddings plus every attention output plus every MLP output (what decompose_resid returns). "
            "Both panels are the same linear map applied to those vectors, summed or not."
        ),
    })
