"""Unit tests: `arena_cli.progress.parse_progress`, `arena_cli.testing.assert_close` and how the
runner turns the plugin's events into a verdict."""

from __future__ import annotations

import json
import os
from dataclasses import asdict

import pytest
import torch

from arena_cli.progress import (
    SCHEMA_VERSION,
    ExerciseProgress,
    NewerSchemaError,
    Progress,
    ProgressFormatError,
    parse_progress,
)
from arena_cli import protocol, render
from arena_cli.protocol import Channel, Checked, Collected, Finished, LoadFailed, Started
from arena_cli.runner import verdict_from_events
from arena_cli.testing import CheckFailed, assert_close
from arena_cli.verdict import Check, Mismatch, Verdict

from .conftest import FIXTURE_COURSE


def rendered(renderable) -> str:
    """What a terminal of 100 columns shows, without colour, panel borders or line breaks."""
    from rich.console import Console

    console = Console(width=100, record=True, no_color=True, file=open(os.devnull, "w"))
    console.print(renderable)
    return " ".join(console.export_text().replace("│", " ").split())

# --------------------------------------------------------------------------- parse_progress


def progress_text(exercises: dict, **top) -> str:
    return json.dumps({"schema": SCHEMA_VERSION, "current": None, "exercises": exercises, **top})


def test_parse_progress_round_trip():
    progress = Progress(
        current="b",
        exercises={
            "a": ExerciseProgress("done", 3, "2024-01-01T00:00:00+00:00", 1),
            "b": ExerciseProgress("pending", 1, None, 0),
        },
    )
    parsed, problems = parse_progress(json.dumps(progress.to_json()))
    assert problems == []
    assert parsed == progress


def test_parse_progress_fills_missing_fields_with_defaults():
    parsed, problems = parse_progress(progress_text({"a": {}}))
    assert problems == []
    assert parsed.exercises["a"] == ExerciseProgress()
    parsed, problems = parse_progress(json.dumps({"schema": SCHEMA_VERSION}))
    assert problems == [] and parsed == Progress()


@pytest.mark.parametrize(
    "entry, field",
    [
        ({"status": "done", "attempts": "x", "first_pass": "t"}, "attempts"),
        ({"status": "done", "attempts": -1, "first_pass": "t"}, "attempts"),
        ({"status": "done", "attempts": True, "first_pass": "t"}, "attempts"),
        ({"status": "done", "hints": 1.5, "first_pass": "t"}, "hints"),
        ({"status": "done", "first_pass": 12}, "first_pass"),
    ],
)
def test_parse_progress_drops_only_the_invalid_field(entry, field):
    parsed, problems = parse_progress(progress_text({"a": entry}))
    assert len(problems) == 1 and field in problems[0] and problems[0].startswith("a:")
    a = parsed.exercises["a"]
    assert a.done  # the completion survives
    assert getattr(a, field) == getattr(ExerciseProgress(), field) or field == "first_pass"
    if field == "first_pass":
        assert isinstance(a.first_pass, str)  # a done exercise always has a first pass time


def test_parse_progress_unknown_status_and_bad_entries():
    parsed, problems = parse_progress(progress_text({"a": {"status": "finished", "attempts": 2}, "b": [1]}, current=5))
    assert parsed.exercises["a"].status == "pending" and parsed.exercises["a"].attempts == 2
    assert parsed.exercises["b"] == ExerciseProgress()
    assert parsed.current is None
    assert len(problems) == 3


def test_parse_progress_done_without_first_pass_gets_one():
    parsed, problems = parse_progress(progress_text({"a": {"status": "done"}}))
    assert problems == []
    assert parsed.exercises["a"].first_pass


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "not valid JSON"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"exercises": {}}', "schema version None"),
        ('{"schema": 0, "exercises": {}}', "schema version 0"),
        ('{"schema": "2", "exercises": {}}', "schema version '2'"),
        ('{"schema": 1, "exercises": []}', "`exercises` is not an object"),
    ],
)
def test_parse_progress_rejects_untrustworthy_files(text, reason):
    with pytest.raises(ProgressFormatError, match=reason.replace("`", ".")):
        parse_progress(text)


