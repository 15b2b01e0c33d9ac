"""progress.json: what the student has done, keyed by stable exercise id.

Written atomically (temp file + fsync + os.replace) under an exclusive lock, so a kill mid-write never
leaves a broken file and two arena processes (watch in one terminal, run in another) never lose each
other's updates: every change is read-modify-write inside the lock.

An unreadable file is moved aside (its new name reported), the student starts from what could be
salvaged, and completed exercises are never silently dropped; one from a newer arena is refused and left
as it is. Trouble with the file itself (a directory in its place, a full disk, no permission, a lock held
too long) is one `ProgressFileError` naming the file and what to do, after what the command did.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

SCHEMA_VERSION = 1
PROGRESS_ENV = "ARENA_PROGRESS"
STATUSES = ("pending", "done")
LOCK_TIMEOUT_S = 5.0  # waiting for another arena's write (milliseconds, normally), then one line
LOCK_POLL_S = 0.05
T = TypeVar("T")


@dataclass
class ExerciseProgress:
    status: str = "pending"  # "pending" | "done"
    attempts: int = 0  # every test run counts, watch mode included
    first_pass: str | None = None  # ISO time of the first pass
    hints: int = 0  # hint levels revealed

    @property
    def done(self) -> bool:
        return self.status == "done"


@dataclass
class Progress:
    current: str | None = None
    exercises: dict[str, ExerciseProgress] = field(default_factory=dict)

    def entry_for(self, exercise_id: str) -> ExerciseProgress:
        """This exercise's entry, to change it: created (pending) if absent."""
        return self.exercises.setdefault(exercise_id, ExerciseProgress())

    def find(self, exercise_id: str) -> ExerciseProgress:
        """This exercise's entry, to read it: a pending one (not stored) if absent."""
        return self.exercises.get(exercise_id) or ExerciseProgress()

    def status(self, exercise_id: str) -> str:
        """"done", "current" (the current exercise, not done) or "pending"."""
        if self.find(exercise_id).done:
            return "done"
        return "current" if self.current == exercise_id else "pending"

    # The changes a session makes (each inside `ProgressStore.update`).

    def set_current(self, exercise_id: str) -> None:
        self.current = exercise_id

    def record_attempt(self, exercise_id: str, passed: bool) -> bool:
        """Count a test run; a pass marks the exercise done, with the time of its first pass. True if
        this run passed it for the first time."""
        entry = self.entry_for(exercise_id)
        entry.attempts += 1
        if passed and not entry.done:
            entry.status, entry.first_pass = "done", now_iso()
            return True
        return False

    def record_verification(self, exercise_id: str, passed: bool) -> bool:
        """`arena verify`'s run: counted like any attempt, and a done exercise that fails now is pending
        again (done means its test passes, as in rustlings). True if it was set back to pending."""
        was_done = self.find(exercise_id).done
        self.record_attempt(exercise_id, passed)
        if was_done and not passed:
            self.reset(exercise_id)
            return True
        return False

    def reveal_hint(self, exercise_id: str, levels: int) -> bool:
        """Reveal the next of an exercise's `levels` hint levels. False if all were revealed already."""
        entry = self.entry_for(exercise_id)
        revealed = min(entry.hints + 1, levels)
        new = revealed > entry.hints
        entry.hints = revealed
        return new

    def reset(self, exercise_id: str) -> None:
        """Pending again (its file was reset); attempts and hints are kept."""
        entry = self.entry_for(exercise_id)
        entry.status, entry.first_pass = "pending", None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "current": self.current,
            "exercises": {k: asdict(v) for k, v in sorted(self.exercises.items())},
        }


def default_path(root: Path) -> Path:
    return Path(os.environ[PROGRESS_ENV]) if os.environ.get(PROGRESS_ENV) else root / "progress.json"


