"""The protocol between the test child (pytest with `arena_cli.pytest_plugin`) and the runner.

The runner starts the child with two environment variables:

    ARENA_TARGET        the file under test (the student's, or a copy); unset, hidden tests test the reference
    ARENA_VERDICT_FILE  where the child appends its events

Each event is one JSON line, appended and flushed as it happens, so that if the student's code kills
the child half-way, the runner still knows which checks ran and which one was running:

    start       {"event": "start", "nodeid", "name"}         a check is about to run
    load_error  {"event": "load_error", "message", "location", "traceback"}
                                                             the student's file could not be loaded (once)
    check       {"event": "check", "phase", <a Check>}       a check's outcome, from setup, call or teardown
                                                             (or "collect": the test file itself)
    done        {"event": "done", "exitstatus"}              pytest finished

A Check is written with its fields (and its Mismatch's) as in `verdict.py`, and read back with
`Check.from_dict`. Both sides use only what is here.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Union

from arena_cli.verdict import Check

TARGET_ENV = "ARENA_TARGET"
VERDICT_FILE_ENV = "ARENA_VERDICT_FILE"
START, LOAD_ERROR, CHECK, DONE = "start", "load_error", "check", "done"


@dataclass(frozen=True)
class Started:
    name: str = ""
    nodeid: str = ""

    @property
    def check_name(self) -> str:
        return self.name or self.nodeid.split("::")[-1]


@dataclass(frozen=True)
class LoadFailed:
    message: str
    location: str = ""
    traceback: str = ""


@dataclass(frozen=True)
class Checked:
    check: Check
    phase: str = "call"


@dataclass(frozen=True)
class Finished:
    exitstatus: int


Event = Union[Started, LoadFailed, Checked, Finished]


def environment(target: Path, verdict_file: Path) -> dict[str, str]:
    """The child's protocol variables."""
    return {TARGET_ENV: str(target), VERDICT_FILE_ENV: str(verdict_file)}


def target_file() -> str | None:
    """In the child: the file under test, if the runner named one."""
    return os.environ.get(TARGET_ENV) or None


def encode(event: Event) -> dict:
    if isinstance(event, Started):
        return {"event": START, "nodeid": event.nodeid, "name": event.name}
    if isinstance(event, LoadFailed):
        return {"event": LOAD_ERROR, **asdict(event)}
    if isinstance(event, Checked):
        return {"event": CHECK, "phase": event.phase, **asdict(event.check)}
    return {"event": DONE, "exitstatus": int(event.exitstatus)}


def decode(data: dict) -> Event | None:
    """An event from its JSON object; None for one this runner doesn't know."""
    kind = data.get("event")
    if kind == START:
        return Started(data.get("name") or "", data.get("nodeid") or "")
    if kind == LOAD_ERROR:
        return LoadFailed(data["message"], data.get("location") or "", data.get("traceback") or "")
    if kind == CHECK:
        return Checked(Check.from_dict(data), data.get("phase") or "call")
    if kind == DONE:
        return Finished(int(data.get("exitstatus", 0)))
    return None


def emit(event: Event) -> None:
    """In the child: append the event to the verdict file (nothing when no runner asked for one)."""
    path = os.environ.get(VERDICT_FILE_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(encode(event)) + "\n")
        f.flush()


def read_events(path: Path) -> list[Event]:
    """In the runner: the events the child wrote (a line cut short by a crash is skipped)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    events = []
    for line in text.splitlines():
        try:
            event = decode(json.loads(line))
        except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
            continue
        if event is not None:
            events.append(event)
    return events
