"""What each student command does. `cli.py` declares the commands; each calls one function here.

Commands that don't run tests (`next`, `list`, `hint`, `progress`, `reset`, `solution`) only read the
catalogue and progress, so they never import torch and answer at once.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.text import Text

from arena_cli import render
from arena_cli.course import Course, CourseError, Exercise, Section, load_course
from arena_cli.editor import EDIT_CMD_ENV, Editor, editor_template
from arena_cli.hints import load_hints
from arena_cli.links import link
from arena_cli.markers import solution_source, write_student_file
from arena_cli.progress import Progress, ProgressStore, T, default_path
from arena_cli.verdict import Verdict


@dataclass
class Context:
    course: Course
    store: ProgressStore
    console: Console
    editor: Editor | None = None  # opens an exercise when it becomes current (--edit, --edit-cmd)

    @classmethod
    def create(cls, no_color: bool = False, edit: bool = False, edit_cmd: str | None = None) -> Context:
        course = load_course()
        ctx = cls(course, ProgressStore(default_path(course.root)), render.make_console(no_color))
        template = editor_template(edit, edit_cmd)
        if template:
            ctx.editor = Editor(template, ctx.warn)
        elif edit:
            ctx.warn(
                f"--edit: no editor command; give one with --edit-cmd or {EDIT_CMD_ENV}, e.g. "
                '"code -g {path}:{line}" (inside VSCode\'s terminal `code` is found by itself)'
            )
        return ctx

    def warn(self, message: str) -> None:
        """One line on stderr."""
        render.make_console(stderr=True).print(Text.assemble(("warning: ", "yellow"), message), soft_wrap=True)

    def flush_notices(self) -> None:
        """Print (once) any one-line messages about the progress file."""
        err = render.make_console(stderr=True)
        for notice in self.store.notices:
            err.print(f"[yellow]note:[/] {notice}", soft_wrap=True)
        self.store.notices.clear()

    def load_progress(self) -> Progress:
        progress = self.store.load()
        self.flush_notices()
        return progress

    def update(self, change: Callable[[Progress], T]) -> tuple[Progress, T]:
        """Change progress (one write); the progress as saved, and what `change` returned."""
        saved = self.store.update(change)
        self.flush_notices()
        return saved


def _strict(value: object) -> object:
    """NaN and infinities are not JSON: they become null (the message says what they were)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def emit_json(data: object) -> None:
    sys.stdout.write(json.dumps(_strict(data), indent=2, allow_nan=False) + "\n")


def first_pending(course: Course, progress: Progress) -> Exercise | None:
    return next((e for e in course.exercises if not progress.find(e.id).done), None)


def next_pending(course: Course, progress: Progress) -> Exercise | None:
    """What `arena next` (and `n` in watch) makes current: the current exercise while it is pending
    (one chosen in `arena list` stays chosen), else the first pending one after it in course order,
    else the first pending one."""
    exercises = list(course.exercises)
    at = next((i for i, e in enumerate(exercises) if e.id == progress.current), None)
    if at is None:
        return first_pending(course, progress)
    return next((e for e in exercises[at:] if not progress.find(e.id).done), None) or first_pending(course, progress)


def resolve(ctx: Context, exercise_id: str | None, progress: Progress | None = None) -> Exercise:
    """The named exercise, else the current one, else the first pending one."""
    if exercise_id:
        return ctx.course.get(exercise_id)
    progress = progress or ctx.load_progress()
    if progress.current:
        try:
            return ctx.course.get(progress.current)
        except CourseError:
            pass  # the current exercise left the course; fall through
    ex = first_pending(ctx.course, progress)
    if ex is None:
        raise CourseError("Every exercise is done; name one, e.g. `arena run ID` (see `arena list`).")
    return ex


def exercise_json(course: Course, ex: Exercise, progress: Progress) -> dict:
    section = course.section_of(ex)
    entry = progress.find(ex.id)
    return {
        "id": ex.id,
        "path": ex.rel(ex.exercise_path),
        "title": ex.title,
        "chapter": course.chapter_of(ex).title,
        "section": section.title,
        "number": ex.number,
        "difficulty": ex.difficulty,
        "importance": ex.importance,
        "minutes": ex.minutes,
        "objectives": list(section.objectives) if ex.first_in_section else [],
        "status": progress.status(ex.id),
        "attempts": entry.attempts,
        "hints": entry.hints,
    }


# --------------------------------------------------------------------------- next