def test_parse_progress_tells_a_newer_schema_apart():
    """A newer arena's file is not corrupt: the store refuses it instead of moving it aside."""
    with pytest.raises(NewerSchemaError) as raised:
        parse_progress('{"schema": 2, "exercises": {}}')
    assert raised.value.schema == 2
    assert not isinstance(raised.value, ProgressFormatError)


# --------------------------------------------------------------------------- the changes a session makes


def test_find_does_not_create_an_entry_and_entry_for_does():
    progress = Progress()
    assert progress.find("a") == ExerciseProgress() and progress.exercises == {}
    progress.entry_for("a").hints = 1
    assert progress.find("a").hints == 1 and list(progress.exercises) == ["a"]


def test_record_attempt_counts_every_run_and_the_first_pass_once():
    progress = Progress()
    assert progress.record_attempt("a", passed=False) is False
    assert progress.find("a").attempts == 1 and not progress.find("a").done
    assert progress.record_attempt("a", passed=True) is True
    first = progress.find("a").first_pass
    assert progress.find("a").done and first
    assert progress.record_attempt("a", passed=True) is False
    assert (progress.find("a").attempts, progress.find("a").first_pass) == (3, first)


def test_record_verification_sets_a_failing_done_exercise_back_to_pending():
    progress = Progress()
    progress.record_attempt("a", passed=True)
    progress.reveal_hint("a", 3)
    assert progress.record_verification("a", passed=True) is False  # still passes: stays done
    assert progress.find("a").done
    assert progress.record_verification("a", passed=False) is True
    assert progress.find("a") == ExerciseProgress(status="pending", attempts=3, first_pass=None, hints=1)
    assert progress.record_verification("a", passed=False) is False  # pending already
    assert progress.record_verification("b", passed=True) is False and progress.find("b").done
    assert progress.record_attempt("b", passed=False) is False and progress.find("b").done  # only verify sets back


def test_reveal_hint_stops_at_the_last_level_and_reset_keeps_counts():
    progress = Progress()
    assert [progress.reveal_hint("a", 2) for _ in range(3)] == [True, True, False]
    assert progress.find("a").hints == 2
    progress.record_attempt("a", passed=True)
    progress.reset("a")
    entry = progress.find("a")
    assert (entry.status, entry.first_pass, entry.attempts, entry.hints) == ("pending", None, 1, 2)


def test_status_done_current_pending():
    progress = Progress(current="b")
    progress.record_attempt("a", passed=True)
    progress.set_current("b")
    assert [progress.status(i) for i in "abc"] == ["done", "current", "pending"]
    progress.set_current("a")
    assert progress.status("a") == "done"


# --------------------------------------------------------------------------- assert_close


def failure(actual, expected, **kwargs) -> CheckFailed:
    with pytest.raises(CheckFailed) as info:
        assert_close(actual, expected, **kwargs)
    return info.value


X = torch.arange(6, dtype=torch.float32).reshape(2, 3)


def test_assert_close_passes_within_tolerance():
    assert_close(X + 1e-7, X)
    assert_close(torch.tensor([1.0, float("nan")]), torch.tensor([1.0, float("nan")]))
    assert_close(X.double(), X, check_dtype=False)
    assert_close(3, 3)
    assert_close(0.1 + 0.2, 0.3)
    assert_close(torch.tensor(2.0), 2.0)
    assert_close([1, 2], [1.0, 2.0])


def test_assert_close_value_mismatch():
    e = failure(X * 2, X, name="scores")
    m = e.mismatch
    assert m.kind == "value" and m.name == "scores"
    assert m.where == [1, 2]  # the worst element: 10 vs 5
    assert m.worst == [5.0, 10.0]
    assert m.max_abs_err == 5.0
    assert m.max_rel_err == 1.0
    assert (m.n_mismatched, m.n_total) == (5, 6)
    assert m.sample[0] == {"index": [0, 1], "expected": 1.0, "actual": 2.0}
    assert len(m.sample) == 5
    assert str(e).startswith("scores: 5 of 6 values differ")
    assert e.diagnosis == ""


