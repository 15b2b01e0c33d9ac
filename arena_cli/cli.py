"""The `arena` command line: declares commands and options; each command calls one function."""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from arena_cli.course import CourseError
from arena_cli.keys import LIST_KEYS, WATCH_KEYS

app = typer.Typer(
    name="arena",
    help="Interpretability exercises in your editor: arena runs the hidden tests, shows hints and keeps your progress.",
    no_args_is_help=False,  # bare `arena` watches the current exercise, as rustlings does
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
dev = typer.Typer(help="Course authors' tools: build and check the course.", no_args_is_help=True)
app.add_typer(dev, name="dev")

def complete_exercise_id(incomplete: str) -> list[str]:
    """Shell completion: the exercise ids that start with what has been typed."""
    from arena_cli.course import load_course

    try:
        return [e.id for e in load_course().exercises if e.id.startswith(incomplete)]
    except CourseError:
        return []


def complete_chapter(incomplete: str) -> list[str]:
    """Shell completion: the chapters (their folder names, `3_...`) that start with what has been typed."""
    from arena_cli.course import load_course

    try:
        return [c.dir for c in load_course().chapters if c.dir.startswith(incomplete)]
    except CourseError:
        return []


def complete_section(incomplete: str) -> list[str]:
    """Shell completion for `arena results`: the first exercise id of each section that has a result."""
    from arena_cli.course import load_course

    try:
        course = load_course()
    except CourseError:
        return []
    return [s.exercises[0].id for c in course.chapters for s in c.sections
            if s.result_runs and s.exercises and s.exercises[0].id.startswith(incomplete)]


ExerciseArg = Annotated[
    Optional[str],
    typer.Argument(metavar="EXERCISE", help="Exercise id (default: the current exercise).", show_default=False,
                   autocompletion=complete_exercise_id),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead.")]
NoColor = Annotated[bool, typer.Option("--no-color", help="No colours (also: `arena --no-color CMD`, NO_COLOR).")]
EditOpt = Annotated[
    bool,
    typer.Option("--edit", help="Open the exercise in your editor when it becomes current (`code` inside VSCode's terminal)."),
]
EditCmdOpt = Annotated[
    Optional[str],
    typer.Option(
        "--edit-cmd",
        metavar="COMMAND",
        help='Editor command that opens it, e.g. "code -g {path}:{line}" (also: ARENA_EDIT_CMD). Implies --edit.',
        show_default=False,
    ),
]


def _ctx(no_color: bool = False, edit: bool = False, edit_cmd: str | None = None):
    from arena_cli.session import Context

    return Context.create(no_color, edit, edit_cmd)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("arena")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown version (not installed)"


@app.callback(invoke_without_command=True)
def arena_main(
    ctx: typer.Context,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colours, for every command (also: NO_COLOR).")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print arena's version and exit.")] = False,
) -> None:
    """Without a command: `arena watch` on the current exercise (the first pending one at the start)."""
    if version:
        print(f"arena {_version()}")
        raise typer.Exit(0)
    if no_color:
        os.environ["NO_COLOR"] = "1"  # every console arena makes reads it (render.make_console)
    if ctx.invoked_subcommand is None:
        from arena_cli.session import first_pending, resolve
        from arena_cli.watch import watch as watch_loop

        context = _ctx()
        progress = context.load_progress()
        if progress.current is None and first_pending(context.course, progress) is None:
            print("Every exercise is done: `arena list` shows them, `arena watch EXERCISE` reopens one, "
                  "`arena --help` lists the commands.")
            raise typer.Exit(0)
        raise typer.Exit(watch_loop(context, resolve(context, None, progress)))


@app.command("next")
def next_(as_json: JsonOpt = False, no_color: NoColor = False, edit: EditOpt = False, edit_cmd: EditCmdOpt = None) -> None:
    """Make the next pending exercise current and show it."""
    from arena_cli.commands import next_exercise

    raise typer.Exit(next_exercise(_ctx(no_color, edit, edit_cmd), as_json))


@app.command()
def run(exercise: ExerciseArg = None, as_json: JsonOpt = False, no_color: NoColor = False) -> None:
    """Run the hidden test of the current (or named) exercise once."""
    from arena_cli.commands import run_once

    raise typer.Exit(run_once(_ctx(no_color), exercise, as_json))


