"""The warm worker's hazards (arena_cli/worker.py). Each test fails if its hazard comes back.

Most tests share one worker on a module-scoped copy of the fixture course; the kill/restart test starts
its own. Student code is written to a fresh target file per test and run with `run_exercise` against the
`add_numbers` hidden test (`student.add(2, 3) == 5` and `student.add(-2, -3) == -5`, in one pytest
session sharing the student module), so what a run did is reported through files the student code
writes. `run_warm` checks that a run really went through the worker: `run_exercise` silently falls back
to a cold run when the worker can't take one, which would make these tests pass vacuously.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import tempfile
import time
from pathlib import Path

import pytest

from arena_cli import processes, runner, worker_client
from arena_cli.course import Exercise, load_course
from arena_cli.protocol import Channel
from arena_cli.verdict import Verdict
from arena_cli.worker_client import REPLY_TIMEOUT_S, WarmChild, Worker

pytestmark = pytest.mark.slow  # each test starts a real warm worker

READY_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def course_root(tmp_path_factory, copy_course) -> Path:
    return copy_course(tmp_path_factory.mktemp("worker") / "course")


@pytest.fixture(scope="module")
def exercise(course_root) -> Exercise:
    return load_course(course_root).get("add_numbers")


@pytest.fixture(scope="module")
def worker(course_root):
    with Worker(course_root) as w:
        assert w.wait_ready(READY_TIMEOUT_S), "the worker did not get ready"
        yield w


def student_file(tmp_path: Path, source: str, name: str = "student.py") -> Path:
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return path


def recording_student(tmp_path: Path, log: Path, expression: str) -> Path:
    """A student file with a correct `add` whose module, when imported, first appends `expression`
    (evaluated there, with os and gc imported) to `log`: what a test learns about that process."""
    source = f"""
import gc, os
with open({str(log)!r}, "a") as f:
    f.write(f"{{{expression}}}\\n")

def add(a, b):
    return a + b
"""
    return student_file(tmp_path, source)


def run_warm(exercise: Exercise, target: Path, worker: Worker, timeout_s: float = 20, prepare: bool = False,
             launched: list | None = None) -> Verdict:
    """run_exercise through the worker; fails if the run went cold instead. The child is appended to
    `launched` when given."""
    launched = [] if launched is None else launched
    first = len(launched)
    real_launch = runner._launch

    def spy(*args, **kwargs):
        proc = real_launch(*args, **kwargs)
        launched.append(proc)
        return proc

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "_launch", spy)
        verdict = runner.run_exercise(exercise, target=target, timeout_s=timeout_s, worker=worker.path,
                                      prepare=prepare)
    assert verdict is not None
    assert len(launched) > first and isinstance(launched[first], WarmChild), "the run went cold: the worker did not take it"
    return verdict


def describe(verdict: Verdict) -> str:
    return json.dumps(verdict.to_json(), indent=1)[:3000]


# --------------------------------------------------------------------------- threads


THREADED = """
import torch

def add(a, b):
    torch.set_num_threads(4)  # whatever the worker's default: this op uses an OpenMP thread pool
    x = torch.randn(1024, 1024)
    for _ in range(3):
        x = (x @ x).tanh()
    y = torch.randn(4_000_000).exp().sum()  # an elementwise op big enough for at::parallel_for
    return a + b + 0 * int(torch.isnan(y))
"""


def test_multithreaded_torch_op_in_the_child_completes(exercise, worker, tmp_path):
    """A multi-threaded torch op in a forked child doesn't hang (a parent that had used OpenMP threads
    before forking would make it hang: then this run times out)."""
    verdict = run_warm(exercise, student_file(tmp_path, THREADED), worker, timeout_s=15)
    assert verdict.status == "passed", describe(verdict)


# --------------------------------------------------------------------------- pytest plugins


def test_runs_with_nnsight_preimported_have_no_internal_error(exercise, worker, tmp_path):
    """With nnsight imported in the worker, pytest (and its anyio plugin) still runs cleanly."""
    report = tmp_path / "modules.json"
    source = f"""
import json, sys

def add(a, b):
    mods = {{m: m in sys.modules for m in ("nnsight", "anyio.pytest_plugin", "torch")}}
    with open({str(report)!r}, "w") as f:
        json.dump(mods, f)
    return a + b
