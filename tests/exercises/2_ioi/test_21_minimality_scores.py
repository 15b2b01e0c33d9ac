r"""Hidden test for exercise 21: minimality scores |F(C \ (K ∪ {v})) - F(C \ K)|.

First on a hand-made F with a backup pair (either head of the pair is enough, so a head looks useless
unless its partner is removed first: what K is for) and a head that pushes against the answer (so the
sign of the difference matters); then on a random-init tiny IOI model, with F = the reference mean
ablation (exercise 19) followed by the logit difference, compared with the reference.
"""

import copy

import pytest
import torch

from arena_cli.testing import assert_close, call_student, check
from arena_course.ioi.dataset import BABA_TEMPLATES, IOIDataset, ioi_tokenizer
from arena_course.ioi.testing import compat_model

A, B, C, D = (2, 0), (2, 1), (1, 3), (0, 2)
CIRCUIT = {"name mover": [A, B], "S-inhibition": [C], "negative": [D]}
K_SETS = {A: {B}, B: {A}, C: set(), D: set()}

_CRASH = (
    "circuit_logit_diff takes a circuit, a dict class -> list of (layer, head), and returns a float; "
    "k_sets[v] is a set of (layer, head)."
)


class HandMadeF:
    """F(S) = 2 if A or B is in S (a backup pair) + 0.5 if A is in S + 1 if C is in S - 1 if D is in S.
    Records the circuits it is called with."""

    def __init__(self):
        self.calls: list[dict] = []

    def __call__(self, circuit):
        check(isinstance(circuit, dict), f"circuit_logit_diff was called with a {type(circuit).__name__}, expected a "
              "circuit: a dict class -> list of (layer, head)",
              diagnosis="Call circuit_logit_diff with a circuit dict like the one you were given, minus some heads.")
        self.calls.append(copy.deepcopy(circuit))
        heads = {tuple(h) for members in circuit.values() for h in members}
        return 2.0 * (A in heads or B in heads) + 0.5 * (A in heads) + 1.0 * (C in heads) - 1.0 * (D in heads)


def _every(circuit):
    return [h for members in circuit.values() for h in members]


def _run(student, f, circuit=None, k_sets=None):
    # Copies by default, so that a function changing its arguments can't change the test's own CIRCUIT and K_SETS.
    circuit = copy.deepcopy(CIRCUIT) if circuit is None else circuit
    k_sets = copy.deepcopy(K_SETS) if k_sets is None else k_sets
    out = call_student(student.minimality_scores, f, circuit, k_sets, diagnosis=_CRASH)
    check(isinstance(out, dict), f"minimality_scores returned {type(out).__name__}, expected a dict {{(layer, head): score}}",
          diagnosis="Did you forget a `return`?" if out is None else "Return a dict with one score per head.")
    heads = _every(circuit)
    check(set(map(tuple, out)) == set(heads),
          f"expected a score for each of the circuit's heads {sorted(heads)}, got keys {sorted(out)}",
          diagnosis="Loop over every class's heads: for heads in circuit.values(): for v in heads: ...")
    values = {}
    for h, v in out.items():
        if isinstance(v, torch.Tensor):
            v = v.item()
        check(isinstance(v, (int, float)), f"the score of {h} is a {type(v).__name__}, expected a number")
        values[tuple(h)] = float(v)
    return values


def _removed(circuit, heads):
    return {cls: [h for h in members if h not in heads] for cls, members in circuit.items()}


def _variants(f, circuit, k_sets):
    """What the scores would be with the common mistakes."""
    out = {}
    for v in _every(circuit):
        k = set(k_sets[v])
        with_v, without_v = f(_removed(circuit, k)), f(_removed(circuit, k | {v}))
        out.setdefault("signed", {})[v] = without_v - with_v
        out.setdefault("signed, other way", {})[v] = with_v - without_v
        out.setdefault("no K", {})[v] = abs(f(_removed(circuit, {v})) - f(circuit))
        out.setdefault("K only", {})[v] = abs(with_v - f(circuit))
    return out


_DIAGNOSES = {
    "signed": "Your scores have a sign: the minimality score is the absolute value |F(C \\ (K ∪ {v})) − F(C \\ K)| "
              "(a head that pushes against the answer counts as much as one that helps).",
    "signed, other way": "Your scores have a sign: take the absolute value of the difference.",
    "no K": "You removed v alone, ignoring its set K: the score compares C \\ K with C \\ (K ∪ {v}), so that the heads "
            "that would stand in for v are gone first.",
    "K only": "You compared C \\ K with the whole circuit C: compare C \\ K with C \\ (K ∪ {v}): v is the head scored.",
}


