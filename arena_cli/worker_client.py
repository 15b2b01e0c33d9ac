"""The CLI's side of the warm worker (`worker.py`, which describes the protocol): start and stop one
(`Worker`), find another terminal's (`find_running`), and ask it for a test child (`WarmChild`, a
Popen-like handle the runner uses as it would a cold child).

The worker belongs to its user: sockets live in a directory only the user can enter (the user's runtime
directory, else `<tmp>/arena-<uid>`, created 0700 and checked), and the peer at the other end of a
socket is checked to be the same user (SO_PEERCRED, on Linux) before anything is sent. A worker that
doesn't answer in time is replaced (ours) or no longer asked (another terminal's)."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from arena_cli import processes
from arena_cli.protocol import Channel

REPLY_TIMEOUT_S = 2.0  # a worker forks a child in milliseconds; one that takes longer is stuck


def _private(folder: Path) -> bool:
    """A directory (not a link) owned by this user that nobody else can enter."""
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def _socket_dir() -> Path | None:
    """Where this user's workers' sockets live; None when no private directory can be had."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and _private(Path(runtime)):
        return Path(runtime)
    folder = Path(tempfile.gettempdir()) / f"arena-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    return folder if _private(folder) else None


def peer_uid(conn: socket.socket) -> int | None:
    """The user id of the process at the other end of a Unix socket (None where the OS can't say)."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def same_user(conn: socket.socket) -> bool:
    uid = peer_uid(conn)
    return uid is None or uid == os.getuid()


def _course_tag(root: Path) -> str:
    return f"arena-{os.getuid()}-{hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]}"


_started = itertools.count()


def socket_path(root: Path, owner_pid: int) -> Path | None:
    """A fresh socket path for a worker started by `owner_pid` for the course at `root` (unique per
    Worker, even several in one process; short, since Unix socket paths are limited to ~100 bytes)."""
    folder = _socket_dir()
    return None if folder is None else folder / f"{_course_tag(root)}-{owner_pid}-{next(_started)}.sock"


def running_sockets(root: Path) -> list[Path]:
    """Sockets of workers that may be up for this course (another terminal's `arena watch`)."""
    folder = _socket_dir()
    return [] if folder is None else sorted(folder.glob(f"{_course_tag(root)}-*.sock"))


def spares_folder(sock: Path) -> str:
    """Where the worker listening at `sock` writes its spares' output (worker.py): beside the socket, in the
    user's private folder, so that a killed worker's files are removed when the next one starts or stops."""
    return f"{sock}.spares"


_ours: dict[str, Worker] = {}  # socket path -> the Worker of this process that listens there
_unresponsive: set[str] = set()  # other processes' workers that failed to answer


def _did_not_answer(sock: Path) -> None:
    """A worker failed to take a run in time: replace it if it is ours, else stop asking it."""
    worker = _ours.get(str(sock))
    if worker is not None:
        worker.replace()
    else:
        _unresponsive.add(str(sock))


class WorkerUnavailable(Exception):
    """The worker could not take a run (not up, crashed, or refused); run cold instead."""


class WarmChild:
    """A test child forked by the worker; same interface as a Popen for the runner. `output` is the file
    its output goes to: the one asked for, or a spare's own (see worker.py). `prepare`: the same run is
    likely to come again (watch), so the worker readies a spare for it."""

    def __init__(
        self, sock: Path, args: list[str], cwd: Path, env: dict[str, str], output: Path, channel: Channel,
        prepare: bool = False,
    ):
        self.returncode: int | None = None
        self.output = output
        self._buffer = b""
        self._conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._conn.settimeout(REPLY_TIMEOUT_S)
            self._conn.connect(str(sock))
            if not same_user(self._conn):
                self._conn.close()
                _unresponsive.add(str(sock))
                raise WorkerUnavailable(f"{sock} belongs to another user")
            request = {
                "args": args, "cwd": str(cwd), "env": env, "output": str(output), "channel": channel.to_json(),
                "prepare": prepare,
            }
            self._conn.sendall(json.dumps(request).encode() + b"\n")
            started = self._read_message()
            if "pid" not in started and "returncode" in started:  # a spare that died as it got the run
                self._conn.close()
                raise WorkerUnavailable("the worker's spare child ended before the run")
            self.pid = int(started["pid"])
            self.output = Path(started.get("output", output))
        except (OSError, ValueError, KeyError) as e:
            self._conn.close()
            _did_not_answer(sock)
            raise WorkerUnavailable(str(e)) from None
        self._conn.setblocking(False)

    def _read_message(self) -> dict:
        while b"\n" not in self._buffer:
            data = self._conn.recv(4096)
            if not data:
                raise ConnectionError("worker closed the connection")
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        try:
            message = self._read_message()
        except BlockingIOError:
            return None
        except (OSError, ValueError):
            message = {"returncode": -signal.SIGKILL}  # the worker died with our child
        self.returncode = int(message.get("returncode", -signal.SIGKILL))
        self._conn.close()
        return self.returncode

    def wait_for(self, seconds: float) -> None:
        """Return when the child's end is reported, or after `seconds`."""
        if self.returncode is None and b"\n" not in self._buffer:
            select.select([self._conn], [], [], seconds)

    def wait(self, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                self.returncode = -signal.SIGKILL
                break
            time.sleep(0.005)
        return self.returncode


class Worker:
    """A warm worker owned by this CLI process: started in the background, stopped with it."""

    def __init__(self, root: Path):
        self.root = root
        self.path = socket_path(root, os.getpid())
        self.proc: subprocess.Popen | None = None
        self.restarts = 0

    def start(self) -> Worker:
        if self.path is None:
            return self  # no private directory for its socket: runs stay cold
        _ours[str(self.path)] = self
        # A worker that was killed (SIGKILL, OOM) leaves its socket file behind; `ready` would take it
        # for the new worker's and send runs to a dead socket until the new one is up.
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        shutil.rmtree(spares_folder(self.path), ignore_errors=True)
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "arena_cli.worker", str(self.path), str(os.getpid())],
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    @property
    def ready(self) -> bool:
        """Up and listening (warm-up done). A dead worker is restarted (it will be ready later)."""
        if self.proc is None:
            return False
        if self.proc.poll() is not None:
            self.restarts += 1
            self.start()
            return False
        return self.path.exists()

    def wait_ready(self, timeout: float = 120.0) -> bool:
        if self.path is None:
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready:
                return True
            time.sleep(0.05)
        return False

    def replace(self) -> None:
        """Kill a worker that stopped answering (a SIGSTOP, a hang) and start a new one."""
        if self.proc is not None and self.proc.poll() is None:
            processes.kill_tree(self.proc.pid)
            self.proc.wait()
        self.restarts += 1
        self.start()

    def stop(self) -> None:
        _ours.pop(str(self.path), None)
        if self.path is None:
            return
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        shutil.rmtree(spares_folder(self.path), ignore_errors=True)

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def find_running(root: Path) -> Path | None:
    """The socket of a worker that answers for this course (another terminal's watch), if any."""
    for path in running_sockets(root):
        if str(path) in _unresponsive:
            continue
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(1)
                conn.connect(str(path))
                if not same_user(conn):
                    continue
                conn.sendall(b'{"ping": true}\n')
                if b"pong" in conn.recv(4096):
                    return path
        except OSError:
            continue
    return None