@app.command(help=f"Rerun the hidden test on every save (keys: {WATCH_KEYS.help(' ')}).")
def watch(
    exercise: ExerciseArg = None, no_color: NoColor = False, edit: EditOpt = False, edit_cmd: EditCmdOpt = None
) -> None:
    from arena_cli.session import resolve
    from arena_cli.watch import watch as watch_loop

    ctx = _ctx(no_color, edit, edit_cmd)
    raise typer.Exit(watch_loop(ctx, resolve(ctx, exercise), follow=exercise is None))


@app.command()
def hint(
    exercise: ExerciseArg = None,
    show_all: Annotated[bool, typer.Option("--all", help="Show every revealed level in full, not only the newest.")] = False,
    no_color: NoColor = False,
) -> None:
    """Reveal the next hint of the current (or named) exercise."""
    from arena_cli.commands import reveal_hint

    raise typer.Exit(reveal_hint(_ctx(no_color), exercise, show_all=show_all))


@app.command("list", help=f"List the exercises with their status. In a terminal: {LIST_KEYS.help(', ')}.")
def list_(
    pending: Annotated[bool, typer.Option("--pending", help="Only exercises not done yet.")] = False,
    chapter: Annotated[Optional[str], typer.Option("--chapter", metavar="CHAPTER", autocompletion=complete_chapter,
                                                   help="Only this chapter: its number (3), id or part of its title.")] = None,
    static: Annotated[bool, typer.Option("--static", help="Print the table, even in a terminal.")] = False,
    as_json: JsonOpt = False,
    no_color: NoColor = False,
    edit: EditOpt = False,
    edit_cmd: EditCmdOpt = None,
) -> None:
    from arena_cli.commands import list_exercises

    raise typer.Exit(list_exercises(_ctx(no_color, edit, edit_cmd), pending, chapter, as_json, interactive=not static))


@app.command()
def progress(as_json: JsonOpt = False, no_color: NoColor = False) -> None:
    """Show progress per chapter."""
    from arena_cli.commands import show_progress

    raise typer.Exit(show_progress(_ctx(no_color), as_json))


@app.command()
def further(
    chapter: Annotated[
        Optional[str], typer.Argument(help="Chapter id or part of its title (default: the current exercise's).", show_default=False)
    ] = None,
    no_color: NoColor = False,
) -> None:
    """Open-ended replications to go further after a chapter (unchecked; each says when it is done)."""
    from arena_cli.commands import show_further

    raise typer.Exit(show_further(_ctx(no_color), chapter))


@app.command()
def reset(
    exercise: ExerciseArg = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Don't ask for confirmation.")] = False,
    no_color: NoColor = False,
) -> None:
    """Restore an exercise's file, marked pending (default: the current one)."""
    from arena_cli.commands import reset_exercise

    def confirm(question: str) -> bool:
        try:
            return typer.confirm(question, default=False)
        except typer.Abort:  # no answer (end of input): nothing is changed
            return False

    raise typer.Exit(reset_exercise(_ctx(no_color), exercise, yes, confirm))


@app.command()
def solution(
    exercise: ExerciseArg = None,
    force: Annotated[bool, typer.Option("--force", help="Show it even if the exercise isn't done.")] = False,
    no_color: NoColor = False,
) -> None:
    """Show the reference solution and your diff to it (default: the current exercise)."""
    from arena_cli.commands import show_solution

    raise typer.Exit(show_solution(_ctx(no_color), exercise, force))


@app.command()
def verify(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Each failing exercise's first problem in full.")] = False,
    as_json: JsonOpt = False,
    no_color: NoColor = False,
) -> None:
    """Run every exercise's hidden test and update progress: a line per exercise and a summary."""
    from arena_cli.commands import verify as verify_all

    raise typer.Exit(verify_all(_ctx(no_color), as_json, verbose))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def results(
    ctx: typer.Context,
    section: Annotated[Optional[str], typer.Argument(metavar="SECTION", autocompletion=complete_section, help="An exercise id or part of a section title (default: the current section).", show_default=False)] = None,
    reference: Annotated[bool, typer.Option("--reference", help="Run the reference solution's version instead of yours.")] = False,
    no_color: NoColor = False,
) -> None:
    """Run a section's result (its plots) with your code.

    Options after the section go to the result's script: `--tiny` runs it offline on a tiny random
    model (no download; it shows the code working, not what the real model learnt)."""
    from arena_cli.results import run_results

    raise typer.Exit(run_results(_ctx(no_color), section, reference, list(ctx.args)))


@app.command()
def update(as_json: JsonOpt = False, no_color: NoColor = False) -> None:
    """Bring in the course's new version from its git remote, merging your answers into the new exercises."""
    from arena_cli.commands import update_course

    raise typer.Exit(update_course(no_color, as_json))