def _compare(out, expected, variants, name):
    heads = list(expected)
    actual = torch.tensor([out[h] for h in heads])
    mistakes = {_DIAGNOSES[key]: torch.tensor([values[h] for h in heads]) for key, values in variants.items()}
    assert_close(actual, torch.tensor([expected[h] for h in heads]), name=f"{name} (heads in order {heads})",
                 mistakes=mistakes, check_dtype=False)


def test_hand_computed(student):
    """Scores on a hand-made F with a backup pair and a negative head"""
    f = HandMadeF()
    out = _run(student, f)
    # F(C) = 2 + 0.5 + 1 - 1 = 2.5.  A: |F({C, D}) - F({A, C, D})| = |0 - 2.5|;  B: |F({C, D}) - F({B, C, D})| = |0 - 2|;
    # C: |F(C \ {C}) - F(C)| = |1.5 - 2.5|;  D: |F(C \ {D}) - F(C)| = |3.5 - 2.5|.
    expected = {A: 2.5, B: 2.0, C: 1.0, D: 1.0}
    _compare(out, expected, _variants(HandMadeF(), CIRCUIT, K_SETS), "minimality scores")


def test_circuit_not_modified(student):
    """The circuit and the K sets you were given are left unchanged"""
    circuit, k_sets = copy.deepcopy(CIRCUIT), copy.deepcopy(K_SETS)
    _run(student, HandMadeF(), circuit, k_sets)
    check(circuit == CIRCUIT, f"the circuit was changed to {circuit}",
          diagnosis="Build a new dict for each circuit you evaluate, e.g. {cls: [h for h in heads if h not in removed] "
                    "for cls, heads in circuit.items()}; list.remove on the given lists changes the caller's circuit.")
    check(k_sets == K_SETS, f"the K sets were changed to {k_sets}",
          diagnosis="k_sets[v] | {v} makes a new set; k_sets[v].add(v) changes the caller's.")


def test_two_evaluations_per_head(student):
    r"""F is evaluated on C \ K and on C \ (K ∪ {v}) for each head"""
    f = HandMadeF()
    _run(student, f)
    seen = [sorted(_every(c)) for c in f.calls]
    for v in _every(CIRCUIT):
        for removed in (K_SETS[v], K_SETS[v] | {v}):
            wanted = sorted(h for h in _every(CIRCUIT) if h not in removed)
            check(wanted in seen, f"for head {v}, F was never evaluated on the circuit without {sorted(removed)}, "
                  f"i.e. on the heads {wanted}",
                  diagnosis="For each head v: F(C \\ K) with K = k_sets[v], and F(C \\ (K ∪ {v})).")


@pytest.fixture(scope="module")
def tiny_setting(reference_of):
    model = compat_model(seed=3)
    data = IOIDataset.generate(ioi_tokenizer(), 12, templates=BABA_TEMPLATES[:2], seed=1)
    abc = data.abc(seed=5)
    ablate = reference_of("mean_ablate_outside_circuit").mean_ablate_outside_circuit
    logit_diff = reference_of("circuit_faithfulness").ioi_logit_diff
    positions = {"name mover": "end", "S-inhibition": "end", "negative": "end", "duplicate token": "S2"}
    circuit = {"name mover": [(1, 0), (1, 2)], "S-inhibition": [(1, 1)], "duplicate token": [(0, 1), (0, 3)]}
    k_sets = {(1, 0): {(1, 2)}, (1, 2): {(1, 0)}, (1, 1): set(), (0, 1): {(0, 3)}, (0, 3): {(0, 1)}}

    memo: dict = {}

    def f(c):  # F is deterministic: each circuit is run once (the variants and the reference reuse the runs)
        key = tuple(sorted(tuple(h) for members in c.values() for h in members))
        if key not in memo:
            with torch.no_grad():
                memo[key] = logit_diff(ablate(model, data, abc, c, positions), data).item()
        return memo[key]

    return f, circuit, k_sets


def test_matches_reference_on_a_model(student, reference, tiny_setting):
    """On a tiny model with F = mean ablation + logit difference, the scores match the reference"""
    f, circuit, k_sets = tiny_setting
    expected = reference.minimality_scores(f, circuit, k_sets)
    out = _run(student, f, circuit, k_sets)
    _compare(out, {tuple(h): float(v) for h, v in expected.items()}, _variants(f, circuit, k_sets), "minimality scores")
