"""Every rich drawing arena makes. Nothing here decides anything: it is given what to show."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from arena_cli.course import Course, Exercise
from arena_cli.further import GoFurther
from arena_cli.hints import Hint
from arena_cli.layout import is_student_file
from arena_cli.links import LinkConsole, link, linkify
from arena_cli.progress import Progress
from arena_cli.verdict import Verdict
from arena_cli.verdict_view import mismatch_table, show_verdict, verdict_view  # noqa: F401 - drawn as render.*

if TYPE_CHECKING:
    from arena_cli.update import UpdateReport

_STATUS_STYLE = {"passed": "bold green", "failed": "bold red", "error": "bold red", "timeout": "bold yellow"}


def make_console(no_color: bool = False, stderr: bool = False) -> Console:
    """The console arena prints with: paths carry hyperlinks only where they work (see links.py)."""
    # emoji=False: arena writes no :emoji: codes, and replacing them imports rich's table of them (~20 ms)
    return LinkConsole(no_color=no_color or bool(os.environ.get("NO_COLOR")), stderr=stderr, highlight=False,
                       emoji=False)


def dots(value: int, of: int = 5) -> str:
    return "●" * value + "○" * (of - value)


# --------------------------------------------------------------------------- next


def exercise_card(course: Course, ex: Exercise, progress: Progress, show_objectives: bool) -> RenderableType:
    chapter = course.chapter_of(ex)
    section = course.section_of(ex)
    entry = progress.find(ex.id)
    head = Text()
    head.append(f"{chapter.title}  ›  {section.title}\n", style="dim")
    head.append(f"{ex.label}. {ex.title}" + ("  (a question)" if ex.kind == "question" else ""), style="bold")
    head.append(f"   [{ex.id}]", style="dim")
    if entry.done:
        head.append("   done", style="green")
    meta = Table.grid(padding=(0, 2))
    meta.add_column(style="dim")
    meta.add_column()
    meta.add_row("file", link(ex.exercise_path, root=ex.root, style="cyan underline"))
    meta.add_row("difficulty", f"{dots(ex.difficulty)}   importance {dots(ex.importance)}   ~{ex.minutes} min")
    parts: list[RenderableType] = [head, Text(), meta]
    if show_objectives and section.objectives:
        parts.append(Text("\nIn this section you will:", style="bold"))
        objectives = Table.grid(padding=(0, 1))
        objectives.add_column(no_wrap=True)
        objectives.add_column()
        for o in section.objectives:
            objectives.add_row("  •", o)
        parts.append(objectives)
        if section.result:
            how = " Run it with `arena results` once the section's exercises pass." if section.result_runs else ""
            parts.append(Text(f"\nIt ends in a result: {section.result}.{how}", style="dim"))
    return Panel(Group(*parts), box=box.ROUNDED, expand=False, padding=(0, 1))


def next_steps(lines: Sequence[tuple[str, str | Text]]) -> Text:
    """`command   what it does` lines; a line with no command is plain advice."""
    width = max((len(c) for c, _ in lines if c), default=0)
    text = Text()
    for command, what in lines:
        what = Text(what) if isinstance(what, str) else what.copy()
        if command:
            text.append(f"  {command:<{width}}", style="bold cyan")
            text.append("  ")
        else:
            what.stylize("dim")
            text.append("  ")
        text.append_text(what)
        text.append("\n")
    return text


def all_done(course: Course) -> RenderableType:
    return Panel(
        Text(
            f"All {len(course.exercises)} exercises are done. `arena list` shows them; "
            "`arena solution ID` compares any of yours with the reference.",
            style="green",
        ),
        title="Course complete",
        expand=False,
    )


# --------------------------------------------------------------------------- hints


def hints_view(ex: Exercise, hints: Sequence[Hint], shown: int, show_all: bool = False) -> RenderableType:
    """The newest revealed level in full; the earlier ones a line each (all in full with `show_all`)."""
    from arena_cli.markdown_view import inline, markdown_view

    parts: list[RenderableType] = []
    for hint in hints[:shown]:
        title = f"hint {hint.level} of {len(hints)}"
        if hint.title.strip().lower() != f"hint {hint.level}":  # `## Help: <symptom>` says what it is for
            title += f": {hint.title}"
        if hint.level == shown or show_all:
            parts.append(Panel(markdown_view(hint.body), title=title, title_align="left",
                               border_style="yellow" if hint.level == shown else "dim"))
            continue
        lines = [ln.strip() for ln in hint.body.splitlines() if ln.strip()]
        first = next((ln for ln in lines if not ln.startswith("```")), "")
        if lines and lines[0].startswith("```"):
            first = "(code)"  # a level that opens with code: the code is what it says
        line = Text.assemble((title, "dim bold"), "  ", inline(first, "dim"))
        line.no_wrap, line.overflow = True, "ellipsis"  # one line, whatever the terminal's width
        parts.append(line)
    if shown > 1 and not show_all:
        parts.append(Text("(earlier hints in a line each; `arena hint --all` shows them in full)", style="dim"))
    return Group(*parts)


def explanation_view(text: str) -> RenderableType:
    """A question's explanation, shown once it passes."""
    from arena_cli.markdown_view import markdown_view

    return Panel(markdown_view(text), title="why", title_align="left", border_style="green")


