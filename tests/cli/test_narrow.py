"""At 80 columns: what a student reads fits, without cut ids or broken words; the bars show what
remains without colour; long hint and solution output goes through a pager, as git's does."""

from __future__ import annotations

import io

from rich.console import Console

from arena_cli import render
from arena_cli.list_screen import list_screen
from arena_cli.pager import paged
from arena_cli.picker import ListState, Row
from arena_cli.verdict import Check, Mismatch, Verdict

from .conftest import FIXTURE_COURSE


def lines_of(renderable, width: int = 80, no_color: bool = True) -> list[str]:
    console = Console(width=width, file=io.StringIO(), no_color=no_color, color_system=None if no_color else "truecolor")
    console.print(renderable)
    return console.file.getvalue().splitlines()


def test_the_list_shows_every_id_at_80_columns_and_cuts_titles_instead():
    rows = [Row(id="a_rather_long_exercise_id", chapter="Ch", label="01", title="A title " * 12, status="current"),
            Row(id="short", chapter="Ch", label="02", title="Short", status="pending")]
    screen = lines_of(list_screen(ListState(rows), 80, 20))
    assert all(len(line) <= 80 for line in screen)
    assert any("a_rather_long_exercise_id A title" in line and "…" in line for line in screen)
    assert any(" short " in line for line in screen)


def test_verify_is_a_line_per_exercise_at_80_columns():
    from arena_cli.course import load_course

    course = load_course(FIXTURE_COURSE)
    long = "RuntimeError: " + "a long message that goes on " * 10
    rows = [(ex, Verdict(ex.id, "failed", 1.0, [Check("c", "error", message=long)])) for ex in course.exercises]
    compact = lines_of(render.verify_table(rows))
    assert len(compact) == len(rows) and all(len(line) <= 80 for line in compact)
    assert all(line.startswith(f"✗ {ex.id} ") and " 0/1   1.0s  RuntimeError: a long" in line and line.endswith("…")
               for line, (ex, _) in zip(compact, rows))
    assert len(lines_of(render.verify_table(rows, verbose=True))) > len(compact)


def test_bars_show_the_part_still_to_do_without_colour():
    (line,) = lines_of(render.bar(1, 4, 20))
    assert line == "━" * 5 + "─" * 15


def test_the_watch_progress_line_counts_the_course_and_the_chapter():
    from arena_cli.course import load_course
    from arena_cli.progress import Progress

    course = load_course(FIXTURE_COURSE)
    progress = Progress()
    progress.record_attempt("add_numbers", True)
    (line,) = lines_of(render.progress_line(course, course.get("double_tensor"), progress))
    assert "1/3 done" in line and "Basics 1/3" in line
    (cut,) = lines_of(render.progress_line(course, course.get("double_tensor"), progress), width=36)
    assert cut.endswith("…")  # one line, cut, however long the chapter's title


def test_no_max_rel_error_when_the_differing_entries_expect_zero():
    m = Mismatch("value", "out", "(3,)", "(3,)", max_abs_err=2.0, max_rel_err=0.0, n_mismatched=2, n_total=3)
    assert "max rel error" not in "\n".join(lines_of(render.mismatch_table(m)))


def test_a_long_output_goes_through_the_pager_a_short_one_does_not(tmp_path, monkeypatch):
    got = tmp_path / "paged.txt"
    monkeypatch.setenv("PAGER", f"cat > {got}")
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80, height=10, highlight=False)
    with paged(console):
        console.print("short")
    assert out.getvalue() == "short\n" and not got.exists()
    with paged(console):
        for i in range(30):
            console.print(f"line {i}")
    assert got.read_text().splitlines()[-1] == "line 29" and out.getvalue() == "short\n"


def test_no_pager_when_the_output_is_not_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGER", f"cat > {tmp_path / 'paged.txt'}")
    console = Console(file=io.StringIO(), width=80, height=10)
    with paged(console):
        for i in range(30):
            console.print(f"line {i}")
    assert console.file.getvalue().count("\n") == 30 and not (tmp_path / "paged.txt").exists()