"""
    verdict = run_warm(exercise, student_file(tmp_path, source), worker)
    assert verdict.status == "passed", describe(verdict)
    assert "INTERNALERROR" not in (verdict.output or "")
    assert json.loads(report.read_text()) == {"nnsight": True, "anyio.pytest_plugin": True, "torch": True}


# --------------------------------------------------------------------------- isolation


def test_the_worker_never_imports_an_exercise_file(exercise, worker, tmp_path):
    """N runs import the student file N times, each in a different child, never in the worker."""
    pids = tmp_path / "pids.txt"
    target = recording_student(tmp_path, pids, "os.getpid()")
    n = 3
    for _ in range(n):
        verdict = run_warm(exercise, target, worker)
        assert verdict.status == "passed", describe(verdict)
    seen = [int(line) for line in pids.read_text().split()]
    assert len(seen) == n and len(set(seen)) == n, seen
    assert worker.proc.pid not in seen
    assert os.getpid() not in seen


CORRECT = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a - b\n"
LEAKY = """
import arena_cli.testing as preimported  # imported by the worker before it forks

preimported.ARENA_LEAK = getattr(preimported, "ARENA_LEAK", 0) + 1
CALLS = []

def add(a, b):
    CALLS.append((a, b))  # two calls per run (the module is shared by the run's two tests)
    assert len(CALLS) <= 2, f"module global kept from an earlier run: {CALLS}"
    assert preimported.ARENA_LEAK == 1, f"a pre-imported module kept a change: {preimported.ARENA_LEAK}"
    return a + b
"""


def test_each_run_sees_the_current_file_and_starts_fresh(exercise, worker, tmp_path):
    target = tmp_path / "student.py"
    statuses = []
    for source in (CORRECT, WRONG, CORRECT, LEAKY, LEAKY, WRONG):
        target.write_text(source, encoding="utf-8")
        statuses.append(run_warm(exercise, target, worker).status)
    assert statuses == ["passed", "failed", "passed", "passed", "passed", "failed"]


# --------------------------------------------------------------------------- spares


def from_spare(child: WarmChild) -> bool:
    """The run went to a spare: its output is the spare's own file, not the one the runner asked for."""
    return child.output.parent.name.endswith(".spares")


def test_a_spare_takes_the_next_identical_run_and_reads_the_file_as_it_is_then(exercise, worker, tmp_path):
    """With `prepare`, the next run of the same test goes to a spare that collected it in advance; each
    run still sees the student's file as it is at that run, and its pass or failure."""
    target = tmp_path / "student.py"
    launched: list = []
    statuses = []
    sources = (CORRECT, WRONG, CORRECT, WRONG, CORRECT, "def add(a, b):\n    raise ValueError('no')\n")
    for source in sources:
        time.sleep(1.0)  # the spare of the previous run collects meanwhile
        target.write_text(source, encoding="utf-8")
        statuses.append(run_warm(exercise, target, worker, prepare=True, launched=launched).status)
    assert statuses == ["passed", "failed", "passed", "failed", "passed", "error"]
    assert not from_spare(launched[0])
    assert sum(from_spare(child) for child in launched[1:]) >= 3, [str(c.output) for c in launched]
    assert all(not child.output.exists() for child in launched), "a spare's output file was left behind"
    assert Path(worker_client.spares_folder(worker.path)).is_dir()


def test_a_spare_is_not_used_once_its_test_changed(exercise, worker, tmp_path):
    """A spare collected the hidden test as it was: after an edit, the run gets the edited test."""
    target = student_file(tmp_path, CORRECT)
    launched: list = []
    run_warm(exercise, target, worker, prepare=True, launched=launched)
    test_file = exercise.test_path
    shipped = test_file.read_text(encoding="utf-8")
    time.sleep(1.0)
    test_file.write_text(shipped + "\n\ndef test_added_later(student):\n    \"\"\"Added later\"\"\"\n"
                         "    assert student.add(1, 1) == 3\n", encoding="utf-8")
    try:
        verdict = run_warm(exercise, target, worker, prepare=True, launched=launched)
    finally:
        test_file.write_text(shipped, encoding="utf-8")
    assert verdict.status == "failed" and "Added later" in [c.name for c in verdict.checks], describe(verdict)
    assert not from_spare(launched[-1])


def test_a_spare_keeps_the_time_limit_and_the_worker_after_a_crash(exercise, worker, tmp_path):
    """An infinite loop in a spare's run stops at the limit; the next run still goes to a spare."""
    launched: list = []
    target = student_file(tmp_path, CORRECT)
    run_warm(exercise, target, worker, prepare=True, launched=launched)
    target.write_text("def add(a, b):\n    while True:\n        pass\n", encoding="utf-8")
    time.sleep(1.0)
    started = time.monotonic()
    verdict = run_warm(exercise, target, worker, timeout_s=2, prepare=True, launched=launched)
    assert verdict.status == "timeout" and time.monotonic() - started < 10, describe(verdict)
    target.write_text(CORRECT, encoding="utf-8")
    time.sleep(1.0)
    assert run_warm(exercise, target, worker, prepare=True, launched=launched).status == "passed"
    assert from_spare(launched[1]) or from_spare(launched[2]), [str(c.output) for c in launched]


