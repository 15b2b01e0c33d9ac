"""`arena results`: a section's result (its plots), run with the student's code or the reference's.

Which section (named by an exercise or part of its title; default the current one's), which of the
exercises it uses (`result_runs` and `result_needs` in the manifest) haven't passed yet, running its
exercise files as scripts, and listing (and, where the terminal can, drawing) the figures it wrote.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rich.text import Text

from arena_cli.course import CourseError, Exercise, Section
from arena_cli.layout import results_dir
from arena_cli.links import link
from arena_cli.session import Context, resolve

FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".gif", ".pdf")


def find_section(ctx: Context, which: str | None) -> tuple[Exercise, Section]:
    """A section named by an exercise id, or by part of its title; default: the current one's.
    Returns (an exercise of it, the section)."""
    if which:
        try:
            ex = ctx.course.get(which)
            return ex, ctx.course.section_of(ex)
        except CourseError:
            key = which.lower()
            for ex in ctx.course.exercises:
                if ex.first_in_section and key in ctx.course.section_of(ex).title.lower():
                    return ex, ctx.course.section_of(ex)
            titles = "; ".join(
                ctx.course.section_of(e).title for e in ctx.course.exercises if e.first_in_section
            )
            raise CourseError(f"No section matches {which!r}. Sections: {titles}") from None
    ex = resolve(ctx, None)
    return ex, ctx.course.section_of(ex)


def run_results(ctx: Context, which: str | None, reference: bool, extra: list[str]) -> int:
    """Run a section's result with the student's code (or the reference's) and show where it went."""
    ex, section = find_section(ctx, which)
    if not section.result_runs:
        ctx.console.print(f"The section {section.title!r} has no result to run.")
        return 1
    whose = "the reference solution" if reference else "your code"
    ctx.console.print(f"[bold]{section.title}[/] — {section.result}")  # wrapped at words
    if not reference:
        pending = unfinished_for_result(ctx, section)
        if pending:
            names = ", ".join(f"{e.label} {e.id}" for e in pending)
            ctx.console.print(
                f"[yellow]Not passed yet: {names}.[/] The result runs your code for them: finish them first "
                f"(`arena run <id>` records a pass), or see the reference's with `arena results --reference`.",
            )
            return 1
        unanswered = [q for q in section.exercises if q.kind == "question" and answer_in(q.exercise_path) is None]
        if unanswered:
            names = ", ".join(f"{q.label} {q.id}" for q in unanswered)
            ctx.console.print(f"[yellow]Predict first:[/] {names} asks what this result will show; answering "
                              "after looking teaches less.")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    before = figures(ctx.course.root)
    for run in section.result_runs:
        path = run.solution_path if reference else run.exercise_path
        ctx.console.print(
            Text.assemble(
                (f"\nRunning the result with {whose}: ", "dim"),
                "python ",
                link(path, root=ctx.course.root),
                f" {' '.join(extra)}".rstrip(),
            )
        )
        command = [sys.executable, str(path), *extra]
        if ctx.console.is_terminal:  # its prints wrapped at words to the terminal's width (see result_main)
            command[1:1] = ["-m", "arena_course.result_main"]
            env["COLUMNS"] = str(ctx.console.width)
        code, last_error = run_script(command, ctx.course.root, env)
        if code != 0:
            if last_error.startswith(NO_MODEL) and "--tiny" not in extra:  # the script said why, just above
                ctx.console.print(f"[yellow]No model for this result here:[/] `arena results {ex.id} --tiny` runs it "
                                  "offline on a tiny model (no download), or get the model as said above.")
                return 1
            hint = "" if reference else f" (does `arena run {run.id}` pass? `arena results --reference` shows the reference's)"
            ctx.console.print(f"[red]The result stopped with exit code {code}{hint}.[/]")
            return 1
    written = [p for p, mtime in figures(ctx.course.root).items() if before.get(p) != mtime]
    if written:
        show_figures(ctx, sorted(written))
    if not reference:
        show_predictions(ctx, section)
    return 0


# How a result's script says, in one line on stderr, that it cannot get its pretrained model
# (arena_course.models.ModelUnavailable's message).
NO_MODEL = "Needs "


def run_script(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run a result's script, its output going to the terminal as it comes; (exit code, the last line
    it wrote on stderr), so that a failure can be told by its reason."""
    proc = subprocess.Popen(command, cwd=cwd, env=env, stderr=subprocess.PIPE)
    last = b""
    pending = b""
    assert proc.stderr is not None
    while chunk := proc.stderr.read1(65536):
        sys.stderr.buffer.write(chunk)
        sys.stderr.buffer.flush()
        pending += chunk
        lines = [ln for ln in pending.split(b"\n")[:-1] if ln.strip()]
        if lines:
            last = lines[-1]
        pending = pending.rsplit(b"\n", 1)[-1][-4096:]
    return proc.wait(), last.decode(errors="replace").strip()


def show_predictions(ctx: Context, section: Section) -> None:
    """The section's questions, each with the student's answer as it stands in their file, beside what
    the result just showed, and whether that answer holds: its hidden test is run now (a question's
    test takes a second), since the answer may have changed since it last passed."""
    from arena_cli.runner import run_exercise
    from arena_cli.session import record_run

    questions = [e for e in section.exercises if e.kind == "question"]
    if not questions:
        return
    ctx.console.print("\n[bold]Your predictions, beside what happened:[/]")
    for q in questions:
        value = answer_in(q.exercise_path)
        if value is None:
            said = Text("not answered yet: predict before you look, then `arena run " + q.id + "`", style="yellow")
        else:
            verdict = run_exercise(q)
            record_run(ctx, q, verdict)
            if verdict.passed:
                said = Text.assemble((value, "bold"), ("  ✓ right", "green"))
            else:
                failure = verdict.first_failure
                why = (failure.diagnosis or failure.message) if failure else verdict.message
                first = why.strip().splitlines()[0] if why.strip() else verdict.status
                said = Text.assemble((value, "bold"), ("  ✗ not right: ", "yellow"), first)
        ctx.console.print(Text.assemble(f"  {q.label} {q.title}: ", said))


def answer_in(path: Path, name: str = "ANSWER") -> str | None:
    """The value assigned to `name` at the top of a question's file, as written (None: unanswered or
    unreadable). Read, not imported: showing an answer never runs the student's code."""
    import ast

    try:
        source = path.read_text(encoding="utf-8-sig")
        tree = ast.parse(source)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            if isinstance(node.value, ast.Constant) and node.value.value is None:
                return None
            return ast.get_source_segment(source, node.value)
    return None


