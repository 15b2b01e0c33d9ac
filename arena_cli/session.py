"""The student's session: the course, their progress and the command's options in one `Context`; which
exercise a command means (named, current, first pending), what comes next, and the changes a session
makes to progress (making an exercise current, recording a run, resetting a file), one write each.

Torch-free: every command starts here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from rich.console import Console
from rich.text import Text

from arena_cli import render
from arena_cli.course import Course, CourseError, Exercise, load_course
from arena_cli.editor import EDIT_CMD_ENV, Editor, editor_template
from arena_cli.markers import write_student_file
from arena_cli.progress import Progress, ProgressStore, default_path
from arena_cli.verdict import Verdict

T = TypeVar("T")


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

    def error(self, problem: Exception) -> None:
        """One line on stderr, as `entry.main` prints an error that ends a command: for trouble met after
        the command has shown what it did (a verdict whose progress could not be saved)."""
        render.make_console(stderr=True).print(Text.assemble(("arena: ", "red"), str(problem)), soft_wrap=True)

    def flush_notices(self) -> None:
        """Print (once) any one-line messages about the progress file."""
        err = render.make_console(stderr=True)
        for notice in self.store.notices:
            err.print(f"[yellow]note:[/] {notice}", soft_wrap=True)
        self.store.notices.clear()

    def load_progress(self) -> Progress:
        """Progress as saved; a ProgressFileError when the file can't be read."""
        try:
            return self.store.load()
        finally:
            self.flush_notices()

    def update(self, change: Callable[[Progress], T]) -> tuple[Progress, T]:
        """Change progress (one write); the progress as saved, and what `change` returned. A
        ProgressFileError when it can't be saved."""
        try:
            return self.store.update(change)
        finally:
            self.flush_notices()


# --------------------------------------------------------------------------- which exercise


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


# --------------------------------------------------------------------------- changes


def set_current(ctx: Context, ex: Exercise, open_in_editor: bool = True) -> Progress:
    """Make `ex` the current exercise (and open it in the editor, if asked for and not already there)."""
    progress, _ = ctx.update(lambda p: p.set_current(ex.id))
    if ctx.editor is not None and open_in_editor:
        ctx.editor.open(ex.exercise_path)
    return progress


def record_run(ctx: Context, ex: Exercise, verdict: Verdict, record_pass: bool = True) -> Progress:
    """Count the attempt and record a pass (unless not `record_pass`); the progress as saved."""
    progress, _ = ctx.update(lambda p: p.record_attempt(ex.id, passed=record_pass and verdict.passed))
    return progress


def record_verification(ctx: Context, verdicts: list[tuple[Exercise, Verdict]]) -> list[Exercise]:
    """Record `arena verify`'s runs (one write): done exercises that fail now are pending again; those."""
    _, set_back = ctx.update(lambda p: [ex for ex, v in verdicts if p.record_verification(ex.id, v.passed)])
    return set_back


def reset_file(ctx: Context, ex: Exercise) -> Progress:
    """Regenerate the student's file from its master and mark the exercise pending; the progress as saved."""
    write_student_file(ex.exercise_path, ex.read_master(), ex.rel(ex.solution_path))
    progress, _ = ctx.update(lambda p: p.reset(ex.id))
    return progress
