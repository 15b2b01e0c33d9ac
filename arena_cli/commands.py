"""What each student command does: `cli.py` declares the commands; each calls one function here. The
session (`session.py`), batch runs (`batch.py`), `arena results` (`results.py`) and `--json` shapes
(`json_output.py`) live in their own modules.

Commands that don't run tests (`next`, `list`, `hint`, `progress`, `reset`, `solution`) only read the
catalogue and progress, so they never import torch and answer at once.

Exit codes: 0 done (a pass), 1 a failing verdict (or nothing done), 2 trouble: the course, a hint file
or the progress file (one line; `entry.main` prints it). `run` and `verify` show their verdicts first when
only saving progress failed.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from rich.text import Text

from arena_cli import render
from arena_cli.course import Exercise
from arena_cli.hints import load_explanation, load_hints
from arena_cli.keys import WATCH_KEYS
from arena_cli.further import parse as parse_further
from arena_cli.json_output import emit_json, exercise_json, progress_json, update_json
from arena_cli.layout import go_further_file
from arena_cli.links import link
from arena_cli.markers import solution_source, without_docstrings
from arena_cli.pager import paged
from arena_cli.progress import Progress, ProgressFileError
from arena_cli.session import (
    Context,
    next_pending,
    record_run,
    record_verification,
    reset_file,
    resolve,
    set_current,
)
from arena_cli.verdict import Verdict


# --------------------------------------------------------------------------- next


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


def after_verdict(ctx: Context, ex: Exercise, verdict: Verdict, progress: Progress, *, in_watch: bool) -> None:
    """What to do next, under a verdict (`progress`: as recorded with it)."""
    if verdict.passed:
        explanation = load_explanation(ex.hint_path)
        if explanation:  # a question's: what the answer means, now that the student has committed to one
            ctx.console.print(render.explanation_view(explanation))
        following = next_pending(ctx.course, progress)
        steps = [("✓ done", "recorded in your progress")]
        if ex.kind == "code":  # a question's explanation is above; it has no code to compare
            steps.append((f"arena solution {ex.id}", "compare your code with the reference"))
        chapter = ctx.course.chapter_of(ex)
        if all(progress.find(e.id).done for e in chapter.exercises) and go_further_file(ex.root, chapter.dir).exists():
            steps.append((f"arena further {chapter.id}", "open-ended replications, now that the chapter is done"))
        if following is None:
            steps.append(("", "That was the last pending exercise: the course is complete!"))
        elif in_watch:
            steps.append((WATCH_KEYS.key_for("next"), f"next exercise: {following.title}"))
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
        hint_key = WATCH_KEYS.key_for("hint") if in_watch else f"arena hint {ex.id}"
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
    from arena_cli.batch import workers_allowed
    from arena_cli.runner import run_exercise

    ex = resolve(ctx, exercise_id)
    if not as_json:
        ctx.console.print(Text.assemble(("Running the hidden test of ", "dim"), link(ex.exercise_path, root=ex.root), " …"))
    from arena_cli.worker_client import find_running

    # Another terminal's warm worker, if there is one, unless the student turned workers off.
    verdict = run_exercise(ex, worker=find_running(ctx.course.root) if workers_allowed() else None)
    assert verdict is not None
    try:
        progress: Progress | None = record_run(ctx, ex, verdict)
        trouble = None
    except ProgressFileError as e:  # the verdict is still shown; then the line, exit 2
        progress, trouble = None, e
    if as_json:
        emit_json(verdict.to_json())
    else:
        render.show_verdict(ctx.console, ex, verdict)
        if progress is not None:
            after_verdict(ctx, ex, verdict, progress, in_watch=False)
    if trouble is not None:
        ctx.error(trouble)
        return 2
    return 0 if verdict.passed else 1


# --------------------------------------------------------------------------- hint


def reveal_hint(ctx: Context, exercise_id: str | None, in_watch: bool = False, show_all: bool = False) -> int:
    ex = resolve(ctx, exercise_id)
    hints = load_hints(ex.hint_path)
    progress, revealed = ctx.update(lambda p: p.reveal_hint(ex.id, len(hints)))
    shown = progress.find(ex.id).hints
    with paged(ctx.console, enabled=not in_watch):  # watch holds the keys; its screen scrolls
        ctx.console.print(Text.assemble((ex.title, "bold"), "  ", link(ex.exercise_path, root=ex.root, style="dim")))
        ctx.console.print(render.hints_view(ex, hints, shown, show_all))
        if not revealed:
            ctx.console.print(
                f"[dim]No more hints. After passing, `arena solution {ex.id}` shows the reference "
                "(or now, with --force).[/]"
            )
        elif shown < len(hints):
            again = f"press {WATCH_KEYS.key_for('hint')}" if in_watch else "run `arena hint` again"
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
        ids = {c.id for c in ctx.course.chapters_matching(chapter)}
        exercises = [e for e in exercises if e.chapter_id in ids]
    if pending:
        exercises = [e for e in exercises if not progress.find(e.id).done]
    if as_json:
        emit_json([exercise_json(ctx.course, e, progress) for e in exercises])
        return 0
    if not exercises:
        ctx.console.print("No exercises match.")
        return 0
    from arena_cli import picker  # (imported here: `next`, `hint` and `progress` start faster without it)

    if interactive and picker.interactive_possible(ctx.console):
        only = {e.id for e in exercises} if chapter else None
        state = picker.ListState(picker.rows_of(ctx, progress, only), filter="pending" if pending else "all")
        return picker.run_picker(ctx, state, only)
    ctx.console.print(render.list_tables(ctx.course, progress, exercises))
    return 0


def show_progress(ctx: Context, as_json: bool) -> int:
    progress = ctx.load_progress()
    if as_json:
        emit_json(progress_json(ctx.course, progress))
        return 0
    ctx.console.print(render.progress_view(ctx.course, progress))
    return 0


def show_further(ctx: Context, chapter_name: str | None) -> int:
    """A chapter's go-further part (default: the current exercise's chapter)."""
    if chapter_name:
        chapters = ctx.course.chapters_matching(chapter_name)
    else:
        chapters = [ctx.course.chapter_of(resolve(ctx, None))]
    for chapter in chapters:
        path = go_further_file(ctx.course.root, chapter.dir)
        if not path.exists():
            ctx.console.print(f"{chapter.title}: no go-further part.")
            continue
        ctx.console.print(render.further_view(chapter.title, parse_further(path), path, ctx.course.root))
    return 0


# --------------------------------------------------------------------------- reset & solution


def reset_exercise(ctx: Context, exercise_id: str | None, yes: bool, confirm: Callable[[str], bool]) -> int:
    ex = resolve(ctx, exercise_id)
    path = ex.rel(ex.exercise_path)
    if not yes and not confirm(f"Overwrite {path} with a fresh copy and mark it pending?"):
        ctx.console.print("Nothing changed.")
        return 1
    reset_file(ctx, ex)
    ctx.console.print(Text.assemble("Reset ", link(ex.exercise_path, root=ex.root), f"; {ex.id} is pending again."))
    return 0


def show_solution(ctx: Context, exercise_id: str | None, force: bool) -> int:
    ex = resolve(ctx, exercise_id)
    if not force and not ctx.load_progress().find(ex.id).done:
        ctx.console.print(
            f"[yellow]{ex.id} isn't done yet.[/] Try `arena hint {ex.id}` first, "
            f"or `arena solution {ex.id} --force` to see the answer anyway."
        )
        return 1
    solution = solution_source(ex.read_master(), ex.rel(ex.solution_path))
    code = without_docstrings(solution)
    try:
        mine = ex.exercise_path.read_text(encoding="utf-8-sig")  # a BOM is no difference
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
    with paged(ctx.console):
        ctx.console.print(render.solution_view(ex, code, diff))
        explanation = load_explanation(ex.hint_path)
        if explanation:
            ctx.console.print(render.explanation_view(explanation))
    return 0


# --------------------------------------------------------------------------- verify


def verify(ctx: Context, as_json: bool, verbose: bool = False) -> int:
    from arena_cli.batch import run_many, warm_worker, worker_wanted

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
    try:
        set_back, trouble = record_verification(ctx, rows), None
    except ProgressFileError as e:  # the verdicts are still shown; then the line, exit 2
        set_back, trouble = [], e
    n_pass = sum(v.passed for _, v in rows)
    if as_json:
        emit_json(
            {
                "passed": n_pass,
                "total": len(rows),
                "verdicts": [v.to_json() for _, v in rows],
                "set_back_to_pending": [ex.id for ex in set_back],
            }
        )
    else:
        ctx.console.print(render.verify_table(rows, verbose))
        for ex in set_back:
            ctx.console.print(f"{ex.id} was done but fails now: it is pending again.", soft_wrap=True)
        ctx.console.print(f"{n_pass} of {len(rows)} exercises pass.")
    if trouble is not None:
        ctx.error(trouble)
        return 2
    return 0 if n_pass == len(rows) else 1


# --------------------------------------------------------------------------- update


def update_course(no_color: bool, as_json: bool) -> int:
    """`arena update` (see update.py); 1 if an answer was kept beside a .new.py, which needs the student.
    Needs no catalogue: a course that doesn't load is one an update may mend."""
    from arena_cli.course import find_root
    from arena_cli.update import update

    root = find_root()
    report = update(root)
    if as_json:
        emit_json(update_json(report))
    else:
        render.make_console(no_color).print(render.update_view(report, root), soft_wrap=True)  # a file a line
    return 1 if report.conflicted else 0
