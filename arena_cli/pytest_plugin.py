"""Runs inside the test child process: turns pytest's reports into the protocol's events (see
`protocol.py`: a Check per test, written as it happens).

Loaded with `-p arena_cli.pytest_plugin` by the runner.
"""

from __future__ import annotations

from pathlib import Path
from collections.abc import Callable
from typing import Any

import pytest

from arena_cli import locate, protocol, testing
from arena_cli.course_guard import forbid_writes
from arena_cli.layout import masters_dir
from arena_cli.progress import default_path, progress_files
from arena_cli.protocol import Checked, Collected, Finished, LoadFailed, Started
from arena_cli.testing import (
    CheckFailed, StudentCodeError, display_path, frames_of, real_path, student_traceback, target_path
)
from arena_cli.verdict import Check, truncate

_seen_load_error = False


def _check_name(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "function", None), "__doc__", None)
    if doc and doc.strip():
        return doc.strip().splitlines()[0].rstrip(".")
    return item.name.removeprefix("test_").replace("_", " ")


def _student_file(item: pytest.Item) -> str:
    return str(target_path(Path(item.path)))


class _StudentExit(Exception):
    """Student code called sys.exit() or raised KeyboardInterrupt during a check."""


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    try:
        return (yield)
    except SystemExit as e:
        raise _StudentExit(f"your code called sys.exit({e.code!r}); return a value instead") from None
    except KeyboardInterrupt:
        raise _StudentExit("your code raised KeyboardInterrupt") from None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    protocol.emit(Started(_check_name(item), item.nodeid))


def _location(item: pytest.Item, call: pytest.CallInfo) -> str:
    """`path:line:col` in the student's file for a check that failed: the student's line that raised,
    else the function under test (see `locate`). "" when nothing fits."""
    try:
        exc = call.excinfo.value
        if getattr(exc, "location", ""):
            return exc.location
        student_file = _student_file(item)
        frames = frames_of(call.excinfo.tb)
        mine = [f for f in frames if real_path(f.filename) == real_path(student_file)]
        if mine:
            return f"{display_path(student_file)}:{mine[-1].lineno}:{(mine[-1].colno or 0) + 1}"
        test_file = real_path(str(item.path))
        in_test = [f for f in frames if real_path(f.filename) == test_file]
        function = getattr(item, "function", None)
        place = locate.where_to_look(
            Path(student_file),
            Path(item.path),
            getattr(item, "originalname", item.name),
            in_test[-1].lineno if in_test else None,
            function.__code__.co_firstlineno if hasattr(function, "__code__") else None,
        )
        return f"{display_path(student_file)}:{place[0]}:{place[1]}" if place else ""
    except Exception:  # noqa: BLE001 - a location is a convenience; the verdict must not depend on it
        return ""


def _describe_failure(item: pytest.Item, call: pytest.CallInfo, report) -> dict[str, Any]:
    """The failed check's fields (a Check's, but its name and output)."""
    global _seen_load_error
    exc = call.excinfo.value
    if isinstance(exc, CheckFailed):
        return dict(
            status="failed",
            message=str(exc),
            diagnosis=exc.diagnosis,
            mismatch=exc.mismatch,
            location=_location(item, call),
        )
    if isinstance(exc, StudentCodeError):
        if not _seen_load_error:
            _seen_load_error = True
            protocol.emit(LoadFailed(truncate(str(exc)), exc.location, truncate(exc.student_traceback)))
        return dict(status="error", message=str(exc))
    if isinstance(exc, NotImplementedError):
        return dict(
            status="failed",
            message="not implemented yet" + (f": {exc}" if str(exc) else ""),
            diagnosis="Replace the `raise NotImplementedError(...)` line with your implementation.",
            location=_location(item, call),
        )
    tb = student_traceback(call.excinfo.tb, _student_file(item))
    if isinstance(exc, _StudentExit):
        return dict(status="error", message=str(exc), traceback=tb)
    if isinstance(exc, AssertionError):
        crash = getattr(report.longrepr, "reprcrash", None)
        message = crash.message if crash is not None else str(exc)
        # pytest's "+ where <function f at 0x...> = <module ...>" lines say nothing to a student.
        lines = [ln for ln in message.splitlines() if " at 0x" not in ln and "<module " not in ln]
        return dict(
            status="failed",
            message="\n".join(lines).removeprefix("AssertionError: "),
            location=_location(item, call),
        )
    return dict(status="error", message=f"{type(exc).__name__}: {exc}", traceback=tb)


def pytest_configure(config):
    target = protocol.target_file()
    if target:  # a student's run (not the plain suite, not the worker's warm-up)
        # First: a refused write stops the audit there, so it isn't also taken for a read of solutions/.
        forbid_writes(config.rootpath, [Path(target), *progress_files(default_path(config.rootpath))])
        testing.watch_solution_reads(masters_dir(config.rootpath))


def _solution_files_read() -> list[str]:
    return sorted({Path(p).name for p in testing.solution_reads if p.endswith(".py")})


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "teardown" and not call.excinfo:
        return report
    cheat = _solution_files_read() if call.when == "call" else []
    if cheat:
        outcome: dict[str, Any] = dict(
            status="error",
            message=f"your code imports the reference solution ({', '.join(cheat)}): a pass would not be yours",
            diagnosis="Remove the import of solutions/ and write the function yourself; `arena hint` helps.",
        )
    elif call.excinfo is None:
        outcome = dict(status="passed")
    elif call.excinfo.errisinstance(pytest.skip.Exception):
        outcome = dict(status="skipped", message=str(call.excinfo.value))
    else:
        try:
            outcome = _describe_failure(item, call, report)
        except Exception as e:  # noqa: BLE001 - e.g. an exception whose str() raises
            outcome = dict(
                status="error",
                message=f"your code raised {call.excinfo.typename}, whose message could not be shown "
                f"(str() of it raised {type(e).__name__})",
            )
    if outcome["status"] != "passed" or call.when == "call":
        output = "".join(text for _, text in report.sections if text)
        check = Check(name=_check_name(item), output=output, **outcome).bounded()
        protocol.emit(Checked(check, call.when, item.nodeid))
    return report


hold_before_checks: Callable[[], None] | None = None  # set in a spare child (worker.py)


def pytest_collection_finish(session):
    if hold_before_checks is not None:  # a spare waits here for its run: no check has touched the student's file
        locate.warm({item.path for item in session.items})
        hold_before_checks()
    protocol.emit(Collected(tuple(item.nodeid for item in session.items)))


def pytest_collectreport(report):
    if report.failed:
        check = Check(f"collect {report.nodeid}", "error", message=str(report.longrepr)).bounded()
        protocol.emit(Checked(check, "collect", report.nodeid))


def pytest_sessionfinish(session, exitstatus):
    protocol.emit(Finished(int(exitstatus)))