@dev.command("build")
def dev_build(
    force: Annotated[bool, typer.Option("--force", help="Also rewrite student files with edits of their own (after a backup in .arena/backups/).")] = False,
) -> None:
    """Regenerate the student files from their masters in solutions/ (never one a student edited, unless --force)."""
    from arena_cli.authoring import build, build_report
    from arena_cli.course import load_course
    from arena_cli.render import make_console

    course = load_course()
    raise typer.Exit(build_report(build(course, force), make_console(), course.root))


@dev.command("new")
def dev_new(
    exercise_id: Annotated[str, typer.Argument(metavar="EXERCISE_ID", help="The new exercise's id (lowercase, digits, _).", show_default=False)],
    after: Annotated[str, typer.Option("--after", metavar="EXERCISE", help="The exercise it comes after (it joins that one's section).", autocompletion=complete_exercise_id)],
    question: Annotated[bool, typer.Option("--question", help="A question (an answer in the file), labelled NNq: renames nothing.")] = False,
    title: Annotated[str, typer.Option("--title", metavar="TITLE", help="Its title (default: from the id).")] = "",
) -> None:
    """Start a new exercise: its manifest entry and four files, later exercises renumbered."""
    from arena_cli.course import load_course
    from arena_cli.render import make_console
    from arena_cli.scaffold import new_exercise

    course = load_course()
    made = new_exercise(course, exercise_id, after, "question" if question else "code", title)
    console = make_console()
    for src, dst in made.renamed:
        console.print(f"renamed {src.relative_to(course.root)} -> {dst.relative_to(course.root)}", soft_wrap=True)
    for path in made.created:
        console.print(f"created {path.relative_to(course.root)}", soft_wrap=True)
    console.print(f"Write the master, its hints and its hidden test; then `arena dev build` and "
                  f"`arena dev check {exercise_id}`.", soft_wrap=True)


@dev.command("wrap")
def dev_wrap(
    names: Annotated[Optional[list[str]], typer.Argument(metavar="[EXERCISE|CHAPTER]...", help="Exercise ids or chapters; default: the whole course.", show_default=False, autocompletion=complete_exercise_id)] = None,
) -> None:
    """Re-wrap masters and hints at 100 columns where they are longer (prose re-flowed, code split where
    its meaning stays the same), then regenerate the student files."""
    from arena_cli.authoring import build, build_report, select
    from arena_cli.course import load_course
    from arena_cli.render import make_console
    from arena_cli.rewrap import rewrap, wrap_problems

    course = load_course()
    chosen = select(course, names or [])
    console = make_console()
    for path in rewrap(course, chosen):
        console.print(f"re-wrapped {path.relative_to(course.root)}", soft_wrap=True)
    code = build_report(build(course), console, course.root)
    left = wrap_problems(chosen)
    for line in left:
        console.print(f"still long: {line}", soft_wrap=True)
    raise typer.Exit(code or (1 if left else 0))


@dev.command("leaks")
def dev_leaks(
    names: Annotated[Optional[list[str]], typer.Argument(metavar="[EXERCISE|CHAPTER]...", help="Exercise ids or chapters; default: the whole course.", show_default=False, autocompletion=complete_exercise_id)] = None,
    max_percent: Annotated[Optional[float], typer.Option("--max", metavar="PERCENT", help="Exit 1 if an exercise's text holds more than this % of its solution's lines.")] = None,
) -> None:
    """How much of each solution its exercise's text gives away (verbatim or nearly)."""
    from arena_cli.authoring import select
    from arena_cli.course import load_course
    from arena_cli.leaks import leaks, report
    from arena_cli.render import make_console

    course = load_course()
    found = leaks(course, select(course, names or []))
    raise typer.Exit(report(found, make_console(), None if max_percent is None else max_percent / 100))


@dev.command("check")
def dev_check(
    names: Annotated[Optional[list[str]], typer.Argument(metavar="[EXERCISE|CHAPTER]...", help="Exercise ids or chapters (`2_ioi` or `2`) to check; default: the whole course.", show_default=False, autocompletion=complete_exercise_id)] = None,
    no_tests: Annotated[bool, typer.Option("--no-tests", help="Only the static checks; run no hidden test.")] = False,
) -> None:
    """Check files, markers and hints; solutions pass, exercises fail."""
    from arena_cli.authoring import check, report
    from arena_cli.render import make_console

    console = make_console()
    problems = check(None, console, run_tests=not no_tests, names=names)
    raise typer.Exit(report(problems, console, ran_tests=not no_tests))