def test_the_worker_warms_the_course_code_and_is_replaced_when_it_changes(tmp_path, copy_course, wait_for):
    """The worker imports the course's given code and runs its warm_worker() before it forks; once that
    code changes on disk its copy is stale: the next run goes cold, and a fresh worker takes the runs after."""
    root = copy_course(tmp_path / "course")
    given = root / "arena_course"
    given.mkdir()
    warmed = tmp_path / "warmed.txt"
    (given / "__init__.py").write_text(
        f"def warm_worker():\n    open({str(warmed)!r}, 'a').write('warmed\\n')\n", encoding="utf-8")
    (given / "helpers.py").write_text("VALUE = 1\n", encoding="utf-8")
    exercise = load_course(root).get("add_numbers")
    target = student_file(tmp_path, CORRECT)
    with Worker(root) as w:
        assert w.wait_ready(READY_TIMEOUT_S)
        assert warmed.read_text() == "warmed\n"
        first = w.proc.pid
        assert run_warm(exercise, target, w).status == "passed"
        (given / "helpers.py").write_text("VALUE = 2\n", encoding="utf-8")
        launched: list = []
        with pytest.MonkeyPatch.context() as mp:
            real_launch = runner._launch
            mp.setattr(runner, "_launch", lambda *a, **k: launched.append(real_launch(*a, **k)) or launched[-1])
            verdict = runner.run_exercise(exercise, target=target, worker=w.path)
        assert verdict.status == "passed" and not isinstance(launched[0], WarmChild), "a stale worker took the run"
        assert w.wait_ready(READY_TIMEOUT_S) and w.proc.pid != first
        assert run_warm(exercise, target, w).status == "passed"
        assert warmed.read_text() == "warmed\nwarmed\n"


# --------------------------------------------------------------------------- limits and crashes


@pytest.mark.parametrize(
    "body, timeout_s, status, in_message",
    [
        ("    while True:\n        pass\n", 2, "timeout", "time limit"),
        ("    import os\n    os._exit(3)\n", 20, "error", "exited with code 3"),
        ("    import ctypes\n    ctypes.string_at(0)\n", 20, "error", "segmentation fault"),
    ],
    ids=["time-limit", "os-exit", "segfault"],
)
def test_limits_and_crashes_give_the_same_verdict_warm_and_cold(
    exercise, worker, tmp_path, body, timeout_s, status, in_message
):
    target = student_file(tmp_path, f"def add(a, b):\n{body}")
    warm = run_warm(exercise, target, worker, timeout_s=timeout_s)
    cold = runner.run_exercise(exercise, target=target, timeout_s=timeout_s, worker=None)
    assert cold is not None
    assert (warm.status, warm.message) == (cold.status, cold.message), describe(warm) + describe(cold)
    assert warm.status == status and in_message in warm.message, describe(warm)


def test_a_run_after_a_crash_still_works(exercise, worker, tmp_path):
    """The crashes above killed children, not the worker."""
    crash = run_warm(exercise, student_file(tmp_path, "import os\nos.kill(os.getpid(), 9)\n", "kill.py"), worker)
    assert crash.status == "error" and "SIGKILL" in crash.message, describe(crash)
    verdict = run_warm(exercise, student_file(tmp_path, CORRECT), worker)
    assert verdict.status == "passed", describe(verdict)


# --------------------------------------------------------------------------- memory


def test_the_parent_froze_its_heap_before_forking(exercise, worker, tmp_path):
    report = tmp_path / "freeze.txt"
    verdict = run_warm(exercise, recording_student(tmp_path, report, "gc.get_freeze_count()"), worker)
    assert verdict.status == "passed", describe(verdict)
    assert int(report.read_text()) > 0, "gc.get_freeze_count() is 0 in the test child"


# --------------------------------------------------------------------------- life cycle


def test_the_worker_restarts_after_being_killed_and_stop_removes_it(tmp_path, copy_course, wait_for):
    # A course of its own: a Worker's socket path is keyed by course and owner pid, so a second
    # Worker on the module's course, in this same process, would share the module worker's socket.
    root = copy_course(tmp_path / "course")
    exercise = load_course(root).get("add_numbers")
    parents = tmp_path / "ppids.txt"
    target = recording_student(tmp_path, parents, "os.getppid()")
    worker = Worker(root).start()
    try:
        assert worker.wait_ready(READY_TIMEOUT_S)
        first = worker.proc.pid
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: worker.proc.poll() is not None, 10, "the killed worker to die")
        wait_for(lambda: worker.ready, READY_TIMEOUT_S, "the worker to be ready again")
        assert worker.restarts == 1 and worker.proc.pid != first
        verdict = run_warm(exercise, target, worker)
        assert verdict.status == "passed", describe(verdict)
        # The child was forked by the new worker (a run through a stale socket would have gone cold).
        assert [int(p) for p in parents.read_text().split()] == [worker.proc.pid]
    finally:
        worker.stop()
    second = worker.proc.pid
    assert worker.proc.poll() is not None
    assert not Path(f"/proc/{second}").exists()
    assert not worker.path.exists()
    assert not Path(worker_client.spares_folder(worker.path)).exists()  # the killed worker's one too