def set_current(ctx: Context, ex: Exercise) -> Progress:
    """Make `ex` the current exercise (and open it in the editor, if asked for)."""

    progress, _ = ctx.update(lambda p: p.set_current(ex.id))
    if ctx.editor is not None:
        ctx.editor.open(ex.exercise_path)
    return progress


def next_exercise(ctx: Context, as_json: bool) -> int:
    progress = ctx.load_progress()
    ex = next_pending(ctx.course, progress)
    if ex is None:
        if as_json:
            emit_json({"id": None, "done": True})
        else:
            ctx.console.print(render.all_done(ctx.course))
        return 0
    progress = set_current(ctx, ex)
    if as_json:
        emit_json(exercise_json(ctx.course, ex, progress))
        return 0
    show_exercise(ctx, ex, progress)
    return 0


def show_exercise(ctx: Context, ex: Exercise, progress: Progress, steps: bool = True) -> None:
    ctx.console.print(render.exercise_card(ctx.course, ex, progress, show_objectives=ex.first_in_section))
    if steps:
        ctx.console.print(
            render.next_steps(
                [
                    ("arena watch", "reruns the hidden test every time you save the file"),
                    ("arena hint", "reveals the next hint"),
                ]
            )
        )


# --------------------------------------------------------------------------- run


def record_run(ctx: Context, ex: Exercise, verdict: Verdict, record_pass: bool = True) -> Progress:
    """Count the attempt and record a pass (unless not `record_pass`); the progress as saved."""
    progress, _ = ctx.update(lambda p: p.record_attempt(ex.id, passed=record_pass and verdict.passed))
    return progress


def after_verdict(ctx: Context, ex: Exercise, verdict: Verdict, progress: Progress, *, in_watch: bool) -> None:
    """What to do next, under a verdict (`progress`: as recorded with it)."""
    if verdict.passed:
        following = next_pending(ctx.course, progress)
        steps = [
            ("✓ done", "recorded in your progress"),
            (f"arena solution {ex.id}", "compare your code with the reference"),
        ]
        if following is None:
            steps.append(("", "That was the last pending exercise: the course is complete!"))
        elif in_watch:
            steps.append(("n", f"next exercise: {following.title}"))
        else:
            steps.append(("arena next", f"next exercise: {following.title}"))
        ctx.console.print(render.next_steps(steps))
        return
    entry = progress.find(ex.id)
    try:
        n_hints = len(load_hints(ex.hint_path))
    except Exception:  # noqa: BLE001 - a broken hint file is reported by `arena hint`, not here
        n_hints = 0
    steps = []
    if n_hints:
        hint_key = "h" if in_watch else f"arena hint {ex.id}"
        if entry.hints < n_hints:
            steps.append((hint_key, f"hint {entry.hints + 1} of {n_hints}"))
        else:
            steps.append((hint_key, f"all {n_hints} hints shown"))
    if in_watch:
        steps.append(("", "save the file to run again"))
    else:
        steps.append(("", Text.assemble("edit ", link(ex.exercise_path, root=ex.root), ", then run again (or `arena watch`)")))
    ctx.console.print(render.next_steps(steps))


def run_once(ctx: Context, exercise_id: str | None, as_json: bool) -> int:
    from arena_cli.runner import run_exercise

    ex = resolve(ctx, exercise_id)
    if not as_json:
        ctx.console.print(Text.assemble(("Running the hidden test of ", "dim"), link(ex.exercise_path, root=ex.root), " …"))
    from arena_cli.worker import find_running

    verdict = run_exercise(ex, worker=find_running(ctx.course.root))
    assert verdict is not None
    progress = record_run(ctx, ex, verdict)
    if as_json:
        emit_json(verdict.to_json())
    else:
        ctx.console.print(render.verdict_view(ex, verdict))
        after_verdict(ctx, ex, verdict, progress, in_watch=False)
    return 0 if verdict.passed else 1


# --------------------------------------------------------------------------- hint


def reveal_hint(ctx: Context, exercise_id: str | None, in_watch: bool = False) -> int:
    ex = resolve(ctx, exercise_id)
    hints = load_hints(ex.hint_path)
    progress, revealed = ctx.update(lambda p: p.reveal_hint(ex.id, len(hints)))
    shown = progress.find(ex.id).hints
    ctx.console.print(Text.assemble((ex.title, "bold"), "  ", link(ex.exercise_path, root=ex.root, style="dim")))
    ctx.console.print(render.hints_view(ex, hints, shown))
    if not revealed:
        ctx.console.print(
            f"[dim]No more hints. After passing, `arena solution {ex.id}` shows the reference "
            "(or now, with --force).[/]"
        )
    elif shown < len(hints):
        again = "press h" if in_watch else "run `arena hint` again"
        ctx.console.print(f"[dim]{len(hints) - shown} more: {again}.[/]")
    return 0