def unfinished_for_result(ctx: Context, section: Section) -> list[Exercise]:
    """The exercises whose code a section's result runs (declared in the manifest) that progress.json
    doesn't record as passed, in course order: the result would stop at their NotImplementedError."""
    uses = {e.id for e in section.result_uses}
    progress = ctx.load_progress()
    return [e for e in ctx.course.exercises if e.id in uses and not progress.find(e.id).done]


def show_figures(ctx: Context, paths: list[Path]) -> None:
    """Each figure's path; in a terminal that shows images (kitty, iTerm2), the figure under it."""
    from arena_cli import images

    how = images.protocol(ctx.console.is_terminal)
    ctx.console.print("\n[bold]Figures written:[/]")
    for path in paths:
        ctx.console.print(Text.assemble("  ", link(path, root=ctx.course.root, style="cyan")))
        drawing = images.inline_image(path, how, min(ctx.console.width - 2, 100)) if how else None
        if drawing:
            ctx.console.file.write(drawing + "\n")
            ctx.console.file.flush()


def figures(root: Path) -> dict[Path, int]:
    """Every figure under `<root>/results` with its modification time (ns)."""
    found = {}
    for path in results_dir(root).rglob("*"):
        if path.suffix.lower() in FIGURE_SUFFIXES:
            try:
                found[path] = path.stat().st_mtime_ns
            except OSError:
                pass
    return found