def lock_file(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def backup_file(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def progress_files(path: Path) -> list[Path]:
    """The progress file and the files kept beside it (its lock, its last good copy)."""
    return [path, lock_file(path), backup_file(path)]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ProgressFormatError(ValueError):
    """The text is not progress this arena can trust: the file is moved aside."""


class NewerSchemaError(ValueError):
    """The text is progress from a newer arena: refused, and left as it is."""

    def __init__(self, schema: int):
        super().__init__(f"schema version {schema}, this arena reads {SCHEMA_VERSION}")
        self.schema = schema


class ProgressFileError(Exception):
    """The progress file (or its lock, or its last good copy) can't be read or written, or was written by
    a newer arena. One line naming the file and what to do; the commands exit 2 with it."""


def _file_trouble(path: Path, doing: str, e: OSError) -> ProgressFileError:
    """One line for an OSError met while `doing` (read, save, lock, ...) `path`: what it is, what to do."""
    code = e.errno
    if code == errno.EISDIR or path.is_dir():
        why = "it is a directory; move it out of the way and run again"
    elif code in (errno.ENOSPC, errno.EDQUOT):
        why = "the disk is full (or over quota); free some space and run again"
    elif code in (errno.EACCES, errno.EPERM):
        why = f"permission denied; make it and its folder writable, or set {PROGRESS_ENV} to a file you can write"
    elif code == errno.EROFS:
        why = f"the file system is read-only; set {PROGRESS_ENV} to a file on a writable disk"
    elif code == errno.ENOTDIR:
        why = f"a part of its folder path is a file; set {PROGRESS_ENV} to another file, or move that file away"
    else:
        why = f"{e.strerror or e}; check it, or set {PROGRESS_ENV} to another file"
    return ProgressFileError(f"cannot {doing} {path}: {why}")


def _entry(exercise_id: str, raw: Any, problems: list[str]) -> ExerciseProgress:
    """Read one exercise entry, keeping every field that makes sense and noting the rest."""
    entry = ExerciseProgress()
    if not isinstance(raw, dict):
        problems.append(f"{exercise_id}: entry is not an object")
        return entry
    status = raw.get("status", "pending")
    if status in STATUSES:
        entry.status = status
    else:
        problems.append(f"{exercise_id}: status {status!r}")
    for name in ("attempts", "hints"):
        value = raw.get(name, 0)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            setattr(entry, name, value)
        else:
            problems.append(f"{exercise_id}: {name} {value!r}")
    first_pass = raw.get("first_pass")
    if first_pass is None or isinstance(first_pass, str):
        entry.first_pass = first_pass
    else:
        problems.append(f"{exercise_id}: first_pass {first_pass!r}")
    if entry.done and entry.first_pass is None:
        entry.first_pass = now_iso()
    return entry


def parse_progress(text: str) -> tuple[Progress, list[str]]:
    """Parse progress.json text into Progress plus a list of fields that had to be dropped.

    Raises ProgressFormatError when nothing trustworthy can be read (not JSON, not an object, no known
    schema), NewerSchemaError for a file from a newer arena.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ProgressFormatError(f"not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict):
        raise ProgressFormatError("not a JSON object")
    schema = data.get("schema")
    if isinstance(schema, int) and not isinstance(schema, bool) and schema > SCHEMA_VERSION:
        raise NewerSchemaError(schema)
    if schema != SCHEMA_VERSION:
        raise ProgressFormatError(f"schema version {schema!r}, this arena reads {SCHEMA_VERSION}")
    problems: list[str] = []
    raw_exercises = data.get("exercises", {})
    if not isinstance(raw_exercises, dict):
        raise ProgressFormatError("`exercises` is not an object")
    exercises = {str(k): _entry(str(k), v, problems) for k, v in raw_exercises.items()}
    current = data.get("current")
    if current is not None and not isinstance(current, str):
        problems.append(f"current {current!r}")
        current = None
    return Progress(current=current, exercises=exercises), problems


class ProgressStore:
    """The progress file of one course. `notices` collects one-line messages for the student."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.notices: list[str] = []

    @property
    def _lock_path(self) -> Path:
        return lock_file(self.path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the lock: waited for up to LOCK_TIMEOUT_S (another arena writes in milliseconds), then
        one line naming the lock file instead of a frozen command."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = open(self._lock_path, "a")
        except OSError as e:
            raise _file_trouble(self._lock_path, "lock", e) from None
        with lock:
            deadline = time.monotonic() + LOCK_TIMEOUT_S
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise ProgressFileError(
                            f"cannot lock {self._lock_path}: another process has held it for over "
                            f"{LOCK_TIMEOUT_S:g} s (a stuck arena?); end that process and run again"
                        ) from None
                    time.sleep(LOCK_POLL_S)
                except OSError as e:
                    raise _file_trouble(self._lock_path, "lock", e) from None
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @property
    def backup_path(self) -> Path:
        """A second copy of the last good write: what a corrupt file is restored from."""
        return backup_file(self.path)

    def _parse(self, raw: bytes, path: Path) -> tuple[Progress, list[str]]:
        """parse_progress of `path`'s bytes, refusing (one line) a file from a newer arena: it is never
        moved aside or overwritten, so the newer arena still finds it."""
        try:
            return parse_progress(raw.decode("utf-8"))
        except NewerSchemaError as e:
            raise ProgressFileError(
                f"{path} was written by a newer arena (progress schema {e.schema}; this one reads "
                f"{SCHEMA_VERSION}): upgrade arena (git pull, then the README's set-up command); "
                "the file is left as it is"
            ) from None

    def _read_bytes(self, path: Path) -> bytes | None:
        """The bytes of `path`; None if there is no such file."""
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise _file_trouble(path, "read", e) from None

    def _move_aside(self, reason: str) -> Progress:
        """Move an unreadable file aside; return the backup's progress, or empty progress. A backup
        from a newer arena is refused (ProgressFileError) before anything is moved."""
        raw_backup = self._read_bytes(self.backup_path)
        try:
            backup = self._parse(raw_backup, self.backup_path)[0] if raw_backup is not None else None
        except (UnicodeDecodeError, ProgressFormatError):
            backup = None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        try:
            os.replace(self.path, aside)
        except OSError as e:
            raise _file_trouble(self.path, "move aside the unreadable", e) from None
        if backup is None:
            self.notices.append(
                f"{self.path.name} could not be read ({reason}); moved it to {aside.name} and started afresh."
            )
            return Progress()
        self._write(backup)
        self.notices.append(
            f"{self.path.name} could not be read ({reason}); moved it to {aside.name} and restored "
            f"the last good copy ({self.backup_path.name})."
        )
        return backup

    def _read(self) -> Progress:
        """Read progress (call under the lock). A file that can't be read is moved aside and one
        with invalid fields is rewritten without them, each with one notice, so the problem is
        reported once, by whichever command meets it first."""
        raw = self._read_bytes(self.path)
        if raw is None:
            return Progress()
        try:
            progress, problems = self._parse(raw, self.path)
        except (UnicodeDecodeError, ProgressFormatError) as e:
            return self._move_aside(str(e) if isinstance(e, ProgressFormatError) else "not UTF-8")
        if problems:
            shown = "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else "")
            self.notices.append(f"{self.path.name}: ignored invalid fields ({shown}).")
            self._write(progress)
        return progress

    def load(self) -> Progress:
        """Read progress (for commands that only show things), without the lock when the file is
        sound. One that needs repair is repaired under the lock (see `_read`), whichever command
        meets it first."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return Progress()
        except OSError:
            pass  # said in one line by `_read`, under the lock
        else:
            try:
                progress, problems = self._parse(raw, self.path)
                if not problems:
                    return progress
            except (UnicodeDecodeError, ProgressFormatError):
                pass
        with self._locked():
            return self._read()

    def update(self, change: Callable[[Progress], T]) -> tuple[Progress, T]:
        """Apply `change` to the latest progress and save it, atomically, under the lock. Returns the
        progress as saved and what `change` returned."""
        with self._locked():
            progress = self._read()
            result = change(progress)
            self._write(progress)
            return progress, result

    def _write(self, progress: Progress) -> None:
        """Write under the lock: any temp file already there was left by a writer that was killed.
        The backup is a separate copy (not a link), so a student's code that overwrites progress.json
        in place cannot damage it."""
        data = json.dumps(progress.to_json(), indent=2) + "\n"
        with suppress(OSError):  # housekeeping: a real problem shows in the write itself
            for stale in self.path.parent.glob(f".{glob.escape(self.path.name)}.*.tmp"):
                stale.unlink(missing_ok=True)
        for path in (self.path, self.backup_path):
            try:
                self._write_atomic(path, data)
            except OSError as e:
                raise _file_trouble(path, "save", e) from None

    def _write_atomic(self, path: Path, data: str) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