def further_view(chapter_title: str, part: GoFurther, path: Path, root: Path) -> RenderableType:
    """A chapter's go-further part: each open-ended replication with its fields, and the file it is in."""
    parts: list[RenderableType] = [Text(part.intro, style="dim")] if part.intro else []
    for number, item in enumerate(part.items, 1):
        parts.append(Text(f"\n{number}. {item.title}", style="bold"))
        fields = Table.grid(padding=(0, 2))
        fields.add_column(style="dim", no_wrap=True)
        fields.add_column(overflow="fold")  # a long URL broken, not cut
        for name, value in item.fields.items():
            fields.add_row(f"  {name.lower()}", value)
        parts.append(fields)
    parts.append(Text.assemble("\n", ("unchecked: each says when it is done · ", "dim"), link(path, root=root)))
    return Panel(Group(*parts), title=f"Go further: {chapter_title}", title_align="left", box=box.ROUNDED, padding=(0, 1))


# --------------------------------------------------------------------------- list & progress


def list_tables(course: Course, progress: Progress, exercises: Sequence[Exercise]) -> Group:
    """One table per chapter, titled with the chapter."""
    tables = []
    for chapter in course.chapters:
        rows = [e for e in exercises if e.chapter_id == chapter.id]
        if not rows:
            continue
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=chapter.title, title_justify="left")
        table.add_column("#", justify="right", style="dim", no_wrap=True)
        table.add_column("id", no_wrap=True)
        table.add_column("title", no_wrap=True, overflow="ellipsis", ratio=1)  # cut, not wrapped, when narrow
        table.add_column("status", no_wrap=True)
        table.add_column("hints", justify="right", no_wrap=True)
        table.add_column("tries", justify="right", no_wrap=True)
        for ex in rows:
            entry = progress.find(ex.id)
            status = progress.status(ex.id)
            style = {"done": "green", "current": "bold yellow", "pending": "dim"}[status]
            table.add_row(
                ex.label,
                ex.id,
                ex.title,
                Text(("▶ " if status == "current" else "") + status, style=style),
                str(entry.hints or ""),
                str(entry.attempts or ""),
            )
        tables.append(table)
    return Group(*tables)


def bar(done: int, total: int, width: int) -> Text:
    """A progress bar that shows the part still to do as well, in colour or without (NO_COLOR)."""
    filled = max(round(width * done / total), 1 if done else 0) if total else width
    return Text.assemble(("━" * filled, "green"), ("─" * (width - filled), "dim"))


def progress_line(course: Course, ex: Exercise, progress: Progress, width: int = 20) -> RenderableType:
    """The watch screen's progress: the course's bar, done / total, and this chapter's count."""
    done = sum(progress.find(e.id).done for e in course.exercises)
    chapter = course.chapter_of(ex)
    in_chapter = sum(progress.find(e.id).done for e in chapter.exercises)
    line = Text.assemble(bar(done, len(course.exercises), width), f" {done}/{len(course.exercises)} done",
                         (f" · {chapter.title} {in_chapter}/{len(chapter.exercises)}", "dim"))
    line.no_wrap, line.overflow = True, "ellipsis"
    return Group(line)  # in a Group: console.print(text) would join it into a new Text, which wraps


def watch_header(ex: Exercise) -> RenderableType:
    """The watch screen's header after the first: the exercise's title in a rule, its file under it (a
    rule would cut a long path)."""
    from rich.rule import Rule

    title = Text(ex.title, style="bold")
    title.truncate(60, overflow="ellipsis")
    return Group(Rule(title, align="left"), link(ex.exercise_path, root=ex.root, style="dim"))


def progress_view(course: Course, progress: Progress) -> RenderableType:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("chapter")
    table.add_column("", width=30)
    table.add_column("done", justify="right")
    total_done = 0
    for chapter in course.chapters:
        done = sum(progress.find(e.id).done for e in chapter.exercises)
        total_done += done
        n = len(chapter.exercises)
        table.add_row(chapter.title, bar(done, n, 30), f"{done}/{n}")
    n_all = len(course.exercises)
    hints = sum(progress.find(e.id).hints for e in course.exercises)
    summary = Text(f"{total_done} of {n_all} exercises done ({100 * total_done / n_all:.0f}%), {hints} hints used")
    return Group(table, summary)


# --------------------------------------------------------------------------- solution & verify


