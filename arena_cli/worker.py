"""The warm worker: imports torch, TransformerLens, nnsight and pytest once, then forks a fresh child
per test run, so a save is answered in a fraction of a second instead of seconds of imports.

Protocol (a Unix socket, one connection per run, JSON lines):
    client -> worker  {"args": [pytest args], "env": {...}, "cwd": "...", "output": "file",
                       "channel": {"path", "key"}}   (the report channel, see protocol.py)
    worker -> client  {"pid": N}            the child is running (its own session: pgid == pid)
    worker -> client  {"returncode": R}     it ended (negative: killed by that signal)
Both messages come from the child itself: the pid once it leads its own process group (so the client
can kill the group as soon as it knows the pid), the return code just before it exits (tearing down a
copy of the worker's address space takes 5-20 ms). The worker also sends the return code when it reaps
the child, for a child that died without saying so (a crash, os._exit, a signal); the client reads
the first and closes the connection.
A request with `"prepare": true` (watch: the same exercise again at the next save) leaves a spare behind:
once the run ends, the worker forks a child that starts pytest and collects the same hidden test, then
holds before the first check, the first moment that could touch the student's file. The next identical
request is handed to it (the client's connection passes over a socket pair), and the spare sends its pid
and the file its output goes to ({"pid": N, "output": path}): a save skips the fork, pytest's start-up
and the collection (~60 ms of CPU). A spare is used only if the test's files and the code the worker holds
are unchanged since it collected; otherwise the run is forked as usual.
The client owns time limits and cancellation: it kills the child's process tree itself. The worker
talks only to its own user (SO_PEERCRED), and is a child subreaper: a process a finished run left
behind (a daemon that left the run's session) is re-parented to the worker and killed.

Hazards this module avoids, each covered by a test:
- a multi-threaded torch op in the parent before fork makes the child hang in OpenMP: the parent stays
  at one thread and does no torch work; the child sets its own thread count (ARENA_CHILD_THREADS,
  default 1: hidden tests use tiny tensors, where extra threads only add synchronisation, and verify
  already runs one child per core);
- nnsight imported before pytest.main breaks pytest's anyio plugin: `anyio.pytest_plugin` is imported
  first;
- the parent never imports an exercise file: pytest is warmed up on a dummy test in a temp folder;
- `gc.freeze()` before forking keeps the child from touching (and copying) the parent's heap.
The worker is single-threaded: one selector loop accepts requests, forks, and reaps children.
This module is the worker process (`python -m arena_cli.worker SOCKET OWNER_PID`); the CLI's side
(starting it, finding another terminal's, asking it for a child) is `worker_client.py`.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from arena_cli import processes, protocol
from arena_cli.child import run_pytest
from arena_cli.protocol import Channel
from arena_cli.worker_client import same_user

# The submodules matter: `import transformer_lens` (4.x) does not import the bridge, and `transformers`
# imports its modelling code only when a model class is first used; left to the child, those imports
# cost ~1-1.5 s per run. The bridge comes before nnsight (nnsight mounts `.save` on `object`).
HEAVY_MODULES = (
    "torch",
    "einops",
    "jaxtyping",
    "matplotlib",
    "transformer_lens",
    "transformer_lens.model_bridge",
    "transformers.modeling_utils",
    "nnsight",
    "nnsight.modeling.transformers",
    # The architectures of the course's tiny models (chapter 3 builds GPT-J and GPT-2 in nnsight).
    "transformers.models.gptj.modeling_gptj",
    "transformers.models.gpt2.modeling_gpt2",
    "tokenizers",
)
READY = "ready"


# --------------------------------------------------------------------------- warming up


def warm_up() -> int:
    """Import what the course needs and exercise pytest once. Returns the thread count to restore."""
    import anyio.pytest_plugin  # noqa: F401  (before nnsight: see the module docstring)

    threads = int(os.environ.get("ARENA_CHILD_THREADS", "0")) or 1
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    for name in HEAVY_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional library just isn't pre-imported
            pass
    import matplotlib

    matplotlib.use("Agg")
    import pytest

    import arena_cli.pytest_plugin  # noqa: F401
    import arena_cli.testing  # noqa: F401

    _warm_course()

    with tempfile.TemporaryDirectory(prefix="arena-warm-") as tmp:
        dummy = Path(tmp) / "test_warm.py"
        dummy.write_text("def test_warm():\n    assert True\n")
        devnull = os.open(os.devnull, os.O_WRONLY)
        saved = os.dup(1), os.dup(2)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        try:
            pytest.main([str(dummy), "-q", "-p", "no:cacheprovider", "--rootdir", tmp])
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(devnull)
    gc.collect()
    gc.freeze()
    return threads


COURSE_PACKAGE = "arena_course"  # the course's given code (see course_guard.py)


def _warm_course() -> None:
    """Import every module of the course's given code (what hidden tests import: ~20-90 ms a run
    otherwise), then run its `warm_worker()`: builds and runs of its tiny models that fill lazy
    imports and caches. Never an exercise file, never `result_main` (a script's entry point)."""
    import pkgutil

    try:
        package = importlib.import_module(COURSE_PACKAGE)
    except ImportError:
        return  # not a course with given code
    for module in pkgutil.walk_packages(package.__path__, f"{COURSE_PACKAGE}."):
        if module.name.rsplit(".", 1)[-1] in ("result_main", "__main__"):
            continue
        try:
            importlib.import_module(module.name)
        except Exception:  # noqa: BLE001 - a module that can't load here fails in the child, where it is said
            pass
    warm = getattr(package, "warm_worker", None)
    if warm is not None:
        try:
            warm()
        except Exception:  # noqa: BLE001 - warming is an optimisation; the child does the work if it fails
            pass


def code_files(root: Path) -> dict[str, tuple]:
    """A stat key of every file of the code a worker holds in memory: arena's own and the course's given
    code (data files included). When one changes, the worker's copy is stale: it quits, and the
    client starts a fresh one (see `serve`)."""
    keys = {}
    for top in (Path(__file__).resolve().parent, root / COURSE_PACKAGE):
        for folder, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                path = os.path.join(folder, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                keys[path] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return keys


# --------------------------------------------------------------------------- one run


def _send(conn: socket.socket, message: dict) -> None:
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


def _child(request: dict, threads: int, conn: socket.socket) -> None:
    """In the forked child: become the test process described by `request`. Never returns."""
    code = 70
    try:
        _own_session()  # before the pid goes out: the client may kill the group at once
        _send(conn, {"pid": os.getpid()})
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
        run_pytest(request["args"], channel, before_exit=lambda code: _send(conn, {"returncode": code}))
    _send(conn, {"returncode": code})
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


def _request_key(request: dict) -> str:
    return json.dumps([request["args"], request["cwd"], request["env"]], sort_keys=True)


def _test_files(request: dict) -> dict[str, tuple]:
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


def _start_spare(request: dict, threads: int, folder: str, server: socket.socket) -> Spare | None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    output = os.path.join(folder, f"spare-{time.monotonic_ns()}.out")
    files = _test_files(request)
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
    return Spare(_request_key(request), files, pid, ours, output)


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
        _send(client, {"pid": os.getpid(), "output": output})
        protocol.use_channel(Channel.from_json(json.loads(message)["channel"]))

    try:
        _own_session()
        _become_test_process(request, threads, output)
        pytest_plugin.hold_before_checks = hold
        protocol.hold_events()
    except BaseException:  # noqa: BLE001 - a spare that can't start is simply not there
        os._exit(70)
    run_pytest(request["args"], None, before_exit=lambda code: conn and _send(conn[0], {"returncode": code}))


def _hand_over(spare: Spare, conn: socket.socket, request: dict) -> bool:
    """Give the run to the spare: the client's connection and the run's channel."""
    if not spare.ready or spare.key != _request_key(request) or _test_files(request) != spare.files:
        return False
    try:
        socket.send_fds(spare.sock, [json.dumps({"channel": request["channel"]}).encode()], [conn.fileno()])
    except OSError:
        return False
    return True


def _unregister(selector: selectors.BaseSelector, sock: socket.socket) -> None:
    with contextlib.suppress(KeyError, ValueError):
        selector.unregister(sock)


def _drop(spare: Spare | None) -> None:
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


def serve(path: Path, owner_pid: int | None) -> None:
    code = code_files(Path.cwd())  # before warming: an edit made during the warm-up counts as a change
    threads = warm_up()
    processes.become_subreaper()
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    os.chmod(path, 0o600)
    server.listen(16)
    server.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(server, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    buffers: dict[socket.socket, bytes] = {}
    prepare: dict[int, dict] = {}  # a run's pid -> its request, when a spare is wanted after it
    spare: Spare | None = None
    spares_dir = tempfile.mkdtemp(prefix="arena-spares-")
    print(READY, flush=True)

    def finish(pid: int, returncode: int) -> None:
        nonlocal spare
        conn = children.pop(pid, None)
        if conn is not None:
            _send(conn, {"returncode": returncode})
            conn.close()
        if spare is not None and pid == spare.pid:  # it quit (stale) or was dropped
            _unregister(selector, spare.sock)
            _drop(spare)
            spare = None
        known = set(children) | ({spare.pid} if spare else set())
        processes.end_strays(known)  # what a finished run left behind
        request = prepare.pop(pid, None)
        if request is not None and not children:  # never while another run competes for the CPU
            replace_spare(_start_spare(request, threads, spares_dir, server))

    def replace_spare(new: Spare | None) -> None:
        nonlocal spare
        if spare is not None:
            _unregister(selector, spare.sock)
            _drop(spare)
        spare = new
        if spare is not None:
            selector.register(spare.sock, selectors.EVENT_READ)

    try:
        while True:
            if owner_pid is not None and os.getppid() != owner_pid:
                return  # the CLI that started us is gone
            for key, _ in selector.select(timeout=0.01 if children or (spare and not spare.ready) else 0.5):
                if spare is not None and key.fileobj is spare.sock:
                    try:
                        spare.ready = spare.sock.recv(16) == b"held"
                    except OSError:
                        spare.ready = False
                    if not spare.ready:
                        replace_spare(None)
                    else:
                        _unregister(selector, spare.sock)
                    continue
                if key.fileobj is server:
                    try:
                        conn, _ = server.accept()
                    except BlockingIOError:
                        continue
                    if not same_user(conn):
                        conn.close()
                        continue
                    conn.setblocking(True)
                    conn.settimeout(5)
                    buffers[conn] = b""
                    selector.register(conn, selectors.EVENT_READ)
                    continue
                conn = key.fileobj
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(conn)
                    buffers.pop(conn, None)
                    if conn not in children.values():
                        conn.close()
                    continue
                buffers[conn] += data
                if b"\n" not in buffers[conn]:
                    continue
                line = buffers.pop(conn).split(b"\n", 1)[0]
                selector.unregister(conn)
                try:
                    request = json.loads(line)
                except json.JSONDecodeError:
                    conn.close()
                    continue
                if request.get("ping"):
                    conn.sendall(json.dumps({"pong": os.getpid()}).encode() + b"\n")
                    conn.close()
                    continue
                if code_files(Path.cwd()) != code:
                    conn.close()  # the client runs this one cold and starts a fresh worker
                    return
                if spare is not None and _hand_over(spare, conn, request):
                    pid = spare.pid
                    spare.sock.close()
                    spare = None
                else:
                    replace_spare(None)  # another test, or a stale one: it won't be asked for again
                    try:
                        pid = os.fork()
                    except OSError:  # out of memory or processes: the client runs cold
                        conn.close()
                        continue
                    if pid == 0:
                        server.close()
                        _child(request, threads, conn)
                children[pid] = conn
                if request.get("prepare"):
                    prepare[pid] = request
            while children or spare is not None:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                finish(pid, os.waitstatus_to_exitcode(status))
    finally:
        for pid in list(children):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        _drop(spare)
        shutil.rmtree(spares_dir, ignore_errors=True)
        server.close()
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def main() -> None:
    path = Path(sys.argv[1])
    owner = int(sys.argv[2]) if len(sys.argv) > 2 else None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve(path, owner)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