def test_assert_close_value_mismatch_with_nan():
    m = failure(torch.tensor([1.0, float("nan")]), torch.tensor([1.0, 2.0])).mismatch
    assert m.kind == "value" and m.where == [1] and m.n_mismatched == 1


def test_assert_close_shape_mismatch():
    e = failure(X.T, X)
    assert e.mismatch.kind == "shape"
    assert e.mismatch.expected == "(2, 3) float32" and e.mismatch.actual == "(3, 2) float32"
    assert "order" in e.diagnosis
    assert "fewer dimensions" in failure(X.sum(0), X).diagnosis
    assert "more dimensions" in failure(X[None], X).diagnosis


def test_assert_close_dtype_mismatch():
    e = failure(X.long(), X)
    assert e.mismatch.kind == "dtype"
    assert "int64" in e.mismatch.actual and "float32" in e.mismatch.expected
    assert str(e) == "output: expected dtype torch.float32, got torch.int64"


def test_assert_close_type_mismatch():
    e = failure(None, X)
    assert e.mismatch.kind == "type" and e.mismatch.actual == "None"
    assert "return" in e.diagnosis
    e = failure("5", 5)
    assert e.mismatch.kind == "type" and e.diagnosis == ""
    e = failure([[1.0, 2.0, 3.0]] * 2, X)  # a list where a tensor is expected
    assert e.mismatch.kind == "type"


def test_assert_close_scalars():
    m = failure(5.0, 6.0).mismatch
    assert m.kind == "value"
    assert m.where == [] and m.worst == [6.0, 5.0]
    assert m.sample == [{"index": [], "expected": 6.0, "actual": 5.0}]
    m = failure(torch.tensor(1.0), torch.tensor(3.0)).mismatch
    assert m.kind == "value" and m.max_abs_err == 2.0
    assert failure(torch.tensor([1.0]), torch.tensor(1.0)).mismatch.kind == "shape"


def test_assert_close_names_the_matching_mistake():
    mistakes = {"You added 2.": X + 2, "You squared.": X**2}
    assert failure(X**2, X * 2, mistakes=mistakes, diagnosis="generic").diagnosis == "You squared."
    assert failure(X + 2, X * 2, mistakes=mistakes).diagnosis == "You added 2."
    # No mistake matches: the general diagnosis.
    assert failure(X - 7, X * 2, mistakes=mistakes, diagnosis="generic").diagnosis == "generic"
    # Mistakes given as plain numbers, compared within tolerance.
    assert failure(4.0 + 1e-7, 3.0, mistakes={"Off by one.": 4.0}).diagnosis == "Off by one."


