"""The verdict's drawings (render.py has the others): its headline and checks, the problem lines for
machines (problems.py) on lines of their own, and the first failing check in full."""

from __future__ import annotations

import os

from pathlib import Path

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from arena_cli.course import Exercise
from arena_cli.links import link_location, linkify
from arena_cli.problems import check_problem, problem_lines, split_place
from arena_cli.verdict import Check, Mismatch, Verdict

_MARK = {"passed": ("✓", "green"), "failed": ("✗", "red"), "error": ("!", "red"), "skipped": ("-", "dim")}
_STATUS_STYLE = {"passed": "bold green", "failed": "bold red", "error": "bold red", "timeout": "bold yellow"}



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
        if m.max_rel_err:  # none, or 0 beside an error: the differing entries expect 0 (nothing to divide by)
            table.add_row("max rel error", "", f"{m.max_rel_err:.4g}")
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
    """A failing check in full. Its place and message are on the problem line above the panel
    (`problem_lines`); the panel holds what a person reads next: the mismatch, diagnosis, traceback."""
    long_name = len(check.name) > 60  # a panel's title is cut to its width: a long name goes inside
    message = check.message or check.status
    said_above = bool(check_problem(check)[0]) and "\n" not in message.strip()  # whole on the problem line
    parts: list[RenderableType] = [] if said_above else [linkify(message, root, style="bold")]
    if check.mismatch is not None:
        parts.append(mismatch_table(check.mismatch))
    if check.diagnosis:
        parts.append(Text.assemble(("Diagnosis: ", "bold yellow"), check.diagnosis))
    if check.traceback:
        parts.append(linkify(check.traceback.rstrip(), root, style="dim"))
    if check.output.strip():
        parts.append(Text.assemble(("Your code printed:\n", "bold"), check.output.rstrip()))
    if not parts:  # the problem line said it all
        return Group()
    if long_name:
        parts.insert(0, Text(check.name, style="red"))
    return Panel(Group(*parts), title="✗" if long_name else f"✗ {check.name}", title_align="left",
                 border_style="red", expand=True)


def verdict_head(ex: Exercise, verdict: Verdict) -> RenderableType:
    """The verdict's headline and its checks, a line each."""
    n_pass = sum(c.status == "passed" for c in verdict.checks)
    headline = Text()
    mark = {"passed": "✓", "failed": "✗", "error": "!", "timeout": "⏱"}[verdict.status]
    headline.append(f"{mark} {ex.title} ", style=_STATUS_STYLE[verdict.status])
    label = {"passed": "passed", "failed": "failed", "error": "error", "timeout": "timed out"}[verdict.status]
    headline.append(f"— {label}", style=_STATUS_STYLE[verdict.status])
    if verdict.checks:
        headline.append(f"  ({n_pass}/{len(verdict.checks)} checks, {seconds(verdict.duration_s)})", style="dim")
    parts: list[RenderableType] = [headline]
    if verdict.checks:
        checks = Table.grid(padding=(0, 1))  # a long check name wraps under itself, not under the mark
        checks.add_column(no_wrap=True)
        checks.add_column()
        for c in verdict.checks:
            mark, style = _MARK.get(c.status, ("?", ""))
            checks.add_row(Text(f"  {mark}", style=style), Text(c.name, style=style))
        parts.append(checks)
    return Group(*parts)


def verdict_detail(ex: Exercise, verdict: Verdict) -> RenderableType:
    """What failed, in full: the run's error, or the first failing check and the others' findings."""
    parts: list[RenderableType] = []
    if verdict.status in ("error", "timeout") and verdict.message:
        message = split_place(verdict.message)[1]  # its place is on the problem line
        body: list[RenderableType] = [linkify(message, ex.root, style="bold")]
        if verdict.output.strip():
            body.append(linkify(verdict.output.rstrip(), ex.root, style="dim"))
        parts.append(Panel(Group(*body), border_style="red" if verdict.status == "error" else "yellow"))
    else:
        failure = verdict.first_failure
        if failure is not None:
            parts.append(check_detail(failure, ex.root))
            parts += other_failures(verdict, failure)
    return Group(*parts)


def problem_text(line: str, root: Path) -> Text:
    """A problem line (see problems.py), its place clickable."""
    place, rest = line.split(": ", 1)
    return Text.assemble(link_location(place, root, style="bold"), ": ", (rest, "bold red"))


# Set by the .vscode task: problem lines are for its problem matcher, which reads each as the program
# wrote it, so arena never wraps them. For a person (without it) they wrap at words, the place whole.
MACHINE_LINES_ENV = "ARENA_PROBLEM_LINES"


def show_verdict(console: Console, ex: Exercise, verdict: Verdict) -> None:
    """Print a verdict: its head, then each problem on a line of its own (never wrapped by arena under a
    problem matcher, whatever the terminal's width; see MACHINE_LINES_ENV), then the details."""
    console.print(verdict_head(ex, verdict))
    for_machine = os.environ.get(MACHINE_LINES_ENV) == "1"
    for line in problem_lines(verdict):
        console.print(problem_text(line, ex.root), soft_wrap=for_machine)
    console.print(verdict_detail(ex, verdict))


def verdict_view(ex: Exercise, verdict: Verdict) -> RenderableType:
    """The verdict as one drawing, for a person (no problem lines): tests and previews."""
    return Group(verdict_head(ex, verdict), verdict_detail(ex, verdict))


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


def seconds(duration_s: float) -> str:
    """A run's duration as a student reads it: "0.06 s" (a warm run is under a tenth), "2.4 s"."""
    return f"{duration_s:.2f} s" if duration_s < 1 else f"{duration_s:.1f} s"
