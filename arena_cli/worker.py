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

import gc
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import tempfile
from pathlib import Path

from arena_cli import processes
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

    _exercise_a_tiny_model()

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


def _exercise_a_tiny_model() -> None:
    """Build and run a tiny TransformerLens model once, so every child skips the first build's lazy
    imports and caches (0.1-0.8 s per hidden test on a busy machine). Never an nnsight trace: its source
    cache would go stale in the children (see docs/offline_models.md)."""
    try:
        import torch

        from arena_course.models import tiny_model

        model = tiny_model(n_layers=1, d_model=16, n_heads=2, words=None, d_vocab=8)
        with torch.no_grad():
            model.run_with_cache(torch.tensor([[1, 2, 3]]))
        model.enable_compatibility_mode(disable_warnings=True)
    except Exception:  # noqa: BLE001 - a course without TransformerLens just isn't warmed this way
        pass


# --------------------------------------------------------------------------- one run


def _send(conn: socket.socket, message: dict) -> None:
    try:
        conn.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass  # the client is gone (cancelled, or it already has the return code)


def _child(request: dict, threads: int, conn: socket.socket) -> None:
    """In the forked child: become the test process described by `request`. Never returns."""
    code = 70
    try:
        os.setsid()
        processes.become_subreaper()  # the run's orphans stay below it, in the runner's view
        processes.die_with_parent()
        _send(conn, {"pid": os.getpid()})
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        out = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
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


def serve(path: Path, owner_pid: int | None) -> None:
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
    print(READY, flush=True)

    def finish(pid: int, returncode: int) -> None:
        conn = children.pop(pid, None)
        if conn is not None:
            _send(conn, {"returncode": returncode})
            conn.close()
        processes.end_strays(set(children))  # what a finished run left behind

    try:
        while True:
            if owner_pid is not None and os.getppid() != owner_pid:
                return  # the CLI that started us is gone
            for key, _ in selector.select(timeout=0.01 if children else 0.5):
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
                try:
                    pid = os.fork()
                except OSError:  # out of memory or processes: the client runs cold
                    conn.close()
                    continue
                if pid == 0:
                    server.close()
                    _child(request, threads, conn)
                children[pid] = conn
            while children:
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
