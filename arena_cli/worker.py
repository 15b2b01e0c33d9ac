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
A request with `"prepare": true` leaves a spare behind for the next identical one (`forks.py`).
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
from pathlib import Path

from arena_cli import processes
from arena_cli.forks import Spare, drop_spare, hand_over, run_child, send, start_spare
from arena_cli.worker_client import same_user, spares_folder

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


def _unregister(selector: selectors.BaseSelector, sock: socket.socket) -> None:
    with contextlib.suppress(KeyError, ValueError):
        selector.unregister(sock)



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
    spares_dir = spares_folder(path)
    shutil.rmtree(spares_dir, ignore_errors=True)
    os.mkdir(spares_dir, 0o700)
    print(READY, flush=True)

    def finish(pid: int, returncode: int) -> None:
        nonlocal spare
        conn = children.pop(pid, None)
        if conn is not None:
            send(conn, {"returncode": returncode})
            conn.close()
        if spare is not None and pid == spare.pid:  # it quit (stale) or was dropped
            _unregister(selector, spare.sock)
            drop_spare(spare)
            spare = None
        known = set(children) | ({spare.pid} if spare else set())
        processes.end_strays(known)  # what a finished run left behind
        request = prepare.pop(pid, None)
        if request is not None and not children:  # never while another run competes for the CPU
            replace_spare(start_spare(request, threads, spares_dir, server))

    def replace_spare(new: Spare | None) -> None:
        nonlocal spare
        if spare is not None:
            _unregister(selector, spare.sock)
            drop_spare(spare)
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
                if spare is not None and hand_over(spare, conn, request):
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
                        run_child(request, threads, conn)
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
        drop_spare(spare)
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
