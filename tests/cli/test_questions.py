"""The question kind of exercise: an answer written in the file, checked by its hidden test like any
other, each wrong option with its own diagnosis, the explanation shown once it passes, the prediction
shown beside the section's result. Same commands, same progress, same --json."""

from __future__ import annotations

import pytest

from arena_cli.course import load_course
from arena_cli.testing import CheckFailed, check_answer, check_number, check_set

from .conftest import ArenaCourse

pytestmark = pytest.mark.slow  # drives arena end to end (dev build, dev check, run, results)

MASTER = '''"""Predict before you look: what does `add(2, 3)` return?

    A. 5
    B. 23 (the digits side by side)
    C. 6
"""

# SOLUTION
ANSWER = "A"
# END SOLUTION
# EXERCISE
# ANSWER = None  # one of "A", "B", "C"
# END EXERCISE
'''

TEST = '''from arena_cli.testing import check_answer


def test_answer(student):
    """Your prediction"""
    check_answer(student.ANSWER, "A", wrong={
        "B": "That would be two strings joined; add gets numbers.",
        "C": "Off by one: count again.",
    })
'''

HINTS = """## Hint 1
Read the function.

## Explanation
It adds: 2 + 3 = 5. The point is that you said so before running it.

## Hint 2
It is the sum.
"""


@pytest.fixture
def course(arena: ArenaCourse) -> ArenaCourse:
    """The fixture course with a question after add_numbers, at the end of section 1."""
    manifest = arena.manifest.read_text(encoding="utf-8")
    question = '\n[[sections.exercises]]\nid = "predict_sum"\ntitle = "What does add return?"\nkind = "question"\n' \
               'difficulty = 1\nimportance = 3\nminutes = 2\n'
    at = manifest.index('[[sections.exercises]]\nid = "double_tensor"')
    arena.manifest.write_text(manifest[:at] + question.lstrip("\n") + "\n" + manifest[at:], encoding="utf-8")
    root = arena.root
    (root / "solutions/1_basics/01q_predict_sum.py").write_text(MASTER, encoding="utf-8")
    (root / "hints/1_basics/01q_predict_sum.md").write_text(HINTS, encoding="utf-8")
    (root / "tests/exercises/1_basics/test_01q_predict_sum.py").write_text(TEST, encoding="utf-8")
    arena.ok("dev", "build")
    return arena


def write_answer(course: ArenaCourse, value: str) -> None:
    path = course.root / "exercises/1_basics/01q_predict_sum.py"
    path.write_text(path.read_text(encoding="utf-8").replace("ANSWER = None", f"ANSWER = {value}"), encoding="utf-8")


def test_a_question_is_labelled_after_its_exercise_and_numbers_nothing_else(course):
    c = load_course(course.root)
    q = c.get("predict_sum")
    assert (q.kind, q.label, q.exercise_path.name) == ("question", "01q", "01q_predict_sum.py")
    assert c.get("double_tensor").exercise_path.name == "02_double_tensor.py"
    code, shown = course.json("list")
    assert [e["id"] for e in shown][:3] == ["add_numbers", "predict_sum", "double_tensor"]
    assert [e["label"] for e in shown][:3] == ["01", "01q", "02"]


def test_dev_check_holds_a_question_to_the_same_contract(course):
    code, out, err = course("dev", "check")
    assert code == 0, out + err


def test_unanswered_then_wrong_then_right(course):
    code, verdict = course.json("run", "predict_sum")
    assert (code, verdict["status"]) == (1, "failed")
    assert "not answered yet" in verdict["checks"][0]["message"]

    write_answer(course, '"b"')
    code, out, _ = course("run", "predict_sum")
    assert code == 1 and "two strings joined" in out
    assert "It adds" not in out  # the explanation waits for the pass

    path = course.root / "exercises/1_basics/01q_predict_sum.py"
    path.write_text(path.read_text(encoding="utf-8").replace('ANSWER = "b"', 'ANSWER = "A"'), encoding="utf-8")
    code, out, _ = course("run", "predict_sum")
    assert code == 0 and "It adds: 2 + 3 = 5" in out
    assert course.entry("predict_sum")["status"] == "done"


def test_the_explanation_is_not_a_hint_level(course):
    out = course.ok("hint", "predict_sum")
    assert "hint 1 of 2" in out and "It adds" not in out


def test_results_show_the_prediction_beside_what_happened(course):
    course.give_result("print('the sum is', add(2, 3))")
    course.solve("add_numbers")
    course.ok("run", "add_numbers")
    code, out, err = course("results", "add_numbers")
    assert code == 0, out + err
    assert "the sum is 5" in out
    assert out.index("Predict first: 01q predict_sum") < out.index("the sum is 5")
    assert "not answered yet: predict before you look" in out
    write_answer(course, '"A"')
    out = course.ok("results", "add_numbers")
    assert '01q What does add return?: "A"  ✓ right' in out
    assert course.entry("predict_sum")["status"] == "done"
    # Changed after it passed: the result says what holds now, not what passed once.
    path = course.root / "exercises/1_basics/01q_predict_sum.py"
    path.write_text(path.read_text(encoding="utf-8").replace('ANSWER = "A"', 'ANSWER = "C"'), encoding="utf-8")
    out = course.ok("results", "add_numbers")
    assert '01q What does add return?: "C"  ✗ not right: Off by one: count again.' in out


def test_check_answer_number_and_set():
    check_answer(" a ", "A", wrong={"B": "no"})
    with pytest.raises(CheckFailed, match="not one of the options"):
        check_answer("Z", "A", wrong={"B": "no"})
    with pytest.raises(CheckFailed) as e:
        check_answer("b", "A", wrong={"B": "tempting, but"})
    assert e.value.diagnosis == "tempting, but"

    check_number(0.52, 0.5, tolerance=0.05)
    with pytest.raises(CheckFailed) as e:
        check_number(0.1, 0.5, tolerance=0.05, too_low="You forgot the bias.")
    assert "too low" in str(e.value) and e.value.diagnosis == "You forgot the bias."
    with pytest.raises(CheckFailed, match="not a number"):
        check_number("0.5", 0.5, tolerance=0.1)

    check_set([(9, 9), (9, 6)], {(9, 6), (9, 9)})
    with pytest.raises(CheckFailed) as e:
        check_set({(9, 9), (3, 0)}, {(9, 6), (9, 9)}, missing={(9, 6): "9.6 moves the name too."},
                  extra={(3, 0): "3.0 is a duplicate-token head: it feeds the circuit but doesn't write the answer."})
    assert "1 missing" in str(e.value) and "(3, 0) should not be in it" in str(e.value)
    assert "9.6 moves" in e.value.diagnosis and "duplicate-token" in e.value.diagnosis
    with pytest.raises(CheckFailed, match="not answered yet"):
        check_set(None, {1})