def solution_view(ex: Exercise, code: str, diff: str) -> RenderableType:
    """Your file against the reference first (what to change), then the reference's code without the
    exercise's text (docstrings), which the student has read already."""
    from rich.syntax import Syntax

    parts: list[RenderableType] = []
    if diff:
        parts.append(Panel(Syntax(diff, "diff", word_wrap=True), title="your file → reference", title_align="left"))
    else:
        parts.append(Text("Your file is identical to the reference.", style="green"))
    parts.append(Text.assemble("The reference, docstrings left out: ", link(ex.solution_path, root=ex.root)))
    parts.append(Panel(Syntax(code, "python", word_wrap=True), title="reference code", title_align="left"))
    return Group(*parts)


def verify_table(rows: Sequence[tuple[Exercise, Verdict]], verbose: bool = False) -> RenderableType:
    """One line per exercise (its mark, id, checks passed, time, first problem cut to the width);
    `verbose`: a table with each first problem in full."""
    width = max((len(ex.id) for ex, _ in rows), default=8)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("exercise", "result", "checks", "time"):
        table.add_column(name, no_wrap=True, justify="left" if name in ("exercise", "result") else "right")
    table.add_column("first problem", overflow="fold")
    lines = []
    for ex, v in rows:
        n_pass = sum(c.status == "passed" for c in v.checks)
        failure = v.first_failure
        if v.message:
            problem = v.message
        elif failure is not None:
            problem = f"{failure.name}: {failure.message}"
        else:
            problem = ""
        problem = problem.splitlines()[0] if problem else ""
        checks, time_s = f"{n_pass}/{len(v.checks)}", f"{v.duration_s:.1f}s"
        status = Text(v.status, style=_STATUS_STYLE[v.status])
        table.add_row(ex.id, status, checks, time_s, linkify(problem, ex.root))
        mark = {"passed": "✓", "failed": "✗", "error": "!", "timeout": "⏱"}[v.status]
        said = (v.message or (failure.message if failure is not None else "")).strip()
        said = said.splitlines()[0] if said else ""  # what went wrong first; the check's name with --verbose
        line = Text.assemble((mark, _STATUS_STYLE[v.status]), f" {ex.id:<{width}} ", (f"{checks:>5} {time_s:>6}  ", "dim"),
                             linkify(said, ex.root))
        line.no_wrap, line.overflow = True, "ellipsis"
        lines.append(line)
    return table if verbose else Group(*lines)  # lines in a Group keep no_wrap (see progress_line)


# --------------------------------------------------------------------------- update


def update_view(report: UpdateReport, root: Path) -> RenderableType:
    """What `arena update` did: one line per file of the student's it touched, then the summary."""
    if report.up_to_date:
        return Text(f"Already up to date with {report.upstream}.")
    lines = [Text(f"Updated the course from {report.upstream}: {report.new_commits} new commit(s), "
                  f"{report.old[:8]} → {report.new[:8]}.")]
    for rel in report.merged:
        lines.append(Text.assemble(("merged ", "green"), link(rel, root=root), ": your answer, in the new version of the exercise"))
    for rel, stub in report.conflicted:
        lines.append(Text.assemble(("kept   ", "yellow"), link(rel, root=root), " as it was (it conflicts with the new version); the new one is beside it: ", link(stub, root=root)))
    for rel, renamed in report.gone:
        now = Text.assemble(" (renamed to ", link(renamed, root=root), ")") if renamed else ""
        lines.append(Text.assemble(("kept   ", "yellow"), link(rel, root=root), " as it was: no longer in the course", now))
    for rel in report.carried:
        if not is_student_file(rel):
            lines.append(Text.assemble(("kept   ", "dim"), link(rel, root=root), " with your changes (the new version doesn't change it)"))
    for rel in report.replaced:
        lines.append(Text.assemble(("moved  ", "yellow"), link(rel, root=root), ": the course now has a file of this name; yours is in the backup"))
    unchanged = sum(is_student_file(rel) for rel in report.carried)
    summary = f"Merged {len(report.merged)}, kept {len(report.conflicted)} (with the .new.py beside)"
    if report.gone:
        summary += f", kept {len(report.gone)} no longer in the course"
    if unchanged:
        summary += f"; {unchanged} other answer(s) the new version doesn't change"
    lines.append(Text(summary + "."))
    if report.backups:
        lines.append(Text.assemble("Your files as they were: ", link(report.backups, root=root)))
    if report.conflicted:
        lines.append(Text("For each .new.py: bring what changed into your file (arena runs yours), then delete the .new.py.", style="dim"))
    if report.branch:
        lines.append(Text(f"Your commits are on branch {report.branch}; your answers are now uncommitted changes on the new version."))
    if report.requirements_changed:
        lines.append(Text("The course's requirements changed: run `.venv/bin/pip install -r requirements.lock -e .`", style="bold"))
    return Group(*lines)