# --------------------------------------------------------------------------- list & progress


def list_exercises(
    ctx: Context, pending: bool, chapter: str | None, as_json: bool, interactive: bool = False
) -> int:
    """The list of exercises: interactive in a terminal (unless `interactive` is False), else a table."""
    progress = ctx.load_progress()
    exercises = list(ctx.course.exercises)
    if chapter:
        key = chapter.lower()
        matching = [c for c in ctx.course.chapters if key in (c.id, c.dir) or key in c.title.lower()]
        if not matching:
            names = ", ".join(c.id for c in ctx.course.chapters)
            raise CourseError(f"No chapter matches {chapter!r}; chapters: {names}")
        ids = {c.id for c in matching}
        exercises = [e for e in exercises if e.chapter_id in ids]
    if pending:
        exercises = [e for e in exercises if not progress.find(e.id).done]
    if as_json:
        emit_json([exercise_json(ctx.course, e, progress) for e in exercises])
        return 0
    if not exercises:
        ctx.console.print("No exercises match.")
        return 0
    from arena_cli import picker

    if interactive and picker.interactive_possible(ctx.console):
        only = {e.id for e in exercises} if chapter else None
        state = picker.ListState(picker.rows_of(ctx, progress, only), filter="pending" if pending else "all")
        return picker.run_picker(ctx, state, only)
    ctx.console.print(render.list_tables(ctx.course, progress, exercises))
    return 0


def show_progress(ctx: Context, as_json: bool) -> int:
    progress = ctx.load_progress()
    if as_json:
        emit_json(
            {
                "chapters": [
                    {
                        "id": c.id,
                        "title": c.title,
                        "done": sum(progress.find(e.id).done for e in c.exercises),
                        "total": len(c.exercises),
                    }
                    for c in ctx.course.chapters
                ],
                "done": sum(progress.find(e.id).done for e in ctx.course.exercises),
                "total": len(ctx.course.exercises),
                "current": progress.current,
            }
        )
        return 0
    ctx.console.print(render.progress_view(ctx.course, progress))
    return 0


# --------------------------------------------------------------------------- reset & solution


def read_master(ex: Exercise) -> str:
    """The exercise's master file; a clear course error if it can't be read."""
    try:
        return ex.solution_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = "missing" if isinstance(e, FileNotFoundError) else f"unreadable ({e})"
        raise CourseError(f"{ex.rel(ex.solution_path)}: the master of {ex.id!r} is {reason}") from None


def reset_file(ctx: Context, ex: Exercise) -> None:
    """Regenerate the student's file from its master (atomically) and mark the exercise pending."""
    write_student_file(ex.exercise_path, read_master(ex), ex.rel(ex.solution_path))

    ctx.update(lambda p: p.reset(ex.id))


def reset_exercise(ctx: Context, exercise_id: str, yes: bool, confirm: Callable[[str], bool]) -> int:
    ex = ctx.course.get(exercise_id)
    path = ex.rel(ex.exercise_path)
    if not yes and not confirm(f"Overwrite {path} with a fresh copy and mark it pending?"):
        ctx.console.print("Nothing changed.")
        return 1
    reset_file(ctx, ex)
    ctx.console.print(Text.assemble("Reset ", link(ex.exercise_path, root=ex.root), f"; {ex.id} is pending again."))
    return 0


def show_solution(ctx: Context, exercise_id: str, force: bool) -> int:
    ex = ctx.course.get(exercise_id)
    if not force and not ctx.load_progress().find(ex.id).done:
        ctx.console.print(
            f"[yellow]{ex.id} isn't done yet.[/] Try `arena hint {ex.id}` first, "
            f"or `arena solution {ex.id} --force` to see the answer anyway."
        )
        return 1
    solution = solution_source(read_master(ex), ex.rel(ex.solution_path))
    try:
        mine = ex.exercise_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        mine = ""
    diff = "".join(
        difflib.unified_diff(
            mine.splitlines(keepends=True),
            solution.splitlines(keepends=True),
            fromfile=ex.rel(ex.exercise_path),
            tofile=ex.rel(ex.solution_path),
        )
    )
    ctx.console.print(render.solution_view(ex, solution, diff))
    return 0


# --------------------------------------------------------------------------- verify


# Below this many runs, a worker's warm-up (~4 s of imports) costs more than the cold starts it saves.
WARM_MIN_RUNS = 4
NO_WORKER_ENV = "ARENA_NO_WORKER"