def test_a_stopped_worker_is_replaced(tmp_path, copy_course, wait_for):
    """A worker that stops answering (SIGSTOP) costs one save the reply timeout and a cold run, not
    every save: it is killed and a new one started, which then takes the runs."""
    root = copy_course(tmp_path / "course")
    exercise = load_course(root).get("add_numbers")
    target = student_file(tmp_path, CORRECT)
    worker = Worker(root).start()
    try:
        assert worker.wait_ready(READY_TIMEOUT_S)
        stopped = worker.proc.pid
        os.kill(stopped, signal.SIGSTOP)
        started = time.monotonic()
        verdict = runner.run_exercise(exercise, target=target, worker=worker.path)
        assert verdict is not None and verdict.status == "passed", describe(verdict)
        assert time.monotonic() - started < REPLY_TIMEOUT_S + 15
        assert worker.restarts == 1 and worker.proc.pid != stopped
        wait_for(lambda: not Path(f"/proc/{stopped}").exists() or not processes.alive(stopped), 10, "the old one to go")
        wait_for(lambda: worker.ready, READY_TIMEOUT_S, "the new worker")
        run_warm(exercise, target, worker)
    finally:
        worker.stop()


# --------------------------------------------------------------------------- whose worker


def test_sockets_live_in_a_directory_only_the_user_can_enter(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = worker_client._socket_dir()
    assert folder == tmp_path / f"arena-{os.getuid()}"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    # Opened up by someone, or replaced by a link: not used (no worker; runs are cold).
    folder.chmod(0o777)
    assert worker_client._socket_dir() is None
    assert worker_client.running_sockets(tmp_path) == []
    assert Worker(tmp_path).start().wait_ready(1) is False
    folder.rmdir()
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    folder.symlink_to(tmp_path / "elsewhere")
    assert worker_client._socket_dir() is None
    # A runtime directory that is private is used as it is.
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert worker_client._socket_dir() == runtime


def test_the_peer_of_a_socket_is_checked_to_be_the_same_user(monkeypatch):
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        assert worker_client.peer_uid(left) == os.getuid()
        assert worker_client.same_user(left)
        monkeypatch.setattr(worker_client, "peer_uid", lambda conn: os.getuid() + 1)
        assert not worker_client.same_user(left)


def test_a_socket_of_another_user_is_never_sent_a_run(exercise, worker, tmp_path, monkeypatch):
    """Whatever listens on the socket, if it isn't the user's, gets neither the request (with the whole
    environment of the run) nor the chance to name a pid: the run goes cold."""
    monkeypatch.setattr(worker_client, "peer_uid", lambda conn: os.getuid() + 1)
    channel = Channel.create(tmp_path / "report")
    with pytest.raises(worker_client.WorkerUnavailable, match="another user"):
        WarmChild(worker.path, ["x"], tmp_path, {"NDIF_API_KEY": "secret"}, tmp_path / "out", channel)
    assert worker_client.find_running(exercise.root) is None
    worker_client._unresponsive.clear()


def test_arena_run_uses_another_terminals_worker_unless_workers_are_off(course_root, worker, tmp_path):
    """`arena run` borrows a running watch's worker; with ARENA_NO_WORKER=1 it runs cold."""
    import subprocess
    import sys

    exercise_file = course_root / "exercises" / "1_basics" / "01_add_numbers.py"
    shipped = exercise_file.read_text(encoding="utf-8")
    parents = tmp_path / "ppid.txt"
    exercise_file.write_text(f"import os\nopen({str(parents)!r}, 'a').write(f'{{os.getppid()}}\\n')\n" + CORRECT,
                             encoding="utf-8")
    try:
        for off in ("", "1"):
            env = {k: v for k, v in os.environ.items() if not k.startswith(("ARENA_", "PYTEST_"))}
            env.update(ARENA_ROOT=str(course_root), ARENA_PROGRESS=str(tmp_path / "progress.json"), NO_COLOR="1")
            if off:
                env["ARENA_NO_WORKER"] = off
            result = subprocess.run([sys.executable, "-m", "arena_cli", "run", "add_numbers"], cwd=course_root,
                                    env=env, capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stdout + result.stderr
        warm, cold = (int(p) for p in parents.read_text().split())
        assert warm == worker.proc.pid and cold != worker.proc.pid
    finally:
        exercise_file.write_text(shipped, encoding="utf-8")
