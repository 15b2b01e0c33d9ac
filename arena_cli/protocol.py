"""The protocol between the test child (pytest with `arena_cli.pytest_plugin`) and the runner.

The runner names the file under test in one environment variable:

    ARENA_TARGET        the file under test (the student's, or a copy); unset, hidden tests test the reference

and hands the child a report channel (`Channel`: a file to append to, and a key), not through the
environment but on the child's stdin (a cold child, read before any student code) or in the warm
worker's request (kept in memory by the forked child). Each event is one JSON line, appended and flushed
as it happens, so that if the student's code kills the child half-way, the runner still knows which
checks ran and which one was running. Each line carries a sequence number and an HMAC of itself under
the channel's key: a line the plugin didn't write (student code appending to the file) is noticed, and
the run doesn't count. Student code runs in the same process, so a determined student can still reach
the key; this keeps accidents and casual tampering from passing.

    collected   {"event": "collected", "nodeids"}            the checks pytest will run
    start       {"event": "start", "nodeid", "name"}         a check is about to run
    load_error  {"event": "load_error", "message", "location", "traceback"}
                                                             the student's file could not be loaded (once)
    check       {"event": "check", "phase", "nodeid", <a Check>}
                                                             a check's outcome, from setup, call or teardown
                                                             (or "collect": the test file itself)
    done        {"event": "done", "exitstatus"}              pytest finished

The first line written starts the time limit's clock (`Channel.reported`): what comes before it is
interpreter start-up and imports, not the student's time.

A Check is written with its fields (and its Mismatch's) as in `verdict.py`, and read back with
`Check.from_dict`. Both sides use only what is here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Union

from arena_cli.verdict import Check

TARGET_ENV = "ARENA_TARGET"
COLLECTED, START, LOAD_ERROR, CHECK, DONE = "collected", "start", "load_error", "check", "done"
LINE_LIMIT = 1_000_000  # bytes of one event line the runner reads (the plugin writes bounded checks)


@dataclass(frozen=True)
class Collected:
    nodeids: tuple[str, ...]


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
    nodeid: str = ""


@dataclass(frozen=True)
class Finished:
    exitstatus: int


Event = Union[Collected, Started, LoadFailed, Checked, Finished]


def environment(target: Path) -> dict[str, str]:
    """The child's protocol variable."""
    return {TARGET_ENV: str(target)}


def target_file() -> str | None:
    """In the child: the file under test, if the runner named one."""
    return os.environ.get(TARGET_ENV) or None


def encode(event: Event) -> dict:
    if isinstance(event, Collected):
        return {"event": COLLECTED, "nodeids": list(event.nodeids)}
    if isinstance(event, Started):
        return {"event": START, "nodeid": event.nodeid, "name": event.name}
    if isinstance(event, LoadFailed):
        return {"event": LOAD_ERROR, **asdict(event)}
    if isinstance(event, Checked):
        return {"event": CHECK, "phase": event.phase, "nodeid": event.nodeid, **asdict(event.check)}
    return {"event": DONE, "exitstatus": int(event.exitstatus)}


def decode(data: dict) -> Event | None:
    """An event from its JSON object; None for one this runner doesn't know."""
    kind = data.get("event")
    if kind == COLLECTED:
        return Collected(tuple(str(n) for n in data["nodeids"]))
    if kind == START:
        return Started(data.get("name") or "", data.get("nodeid") or "")
    if kind == LOAD_ERROR:
        return LoadFailed(data["message"], data.get("location") or "", data.get("traceback") or "")
    if kind == CHECK:
        return Checked(Check.from_dict(data), data.get("phase") or "call", data.get("nodeid") or "")
    if kind == DONE:
        return Finished(int(data.get("exitstatus", 0)))
    return None


@dataclass
class Channel:
    """Where the child reports, and the key that signs its lines. Made by the runner for one run."""

    path: str
    key: str
    _fd: int | None = field(default=None, repr=False)
    _seq: int = field(default=0, repr=False)

    @classmethod
    def create(cls, path: Path) -> Channel:
        return cls(str(path), secrets.token_hex(32))

    @classmethod
    def from_json(cls, data: dict) -> Channel:
        return cls(str(data["path"]), str(data["key"]))

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "key": self.key}

    def sign(self, line: bytes) -> str:
        return hmac.new(bytes.fromhex(self.key), line, hashlib.sha256).hexdigest()

    def write(self, event: Event) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._seq += 1
        line = json.dumps({"seq": self._seq, **encode(event)}).encode()
        os.write(self._fd, self.sign(line).encode() + b" " + line + b"\n")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def reported(self) -> bool:
        """In the runner: whether the child has written anything yet (cheap: polled while it runs)."""
        try:
            return os.stat(self.path).st_size > 0
        except OSError:
            return False

    def read(self) -> tuple[list[Event], int]:
        """In the runner: the events the plugin wrote, in order, and how many lines it didn't write
        (a bad signature, a sequence number out of order). A line cut short by a crash is skipped."""
        try:
            with open(self.path, "rb") as f:
                raw = f.read(64 * LINE_LIMIT)
        except OSError:
            return [], 0
        events: list[Event] = []
        foreign = 0
        seq = 0
        lines = raw.split(b"\n")
        for n, line in enumerate(lines):
            if not line:
                continue
            mac, _, body = line.partition(b" ")
            if len(body) > LINE_LIMIT or not hmac.compare_digest(mac, self.sign(body).encode()):
                if n < len(lines) - 1:  # the last line may be one the child was killed while writing
                    foreign += 1
                continue
            try:
                data = json.loads(body)
                event = decode(data)
            except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
                foreign += 1
                continue
            if not isinstance(data.get("seq"), int) or data["seq"] <= seq:
                foreign += 1
                continue
            seq = data["seq"]
            if event is not None:
                events.append(event)
        return events, foreign


_channel: Channel | None = None
_held: list[Event] | None = None  # events of a spare child, until a run is handed to it


def use_channel(channel: Channel | None) -> None:
    """In the child: report through `channel` (set before pytest starts, or when a spare gets its run:
    then the events it held go first)."""
    global _channel, _held
    _channel = channel
    if channel is not None:
        for event in _held or ():
            channel.write(event)
        _held = None


def hold_events() -> None:
    """In a spare child (worker.py): keep events until `use_channel` names the run's channel."""
    global _held
    _held = []


def emit(event: Event) -> None:
    """In the child: report the event (nothing when no runner asked, as in the plain test suite)."""
    if _channel is not None:
        _channel.write(event)
    elif _held is not None:
        _held.append(event)
