"""What the warm worker (worker.py) forks: a test child per run, and spares.

A test child (`run_child`) takes a session of its own, sends its pid, becomes the run's process (output
file, folder, environment, threads) and runs pytest with arena's plugin (`child.run_pytest`).

A request with `"prepare": true` (watch: the same exercise again at the next save) leaves a spare behind:
once the run ends, the worker forks a child that starts pytest and collects the same hidden test, then
holds before the first check, the first moment that could touch the student's file. The next identical
request is handed to it (the client's connection passes over a socket pair), and the spare sends its pid
and the file its output goes to ({"pid": N, "output": path}): a save skips the fork, pytest's start-up
and the collection (~60 ms of CPU). A spare is used only if the test's files and the code the worker holds
are unchanged since it collected; otherwise the run is forked as usual.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from arena_cli import processes, protocol
from arena_cli.child import run_pytest
from arena_cli.protocol import Channel


def send(conn: socket.socket, message: dict) -> None:
    try:
        conn.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass  # the client is gone (cancelled, or it already has the return code)


def _own_session() -> None:
    """In a forked child: a session (and process group) of its own, that the client can kill whole."""
    os.setsid()
    processes.become_subreaper()  # the run's orphans stay below it, in the runner's view
    processes.die_with_parent()


def _become_test_process(request: dict, threads: int, output: str) -> None:
    """In a forked child: the run's output file, folder, environment and threads."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    out = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    import torch

    torch.set_num_threads(threads)


def run_child(request: dict, threads: int, conn: socket.socket) -> None:
    """In the forked child: become the test process described by `request`. Never returns."""
    code = 70
    try:
        _own_session()  # before the pid goes out: the client may kill the group at once
        send(conn, {"pid": os.getpid()})
        _become_test_process(request, threads, request["output"])
        channel = Channel.from_json(request["channel"])
    except BaseException:  # noqa: BLE001 - report anything, then exit without running parent cleanup
        try:
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
        finally:
            code = 70
    else:
        run_pytest(request["args"], channel, before_exit=lambda code: send(conn, {"returncode": code}))
    send(conn, {"returncode": code})
    os._exit(code)


# --------------------------------------------------------------------------- spares


@dataclass
class Spare:
    """A child that has collected a hidden test and holds before its first check (see the docstring)."""

    key: str  # the request it was made for: only the same request is handed to it
    files: dict[str, tuple]  # stat keys of the test's own files when it collected
    pid: int
    sock: socket.socket  # the worker's end of the pair: "held" comes up, the client's connection goes down
    output: str
    ready: bool = False


def request_key(request: dict) -> str:
    return json.dumps([request["args"], request["cwd"], request["env"]], sort_keys=True)


def test_files(request: dict) -> dict[str, tuple]:
    """Stat keys of the hidden test and the conftest.py files above it, up to the course folder."""
    test = Path(request["cwd"], request["args"][0])
    paths = [test] + [folder / "conftest.py" for folder in test.parents if folder.is_relative_to(request["cwd"])]
    keys = {}
    for path in paths:
        try:
            st = os.stat(path)
            keys[str(path)] = (st.st_size, st.st_mtime_ns, st.st_ino)
        except OSError:
            keys[str(path)] = None
    return keys


def start_spare(request: dict, threads: int, folder: str, server: socket.socket) -> Spare | None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    output = os.path.join(folder, f"spare-{time.monotonic_ns()}.out")
    files = test_files(request)
    try:
        pid = os.fork()
    except OSError:
        ours.close()
        theirs.close()
        return None
    if pid == 0:
        server.close()
        ours.close()
        _spare(request, threads, theirs, output)
    theirs.close()
    return Spare(request_key(request), files, pid, ours, output)


def _spare(request: dict, threads: int, sock: socket.socket, output: str) -> None:
    """In the forked spare: start pytest on the request's test and hold at the end of collection until
    a run is handed over (or the worker drops the spare). Never returns."""
    from arena_cli import pytest_plugin

    conn: list[socket.socket] = []

    def hold() -> None:
        root = Path(request["cwd"]).resolve()
        student_dirs = (str(root / "exercises") + os.sep, str(root / "solutions") + os.sep)
        target = request["env"].get(protocol.TARGET_ENV, "")
        for module in list(sys.modules.values()):
            file = getattr(module, "__file__", None) or ""
            if file.startswith(student_dirs) or (target and file == target):
                os._exit(0)  # collecting loaded a student's or reference file: its content may be stale
        try:
            sock.sendall(b"held")
            message, fds, _, _ = socket.recv_fds(sock, 65536, 1)
        except OSError:
            os._exit(0)
        if not fds:
            os._exit(0)  # dropped
        client = socket.socket(fileno=fds[0])
        client.setblocking(True)
        conn.append(client)
        send(client, {"pid": os.getpid(), "output": output})
        protocol.use_channel(Channel.from_json(json.loads(message)["channel"]))

    try:
        _own_session()
        _become_test_process(request, threads, output)
        pytest_plugin.hold_before_checks = hold
        protocol.hold_events()
    except BaseException:  # noqa: BLE001 - a spare that can't start is simply not there
        os._exit(70)
    run_pytest(request["args"], None, before_exit=lambda code: conn and send(conn[0], {"returncode": code}))


def hand_over(spare: Spare, conn: socket.socket, request: dict) -> bool:
    """Give the run to the spare: the client's connection and the run's channel."""
    if not spare.ready or spare.key != request_key(request) or test_files(request) != spare.files:
        return False
    try:
        socket.send_fds(spare.sock, [json.dumps({"channel": request["channel"]}).encode()], [conn.fileno()])
    except OSError:
        return False
    return True


def drop_spare(spare: Spare | None) -> None:
    """End a spare that won't be used (its pid is reaped by the serve loop)."""
    if spare is None:
        return
    spare.sock.close()
    try:
        os.killpg(spare.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(spare.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    with contextlib.suppress(OSError):
        os.unlink(spare.output)
