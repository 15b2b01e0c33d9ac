"""The `arena` command's entry point. The commands a student types between saves (`next`, `list`,
`hint`, `progress`) only read the catalogue and progress; called plainly (the flags below, at most an
exercise id for `hint`), they start without Typer, whose import and option parsing (Typer builds a
pydantic validator per option) cost more than the command itself. Anything else, `--help` included,
goes to the Typer app in `cli.py`, which declares every command and option; a test checks that each
flag here is one of that command's own."""

from __future__ import annotations

import signal
import sys

# command -> {flag: the command function's keyword}; each is a boolean option of that command in cli.py
PLAIN_FLAGS: dict[str, dict[str, str]] = {
    "next": {"--json": "as_json", "--no-color": "no_color", "--edit": "edit"},
    "list": {"--pending": "pending", "--static": "static", "--json": "as_json", "--no-color": "no_color",
             "--edit": "edit"},
    "hint": {"--all": "show_all", "--no-color": "no_color"},
    "progress": {"--json": "as_json", "--no-color": "no_color"},
}
TAKES_ID = {"hint"}


def plain_call(argv: list[str]) -> tuple[str, dict[str, bool], str | None] | None:
    """(command, its flags, the exercise id) when `argv` is a plain call of one of PLAIN_FLAGS's
    commands; None for anything else."""
    if not argv or argv[0] not in PLAIN_FLAGS:
        return None
    known = PLAIN_FLAGS[argv[0]]
    flags = dict.fromkeys(known.values(), False)
    exercise = None
    for arg in argv[1:]:
        if arg in known:
            flags[known[arg]] = True
        elif argv[0] in TAKES_ID and exercise is None and arg[:1].isalpha():
            exercise = arg
        else:
            return None
    return argv[0], flags, exercise


def run_plain(command: str, flags: dict[str, bool], exercise: str | None) -> int:
    from arena_cli import commands
    from arena_cli.session import Context

    ctx = Context.create(flags.pop("no_color"), flags.pop("edit", False))
    if command == "next":
        return commands.next_exercise(ctx, flags["as_json"])
    if command == "list":
        return commands.list_exercises(ctx, flags["pending"], None, flags["as_json"], interactive=not flags["static"])
    if command == "hint":
        return commands.reveal_hint(ctx, exercise, show_all=flags["show_all"])
    return commands.show_progress(ctx, flags["as_json"])


def _stop_on_hangup() -> None:
    """SIGTERM and SIGHUP (a closed terminal) end arena the way Ctrl-C does: through the code that ends
    a running test child and everything it started, and restores the course."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


def _user_errors() -> tuple[type[Exception], ...]:
    """The errors that end a command with one line and exit code 2: the course, a hint or student file,
    the progress file or an update said what is wrong, and the trace would add nothing."""
    from arena_cli.course import CourseError
    from arena_cli.hints import HintError
    from arena_cli.markers import MarkerError, StudentFileError
    from arena_cli.progress import ProgressFileError
    from arena_cli.update import UpdateError

    return CourseError, HintError, MarkerError, ProgressFileError, StudentFileError, UpdateError


def main(plain: bool = True) -> None:
    """The `arena` command, either way (`plain=False`: always through Typer): its errors one line
    (exit 2), Ctrl-C or a hangup exit 130."""
    _stop_on_hangup()
    call = plain_call(sys.argv[1:]) if plain else None
    try:
        if call is None:
            from arena_cli.cli import app

            app(prog_name="arena")  # exits through SystemExit
        code = run_plain(*call)
    except KeyboardInterrupt:
        code = 130
    except Exception as e:
        if not isinstance(e, _user_errors()):
            raise
        print(f"arena: {e}", file=sys.stderr)
        code = 2
    sys.exit(code)