def test_assert_close_mistake_of_another_shape_or_dtype():
    mistakes = {"You summed over the wrong dimension.": X.sum(0), "You used integer division.": (X // 2).long()}
    e = failure(X.sum(0), X.sum(1), mistakes=mistakes)
    assert e.mismatch.kind == "shape"
    assert e.diagnosis == "You summed over the wrong dimension."
    e = failure((X // 2).long(), X / 2, mistakes=mistakes)
    assert e.mismatch.kind == "dtype"
    assert e.diagnosis == "You used integer division."


def test_a_batch_by_batch_shape_is_named_as_two_index_tensors_broadcasting():
    logits = torch.randn(4, 5, 7)
    end, io = torch.tensor([1, 2, 3, 4]), torch.tensor([0, 6, 2, 1])
    expected = logits[torch.arange(4), end, io]
    e = failure(logits[:, end, io], expected)  # the mistake: (4, 4), every prompt's end with every answer
    assert e.mismatch.kind == "shape" and "(4, 4)" in e.diagnosis and "broadcast" in e.diagnosis


def test_a_lost_leading_dimension_names_the_index_or_sum():
    x = torch.randn(2, 3, 5)
    e = failure(x[0], x)
    assert "without its leading (2,)" in e.diagnosis and "tuple" in e.diagnosis


def test_integer_values_are_shown_as_ids_and_tokens():
    expected = torch.tensor([[5, 6, 7], [8, 9, 10]])
    actual = expected.clone()
    actual[1, 2] = 327
    e = failure(actual, expected, decode=lambda i: f"tok{i}")
    assert str(e) == "output: 1 of 6 values differ (first at [1, 2])"
    m = e.mismatch
    assert m.max_abs_err is None and m.where == [1, 2] and m.worst == [10, 327]
    assert m.sample == [{"index": [1, 2], "expected": 10, "actual": 327, "expected_token": "tok10", "actual_token": "tok327"}]
    text = rendered(render.mismatch_table(m))
    assert "327 'tok327'" in text and "10 'tok10'" in text and "max abs error" not in text


def test_later_failing_checks_show_their_diagnoses_once(tmp_path):
    from arena_cli.course import load_course

    checks = [
        Check("Returns a number", "passed"),
        Check("Matches the reference", "failed", message="1 of 1 values differ", diagnosis="Reversed."),
        Check("Hand-computed", "failed", message="2 of 5 values differ", diagnosis="Reversed."),
        Check("On a tiny model", "failed", message="0.0 != 1.0", diagnosis="Scores 0 on the clean run."),
        Check("Tensor baselines", "error", message="TypeError: float() argument"),
    ]
    ex = load_course(FIXTURE_COURSE).get("add_numbers")
    text = rendered(render.verdict_view(ex, Verdict("add_numbers", "failed", 0.1, checks)))
    assert text.count("Reversed.") == 1
    assert "On a tiny model: Scores 0 on the clean run." in text
    assert "Tensor baselines: TypeError: float() argument" in text


def test_assert_close_rejects_an_unsupported_expected_value():
    with pytest.raises(TypeError):
        assert_close(1, "one")


# --------------------------------------------------------------------------- the protocol and verdict_from_events


def check_event(name: str, status: str, phase: str = "call", **extra) -> Checked:
    return Checked(Check(name, status, **extra), phase, f"t.py::{name}")


DONE = Finished(0)


def collected(*names: str) -> Collected:
    return Collected(tuple(f"t.py::{n}" for n in names))


def test_events_round_trip_through_the_channel(tmp_path):
    """What the test child writes (a Check with its Mismatch, and every other event) the runner reads
    back as it was; a line cut short by a crash is skipped; a line the plugin didn't sign (student code
    appending to the report, or replaying a signed line) is counted as foreign."""
    channel = Channel.create(tmp_path / "report")
    mismatch = Mismatch("value", "scores", "(2, 3) float32", "(2, 3) float32", 5.0, 1.0, [1, 2], [5.0, 10.0], 5, 6,
                        [{"index": [0, 1], "expected": 1.0, "actual": 2.0}])
    events = [
        collected("Adds numbers"),
        Started("Adds numbers", "t.py::test_add"),
        LoadFailed("SyntaxError: invalid syntax", "exercises/x.py:3:1", "  File ..."),
        check_event("Adds numbers", "failed", message="scores: 5 of 6 values differ", diagnosis="d", mismatch=mismatch,
                    location="exercises/x.py:2:5", output="printed"),
        check_event("collect t.py", "error", phase="collect", traceback="tb"),
        DONE,
    ]
    protocol.use_channel(channel)
    try:
        for event in events:
            protocol.emit(event)
    finally:
        protocol.use_channel(None)
        channel.close()
    reader = Channel.from_json(channel.to_json())
    assert reader.read() == (events, 0)

    lines = (tmp_path / "report").read_bytes().splitlines(keepends=True)
    forged = b'{"seq": 99, "event": "done", "exitstatus": 0}'
    with open(tmp_path / "report", "ab") as f:
        f.write(b"0" * 64 + b" " + forged + b"\n")  # a bad signature
        f.write(lines[-1])  # a replayed line (its sequence number is not new)
        f.write(b'abc {"event": "check", "name": "cut sh')  # cut short: not counted
    assert reader.read() == (events, 2)


def test_checks_are_cut_to_size():
    huge = "x" * 20_000_000
    check = Check.from_dict({"name": huge, "status": "error", "message": huge, "traceback": huge, "output": huge,
                             "mismatch": {"kind": "value", "expected": huge, "actual": huge,
                                          "sample": [{"index": huge}] * 1000}})
    assert len(json.dumps(asdict(check))) < 30_000


def test_verdict_passed_failed_error():
    v = verdict_from_events("x", [collected("a", "b"), check_event("a", "passed"), check_event("b", "passed"), DONE],
                            0, 1.0, "")
    assert v.status == "passed"
    v = verdict_from_events("x", [collected("a", "b"), check_event("a", "passed"), check_event("b", "failed"),
                                  Finished(1)], 1, 1.0, "")
    assert v.status == "failed" and v.first_failure.name == "b"
    v = verdict_from_events("x", [collected("a", "b"), check_event("a", "failed"),
                                  check_event("b", "error", message="boom"), Finished(1)], 1, 1.0, "")
    assert v.status == "error"
    v = verdict_from_events("x", [collected(), Finished(5)], 5, 1.0, "")
    assert v.status == "error"


@pytest.mark.parametrize(
    "events, returncode, says",
    [
        ([collected("a", "b"), check_event("a", "passed"), check_event("b", "skipped", message="x"), DONE], 0,
         "skipped"),
        ([collected("a", "b"), check_event("a", "skipped"), check_event("b", "skipped"), DONE], 0, "skipped"),
        ([collected("a", "b"), check_event("a", "passed"), Finished(2)], 2, "stopped early (1 of 2 checks"),
        ([collected("a", "b"), check_event("a", "passed"), Finished(3)], 3, "internal error (1 of 2 checks"),
        ([collected("a", "b"), check_event("a", "passed"), DONE], 0, "Only 1 of 2 checks reported"),
        ([collected("a"), check_event("a", "passed"), DONE], 1, "code 1"),
        ([collected("a"), check_event("a", "passed")], 0, "before reporting a result"),
        ([check_event("a", "passed"), DONE], 0, "no checks"),
    ],
    ids=["one skipped", "all skipped", "pytest.exit", "internal error", "a check never reported",
         "exit code disagrees", "no end", "nothing collected"],
)
def test_only_a_complete_clean_run_passes(events, returncode, says):
    """Skips, an early exit, an internal error, a missing report, an exit code that disagrees: errors
    that say what happened, never a pass."""
    v = verdict_from_events("x", events, returncode, 1.0, "")
    assert v.status == "error", v
    assert says.lower() in (v.message + " ".join(c.message for c in v.checks)).lower(), v.message


def test_a_foreign_line_in_the_report_means_no_pass():
    v = verdict_from_events("x", [collected("a"), check_event("a", "passed"), DONE], 0, 1.0, "", foreign=1)
    assert v.status == "error" and "doesn't count" in v.message


def test_verdict_of_a_crash_names_the_running_check():
    events = [
        Started(nodeid="t.py::test_one"),
        check_event("one", "passed"),
        Started(nodeid="t.py::test_two"),
    ]
    v = verdict_from_events("x", events, -11, 1.0, "Fatal Python error")
    assert v.status == "error"
    assert "segmentation fault" in v.message and "test_two" in v.message
    assert [c.name for c in v.checks] == ["one"]
    assert v.output == "Fatal Python error"


def test_verdict_teardown_failure_overrides_a_passed_call():
    events = [
        check_event("a", "passed"),
        check_event("a", "error", phase="teardown", message="teardown broke"),
        Finished(1),
    ]
    v = verdict_from_events("x", [collected("a"), *events], 1, 1.0, "")
    assert [c.status for c in v.checks] == ["error"]
