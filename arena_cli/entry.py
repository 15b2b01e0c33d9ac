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
    """SIGTERM and SIGHUP end the command as Ctrl-C does (as in `cli.main`)."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


def main() -> None:
    call = plain_call(sys.argv[1:])
    if call is None:
        from arena_cli.cli import main as typer_main

        typer_main()
        return
    from arena_cli.course import CourseError
    from arena_cli.hints import HintError
    from arena_cli.markers import MarkerError, StudentFileError
    from arena_cli.progress import ProgressFileError

    _stop_on_hangup()
    try:
        code = run_plain(*call)
    except (CourseError, HintError, MarkerError, ProgressFileError, StudentFileError) as e:
        print(f"arena: {e}", file=sys.stderr)  # one line and exit code 2, as `cli.main` does
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
