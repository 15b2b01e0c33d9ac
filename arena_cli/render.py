"""Every rich drawing arena makes. Nothing here decides anything: it is given what to show."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from arena_cli.course import Course, Exercise
from arena_cli.hints import Hint
from arena_cli.layout import is_student_file
from arena_cli.links import LinkConsole, link, link_location, linkify
from arena_cli.progress import Progress
from arena_cli.verdict import Check, Mismatch, Verdict

if TYPE_CHECKING:
    from arena_cli.update import UpdateReport

_MARK = {"passed": ("✓", "green"), "failed": ("✗", "red"), "error": ("!", "red"), "skipped": ("-", "dim")}
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


# --------------------------------------------------------------------------- verdicts


def mismatch_table(m: Mismatch) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("", style="dim")
    table.add_column("expected", style="green")
    table.add_column("yours", style="red")
    table.add_row(m.name, m.expected, m.actual)
    if m.kind == "value":
        ids = m.max_abs_err is None and all(isinstance(s.get("expected"), int) for s in m.sample)
        if m.n_mismatched is not None:
            table.add_row("mismatched", "", f"{m.n_mismatched:,} of {m.n_total:,}")
        if ids:  # token ids, indices, counts: which differ, not by how much
            if m.where and m.worst:
                table.add_row(f"first at {list(m.where)}", str(m.worst[0]), str(m.worst[1]))
            for s in m.sample:
                table.add_row(f"  {list(s['index'])}", _id(s, "expected"), _id(s, "actual"))
            return table
        table.add_row("max abs error", "", f"{m.max_abs_err:.4g}" if m.max_abs_err is not None else "")
        table.add_row("max rel error", "", f"{m.max_rel_err:.4g}" if m.max_rel_err is not None else "")
        if m.where and m.worst:
            table.add_row(f"worst at {list(m.where)}", f"{m.worst[0]:.5g}", f"{m.worst[1]:.5g}")
        for s in m.sample:
            table.add_row(f"  {list(s['index'])}", f"{s['expected']:.5g}", f"{s['actual']:.5g}")
    return table


def _id(sample: dict, side: str) -> str:
    """An integer value, with its decoded token when the check had a tokenizer."""
    token = sample.get(f"{side}_token")
    return f"{sample[side]} {token!r}" if token is not None else str(sample[side])


def check_detail(check: Check, root: Path) -> RenderableType:
    headline = linkify(check.message or check.status, root, style="bold")
    if check.location:
        # `path:line:col: message`, as compilers write it: VSCode's terminal makes the place clickable
        # and the .vscode task's problem matcher puts the message on that line in the Problems panel.
        headline = Text.assemble(link_location(check.location, root), ": ", headline)
    parts: list[RenderableType] = [headline]
    if check.mismatch is not None:
        parts.append(mismatch_table(check.mismatch))
    if check.diagnosis:
        parts.append(Text.assemble(("Diagnosis: ", "bold yellow"), check.diagnosis))
    if check.traceback:
        parts.append(linkify(check.traceback.rstrip(), root, style="dim"))
    if check.output.strip():
        parts.append(Text.assemble(("Your code printed:\n", "bold"), check.output.rstrip()))
    return Panel(Group(*parts), title=f"✗ {check.name}", title_align="left", border_style="red", expand=True)


def verdict_view(ex: Exercise, verdict: Verdict) -> RenderableType:
    n_pass = sum(c.status == "passed" for c in verdict.checks)
    headline = Text()
    mark = {"passed": "✓", "failed": "✗", "error": "!", "timeout": "⏱"}[verdict.status]
    headline.append(f"{mark} {ex.title} ", style=_STATUS_STYLE[verdict.status])
    label = {"passed": "passed", "failed": "failed", "error": "error", "timeout": "timed out"}[verdict.status]
    headline.append(f"— {label}", style=_STATUS_STYLE[verdict.status])
    if verdict.checks:
        headline.append(f"  ({n_pass}/{len(verdict.checks)} checks, {verdict.duration_s:.1f} s)", style="dim")
    parts: list[RenderableType] = [headline]
    if verdict.checks:
        checks = Table.grid(padding=(0, 1))  # a long check name wraps under itself, not under the mark
        checks.add_column(no_wrap=True)
        checks.add_column()
        for c in verdict.checks:
            mark, style = _MARK.get(c.status, ("?", ""))
            checks.add_row(Text(f"  {mark}", style=style), Text(c.name, style=style))
        parts.append(checks)
    if verdict.status in ("error", "timeout") and verdict.message:
        body: list[RenderableType] = [linkify(verdict.message, ex.root, style="bold")]
        if verdict.output.strip():
            body.append(linkify(verdict.output.rstrip(), ex.root, style="dim"))
        parts.append(Panel(Group(*body), border_style="red" if verdict.status == "error" else "yellow"))
    else:
        failure = verdict.first_failure
        if failure is not None:
            parts.append(check_detail(failure, ex.root))
            parts += other_failures(verdict, failure)
    return Group(*parts)


def other_failures(verdict: Verdict, shown: Check) -> list[RenderableType]:
    """The failing checks after the first, one line each: what each found (its diagnosis, else its
    message), so a diagnosis on a later check reaches the student too. Repeats are left out."""
    seen = {(shown.diagnosis or shown.message).strip()}
    rows = Table.grid(padding=(0, 1))  # a wrapped line continues under its text, not under the mark
    rows.add_column(no_wrap=True)
    rows.add_column()
    for check in verdict.checks:
        if check is shown or check.status not in ("failed", "error"):
            continue
        said = (check.diagnosis or check.message or check.status).strip()
        if said in seen:
            continue
        seen.add(said)
        first = said.splitlines()[0] if said else ""
        if len(first) > 300:
            first = first[:297] + "..."
        rows.add_row(Text("  ✗", style="red"), Text.assemble((check.name, "bold"), ": ", first))
    return [rows] if rows.row_count else []


# --------------------------------------------------------------------------- hints


def hints_view(ex: Exercise, hints: Sequence[Hint], shown: int, show_all: bool = False) -> RenderableType:
    """The newest revealed level in full; the earlier ones a line each (all in full with `show_all`)."""
    from rich.markdown import Markdown  # imported here: it is slow to import, and only hints need it

    parts: list[RenderableType] = []
    for hint in hints[:shown]:
        title = f"hint {hint.level} of {len(hints)}: {hint.title}"
        if hint.level == shown or show_all:
            parts.append(Panel(Markdown(hint.body), title=title, title_align="left",
                               border_style="yellow" if hint.level == shown else "dim"))
            continue
        lines = [ln.strip() for ln in hint.body.splitlines() if ln.strip()]
        first = next((ln for ln in lines if not ln.startswith("```")), "")
        if lines and lines[0].startswith("```"):
            first = "(code)"  # a level that opens with code: the code is what it says
        line = Text.assemble((title, "dim bold"), ("  " + first, "dim"))
        line.no_wrap, line.overflow = True, "ellipsis"  # one line, whatever the terminal's width
        parts.append(line)
    if shown > 1 and not show_all:
        parts.append(Text("(earlier hints in a line each; `arena hint --all` shows them in full)", style="dim"))
    return Group(*parts)


def explanation_view(text: str) -> RenderableType:
    """A question's explanation, shown once it passes."""
    from rich.markdown import Markdown

    return Panel(Markdown(text), title="why", title_align="left", border_style="green")


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
        table.add_column("title")
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
        table.add_row(chapter.title, ProgressBar(total=n, completed=done, width=30), f"{done}/{n}")
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
    parts.append(
        Panel(
            Syntax(code, "python", word_wrap=True),
            title=Text.assemble("reference code (docstrings left out): ", link(ex.solution_path, root=ex.root)),
            title_align="left",
        )
    )
    return Group(*parts)


def verify_table(rows: Sequence[tuple[Exercise, Verdict]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("exercise")
    table.add_column("result")
    table.add_column("checks", justify="right")
    table.add_column("time", justify="right")
    table.add_column("first problem", overflow="fold")
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
        table.add_row(
            ex.id,
            Text(v.status, style=_STATUS_STYLE[v.status]),
            f"{n_pass}/{len(v.checks)}",
            f"{v.duration_s:.1f}s",
            linkify(problem, ex.root),
        )
    return table


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
