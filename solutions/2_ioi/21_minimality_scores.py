r"""Minimality scores
=================

Difficulty: 3/5    Importance: 3/5    Time: ~25 minutes

Source: Wang et al. 2022, "Interpretability in the Wild" (https://arxiv.org/abs/2211.00593), Section
4.3 (minimality) and the appendix listing the sets K.

Faithfulness (exercise 20) says the circuit is *enough*. Minimality asks the converse: is every head
in it *needed*? The obvious test, removing one head v from the circuit and watching F drop, fails on
a circuit with backups: remove the name mover 9.9 and the backup name movers take over, F barely
moves, and 9.9 would look useless although it does most of the work when it is there.

So the paper measures each head v **after first removing a set K of other circuit heads** (typically
the other heads of v's class, the ones that would stand in for it), and scores

    minimality(v) = | F(C \ (K ∪ {v})) − F(C \ K) |

where C \ S is the circuit with the heads of S taken out (mean-ablated like everything outside the
circuit) and F is the average logit difference with everything outside the circuit mean-ablated. K
is chosen per head (`GPT2_K_SETS` in arena_course/ioi/circuit.py has the paper's; K can be empty). A
head with a large score matters; the paper finds a clear effect for every one of its 26 heads.

What you write: the set arithmetic and the two evaluations per head. F itself is given to you as a
function, `circuit_logit_diff(circuit) -> float`: in the result it is your exercise 19 (mean
ablation outside `circuit`, at the circuit's positions) followed by exercise 01's average logit
difference, so each call runs the model twice. Circuits are dicts class -> list of (layer, head); "C
\ S" keeps every class (possibly with an empty list) and drops the heads in S from their lists.
Build new dicts: don't remove heads from the lists of the circuit you were given (the caller uses it
again).

Return a dict {(layer, head): score} with a Python float for every head of the circuit.

Then run this file, the section's result: your exercises 01, 19, 20 and 21 on GPT-2 small (~550 MB,
downloaded once; a few minutes on a laptop CPU), or, with `--tiny`, on a small model trained on IOI
in seconds, whose own circuit is first found with knockouts (arena_course/ioi/circuit.py,
`find_circuit`):

    python exercises/2_ioi/21_minimality_scores.py [--tiny] [--prompts N]

It writes results/ioi/circuit.png (circuit_tiny.png with --tiny): the full model's logit difference
against the circuit's, random circuits' of the same size and the empty circuit's, and per prompt,
the circuit's against the model's; and results/ioi/minimality.png: each head's minimality score,
coloured by class, with its score without K outlined. It also prints each class's scores from
exercises 15-18 (duplicate-token, induction, previous-token, copying), and the induction heads'
score with the previous-token heads mean-ablated (exercise 17), when those files are done. Without
GPT-2 and a network connection it says what it needs in one line and stops.
"""

from collections.abc import Callable


def minimality_scores(
    circuit_logit_diff: Callable[[dict[str, list[tuple[int, int]]]], float],
    circuit: dict[str, list[tuple[int, int]]],
    k_sets: dict[tuple[int, int], set[tuple[int, int]]],
) -> dict[tuple[int, int], float]:
    r"""Each circuit head's minimality score |F(C \ (K ∪ {v})) − F(C \ K)|.

    Args:
        circuit_logit_diff: F: a circuit (class -> list of (layer, head)) -> the average logit
            difference with everything outside it mean-ablated.
        circuit: C, class -> list of (layer, head).
        k_sets: for every head v of the circuit, its set K (other heads of the circuit; may be
            empty).

    Returns:
        {(layer, head): score} for every head of the circuit, scores as Python floats (>= 0).
    """
    # SOLUTION
    def without(removed: set[tuple[int, int]]) -> dict[str, list[tuple[int, int]]]:
        r"""C \ removed: a new circuit, every class kept, the removed heads dropped."""
        return {cls: [h for h in heads if h not in removed] for cls, heads in circuit.items()}

    scores = {}
    for heads in circuit.values():
        for v in heads:
            k = set(k_sets[v])
            with_v = circuit_logit_diff(without(k))  # F(C \ K): v still there
            without_v = circuit_logit_diff(without(k | {v}))  # F(C \ (K ∪ {v}))
            scores[v] = abs(float(without_v) - float(with_v))
    return scores
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "for each head v: |F(C without K and v) - F(C without K)|, with new circuit dicts"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # The section's result: your exercises 01, 19, 20 and 21 (loaded from the files next to this
    # one) on GPT-2 small and the paper's circuit, or with --tiny on a tiny model trained on IOI and
    # the circuit knockouts find in it. Writes results/ioi/circuit.png and minimality.png.
    import os
    import sys
    from pathlib import Path

    from arena_course.ioi import circuit, results
    from arena_course.loading import load_sibling
    from arena_course.models import ModelUnavailable

    args = results.result_args()
    try:
        # Means per template need a few prompts per template: 100 on GPT-2, 300 on the (fast) tiny
        # model.
        setting = results.result_setting(args.tiny, args.prompts or (300 if args.tiny else 100))
    except ModelUnavailable as e:
        print(results.offline_message(e, os.path.relpath(__file__)), file=sys.stderr)  # one line
        sys.exit(1)

    result = circuit.run_result(
        setting,
        ioi_logit_diff=load_sibling(__file__, "ioi_logit_diff").ioi_logit_diff,
        mean_ablate_outside_circuit=load_sibling(
            __file__, "mean_ablate_outside_circuit"
        ).mean_ablate_outside_circuit,
        circuit_faithfulness=load_sibling(__file__, "circuit_faithfulness").circuit_faithfulness,
        minimality_scores=minimality_scores,
        out_dir=Path("results/ioi"),
        progress=lambda step: print(f"... {step}", flush=True),
    )
    for path in result.paths:
        print(f"Wrote {path}")
    validation = circuit.head_validation(setting.model, result.spec.circuit, __file__)
    validation += circuit.previous_token_validation(setting.model, result.spec.circuit, __file__)
    if setting.tiny:
        validation += circuit.duplicate_token_model_check(__file__)
    for line in circuit.describe(result) + validation:
        print(line)
    print(
        "circuit: the circuit's bar should be close to the full model's (the paper: F(C)/F(M) "
        "about 87% on GPT-2 small), random circuits of the same size and the empty circuit far "
        "below; per prompt, the dots near the diagonal.\nminimality: every head should have a "
        "clear bar; the outlines (each head removed alone) are often much smaller: heads of one "
        "class back each other up, which is why K exists."
        + ("\n(The tiny model's circuit was found by knockouts on other prompts; a ratio above "
           "100% means it leaves out heads that push against the answer. Trained on IOI prompts "
           "only, it grows no duplicate-token or induction heads: their scores above stay far "
           "below 1, so here exercise 15 validates no class; the second model's line shows "
           "a duplicate-token head exercise 15 finds. The paper's seven classes show only on "
           "GPT-2 small.)"
           if setting.tiny else "")
    )