def worker_wanted(n_runs: int) -> bool:
    return n_runs >= WARM_MIN_RUNS and not os.environ.get(NO_WORKER_ENV)


@contextmanager
def warm_worker(root: Path, warm: bool) -> Iterator[Path | None]:
    """A warm worker's socket for a batch of runs (None, i.e. cold runs, if it can't start)."""
    if not warm:
        yield None
        return
    from arena_cli.worker import Worker

    with Worker(root) as worker:
        yield worker.path if worker.wait_ready() else None


def run_many(
    exercises: list[Exercise],
    *,
    target: Callable[[Exercise], Path],
    console: Console,
    show_bar: bool,
    label: str,
    worker: Path | None = None,
) -> list[tuple[Exercise, Verdict]]:
    """Run several exercises' hidden tests in parallel over the cores, in course order."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn

    from arena_cli.runner import run_exercise

    results: dict[str, Verdict] = {}
    workers = max(1, min(len(exercises), os.cpu_count() or 1))
    with Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not show_bar,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=len(exercises))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(run_exercise, e, target=target(e), worker=worker): e for e in exercises}
            for future, ex in futures.items():
                verdict = future.result()
                assert verdict is not None
                results[ex.id] = verdict
                bar.advance(task)
    return [(e, results[e.id]) for e in exercises]


def verify(ctx: Context, as_json: bool) -> int:
    exercises = list(ctx.course.exercises)
    with warm_worker(ctx.course.root, worker_wanted(len(exercises))) as worker:
        rows = run_many(
            exercises,
            target=lambda e: e.exercise_path,
            console=ctx.console,
            show_bar=not as_json and ctx.console.is_terminal,
            label="Verifying",
            worker=worker,
        )
    for ex, verdict in rows:
        record_run(ctx, ex, verdict)
    n_pass = sum(v.passed for _, v in rows)
    if as_json:
        emit_json({"passed": n_pass, "total": len(rows), "verdicts": [v.to_json() for _, v in rows]})
    else:
        ctx.console.print(render.verify_table(rows))
        ctx.console.print(f"{n_pass} of {len(rows)} exercises pass.")
    return 0 if n_pass == len(rows) else 1


# --------------------------------------------------------------------------- results


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
    ctx.console.print(f"[bold]{section.title}[/] — {section.result}", soft_wrap=True)
    if not reference:
        pending = unfinished_for_result(ctx, section)
        if pending:
            names = ", ".join(f"{e.stem[:2]} {e.id}" for e in pending)
            ctx.console.print(
                f"[yellow]Not passed yet: {names}.[/] The result runs your code for them: finish them first "
                f"(`arena run <id>` records a pass), or see the reference's with `arena results --reference`.",
                soft_wrap=True,
            )
            return 1
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
        code = subprocess.run([sys.executable, str(path), *extra], cwd=ctx.course.root, env=env).returncode
        if code != 0:
            hint = "" if reference else f" (does `arena run {run.id}` pass? `arena results --reference` shows the reference's)"
            ctx.console.print(f"[red]The result stopped with exit code {code}{hint}.[/]", soft_wrap=True)
            return 1
    written = [p for p, mtime in figures(ctx.course.root).items() if before.get(p) != mtime]
    if written:
        show_figures(ctx, sorted(written))
    return 0


SIBLING_CALL = re.compile(r"""load_sibling\(\s*__file__\s*,\s*["'](\w+)["']\s*\)""")


def unfinished_for_result(ctx: Context, section: Section) -> list[Exercise]:
    """The exercises a section's result runs the student's code of (its result-run exercises and every
    `load_sibling(__file__, "id")` in their masters) that progress.json doesn't record as passed: the
    result would stop at their NotImplementedError."""
    needed: set[str] = set()
    for run in section.result_runs:
        needed.add(run.id)
        try:
            needed.update(SIBLING_CALL.findall(run.solution_path.read_text(encoding="utf-8")))
        except OSError:
            pass
    progress = ctx.load_progress()
    return [e for e in ctx.course.exercises if e.id in needed and not progress.find(e.id).done]


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


FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".gif", ".pdf")


def figures(root: Path) -> dict[Path, int]:
    """Every figure under `<root>/results` with its modification time (ns)."""
    found = {}
    for path in (root / "results").rglob("*"):
        if path.suffix.lower() in FIGURE_SUFFIXES:
            try:
                found[path] = path.stat().st_mtime_ns
            except OSError:
                pass
    return found
