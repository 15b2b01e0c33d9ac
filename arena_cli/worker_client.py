"""The CLI's side of the warm worker (`worker.py`, which describes the protocol): start and stop one
(`Worker`), find another terminal's (`find_running`), and ask it for a test child (`WarmChild`, a
Popen-like handle the runner uses as it would a cold child)."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _socket_dir() -> Path:
    return Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())


def _course_tag(root: Path) -> str:
    return f"arena-{os.getuid()}-{hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]}"


_started = itertools.count()


def socket_path(root: Path, owner_pid: int) -> Path:
    """A fresh socket path for a worker started by `owner_pid` for the course at `root` (unique per
    Worker, even several in one process; short, since Unix socket paths are limited to ~100 bytes)."""
    return _socket_dir() / f"{_course_tag(root)}-{owner_pid}-{next(_started)}.sock"


def running_sockets(root: Path) -> list[Path]:
    """Sockets of workers that may be up for this course (another terminal's `arena watch`)."""
    return sorted(_socket_dir().glob(f"{_course_tag(root)}-*.sock"))


class WorkerUnavailable(Exception):
    """The worker could not take a run (not up, crashed, or refused); run cold instead."""


class WarmChild:
    """A test child forked by the worker; same interface as a Popen for the runner."""

    def __init__(self, sock: Path, args: list[str], cwd: Path, env: dict[str, str], output: Path):
        self.returncode: int | None = None
        self._buffer = b""
        try:
            self._conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._conn.settimeout(5)
            self._conn.connect(str(sock))
            request = {"args": args, "cwd": str(cwd), "env": env, "output": str(output)}
            self._conn.sendall(json.dumps(request).encode() + b"\n")
            self.pid = int(self._read_message()["pid"])
        except (OSError, ValueError, KeyError) as e:
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
        # A worker that was killed (SIGKILL, OOM) leaves its socket file behind; `ready` would take it
        # for the new worker's and send runs to a dead socket until the new one is up.
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready:
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
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

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def find_running(root: Path) -> Path | None:
    """The socket of a worker that answers for this course (another terminal's watch), if any."""
    for path in running_sockets(root):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(1)
                conn.connect(str(path))
                conn.sendall(b'{"ping": true}\n')
                if b"pong" in conn.recv(4096):
                    return path
        except OSError:
            continue
    return None
