"""Hidden test for question 10q: what the |x| model's per-neuron weights look like, dense and sparse."""

from arena_cli.testing import check_answer


def test_answer(student):
    """Your prediction"""
    check_answer(student.ANSWER, "A", wrong={
        "B": "One neuron per feature looks economical, but a ReLU neuron is one-sided: ReLU(w·x_i) is 0 "
             "for every x_i of the other sign, so one neuron gives ReLU(x_i) or ReLU(-x_i), half of |x_i|, "
             "never all of it. With every feature present in every example there is no room for sharing, "
             "and computing 5 features exactly, with a pair of neurons each, beats computing half of 10 "
             "(the features are ordered by importance).",
        "C": "Backwards. Dense, two features that share a neuron are both present in every example, so "
             "the neuron always mixes them: the interference costs on every example. Sharing pays only "
             "when features are rarely present together, at the sparse end.",
        "D": "The dense half is right. But the point of this model (and of the paper's section) is that "
             "computation, not just storage, happens in superposition: with sparse inputs a neuron can "
             "serve several features, because it rarely sees two of them at once, and the output weights "
             "and bias sort out which one it was.",
    })
