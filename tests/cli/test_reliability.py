"""Fault injection: student code that attacks the runner, through `arena run` and through watch mode.

For every attack: a verdict of the right kind with a clear message, arena still running, and progress
unchanged except for one more attempt. The outcomes are written to docs/reliability.md by the run of
this file that tries every attack (see `write_report`), so the table there is what the suite observed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from arena_cli.course_guard import read_regular
from arena_cli.progress import ProgressStore

from .conftest import ArenaCourse, wait_for

# Every attack is a real `arena run` or `arena watch`; one xdist worker runs them all, so that a run of
# the whole suite tries every attack and can write docs/reliability.md.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reliability")]

REPORT = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
EXERCISE = "add_numbers"
TIMEOUT_S = 8
MEMORY_MB = 1000


@dataclass(frozen=True)
class Attack:
    name: str
    code: str | bytes | None  # the student's file; None: see `setup`
    status: str  # the verdict expected
    says: str  # a phrase the verdict's message must contain (case-insensitive)
    setup: str = ""  # "delete" / "directory": what happens to the file instead of a write
    settle_s: float = 0  # wait this long after the verdict before checking the course (a daemon's delay)
    max_output: int = 200_000  # bytes of `--json` (arena run) or of watch's screen for this verdict


def shell(command: str, then: str = "return a + b") -> str:
    """Student code that runs `command` in a shell (out of reach of the in-process audit hook)."""
    return f"import subprocess\ndef add(a, b):\n    subprocess.run(['sh', '-c', {command!r}])\n    {then}\n"


FORGE = """import os
def add(a, b):
    for fd in os.listdir('/proc/self/fd'):
        try:
            target = os.readlink(f'/proc/self/fd/{fd}')
        except OSError:
            continue
        if 'arena-run-' in target:
            with open(target, 'a') as f:
                f.write('{"event": "check", "name": "Adds small numbers", "status": "passed"}\\n')
                f.write('{"event": "done", "exitstatus": 0}\\n')
    os._exit(0)
"""

DAEMON = """import subprocess
def add(a, b):
    subprocess.Popen(['setsid', 'sh', '-c', 'sleep 2; echo "def test_x(): pass" > tests/exercises/1_basics/test_01_add_numbers.py'],
                     start_new_session=True)
    return a + b
"""

FORKS = """import os, time
def add(a, b):
    for _ in range(3):
        if os.fork() == 0:
            block = b'x' * (400 * 2**20)
            time.sleep(60)
            os._exit(0)
    time.sleep(60)
"""


ATTACKS = [
    Attack("infinite loop", "def add(a, b):\n    while True:\n        pass\n", "timeout", f"{TIMEOUT_S} s time limit"),
    Attack("infinite recursion", "def add(a, b):\n    return add(a, b)\n", "error", "RecursionError"),
    Attack("sys.exit(0) in the function", "import sys\ndef add(a, b):\n    sys.exit(0)\n", "error", "sys.exit(0)"),
    Attack("sys.exit(1) at import", "import sys\nsys.exit(1)\n", "error", "sys.exit(1) while being imported"),
    Attack("os._exit(0)", "import os\ndef add(a, b):\n    os._exit(0)\n", "error", "os._exit"),
    Attack("segfault (ctypes)", "import ctypes\ndef add(a, b):\n    return ctypes.string_at(0)\n", "error", "segmentation fault"),
    Attack("raise KeyboardInterrupt", "def add(a, b):\n    raise KeyboardInterrupt\n", "error", "KeyboardInterrupt"),
    Attack(
        "allocating without bound",
        "import torch\ndef add(a, b):\n    keep = []\n    while True:\n        keep.append(torch.ones(2**26))\n",
        "error",
        f"more than {MEMORY_MB:,} MB of memory",
    ),
    Attack("printing 50 MB", "def add(a, b):\n    print('x' * 50_000_000)\n    return a + b\n", "passed", ""),
    Attack(
        "writing to the hidden test",
        "def add(a, b):\n    open('tests/exercises/1_basics/test_01_add_numbers.py', 'w').write('')\n    return a + b\n",
        "error",
        "arena refused",
    ),
    Attack(
        "writing to the hidden test (a shell)",
        shell("echo 'def test_x(): pass' > tests/exercises/1_basics/test_01_add_numbers.py"),
        "error",
        "arena undid it",
    ),
    Attack(
        "writing to the solution",
        "def add(a, b):\n    open('solutions/1_basics/01_add_numbers.py', 'a').write('oops')\n    return a + b\n",
        "error",
        "arena refused",
    ),
    Attack(
        "overwriting progress.json",
        "import os\ndef add(a, b):\n    open(os.environ['ARENA_PROGRESS'], 'w').write('{ broken')\n    return a - b\n",
        "error",
        "arena refused",
    ),
    Attack("pytest.skip() instead of an answer", "import pytest\ndef add(a, b):\n    pytest.skip('not today')\n",
           "error", "skipped"),
    Attack(
        "pytest.exit() on the second call",
        "import pytest\ncalls = []\ndef add(a, b):\n    calls.append(1)\n    if len(calls) == 2:\n        pytest.exit('bye')\n"
        "    return a + b\n",
        "error",
        "stopped early (1 of 2 checks",
    ),
    Attack(
        "an exception whose str() raises",
        "class Odd(Exception):\n    def __str__(self):\n        raise ValueError('no')\ndef add(a, b):\n    raise Odd()\n",
        "error",
        "could not be shown",
    ),
    Attack("forged lines in arena's report, then os._exit(0)", FORGE, "error", "doesn't count"),
    Attack(
        "planting a conftest.py beside the hidden tests (a shell)",
        shell("printf 'def pytest_runtest_call(item):\\n    pass\\n' > tests/exercises/1_basics/conftest.py"),
        "error",
        "arena undid it",
    ),
    Attack("planting a conftest.py at the course root (a shell)", shell("echo 'import os' > conftest.py"), "error",
           "arena undid it"),
    Attack("planting a package at the course root (a shell)",
           shell("mkdir -p pytest_fake && echo 'x = 1' > pytest_fake/__init__.py"), "error", "arena undid it"),
    Attack("a daemon that rewrites the hidden test 2 s later", DAEMON, "passed", "", settle_s=3),
    Attack("deleting the chapter's solutions and tests (a shell)", shell("rm -rf solutions/1_basics tests/exercises"),
           "error", "arena undid it"),
    Attack("shutil.rmtree of the solutions", "import shutil\ndef add(a, b):\n    shutil.rmtree('solutions/1_basics')\n"
           "    return a + b\n", "error", "arena refused"),
    Attack("raising the time limit in chapter.toml (a shell)",
           shell("sed -i 's/^timeout = /timeout = 9999/' exercises/1_basics/chapter.toml"), "error", "arena undid it"),
    Attack("a hidden test replaced by a FIFO (a shell)",
           shell("rm tests/exercises/1_basics/test_03_say_hello.py && mkfifo tests/exercises/1_basics/test_03_say_hello.py"),
           "error", "arena undid it"),
    Attack("a hidden test replaced by a link to /dev/zero (a shell)",
           shell("ln -sf /dev/zero tests/exercises/1_basics/test_02_double_tensor.py"), "error", "arena undid it"),
    Attack("three forked processes of 400 MB each", FORKS, "error", f"more than {MEMORY_MB:,} MB of memory"),
    Attack("a thread left running", "import threading, time\nthreading.Thread(target=time.sleep, args=(600,)).start()\n"
           "def add(a, b):\n    return a + b\n", "passed", ""),
    Attack("an exercise file that appends to itself",
           "def add(a, b):\n    open(__file__, 'a').write('# again\\n')\n    return a + b\n", "error", "arena refused"),
    Attack("a 20 MB exception message", "def add(a, b):\n    raise ValueError('x' * 20_000_000)\n", "error",
           "ValueError", max_output=60_000),
    Attack("a UTF-8 BOM", b"\xef\xbb\xbfdef add(a, b):\n    return a + b\n", "passed", ""),
    Attack("a NUL byte", b"def add(a, b):\n    return a + b\x00\n", "error", "01_add_numbers.py:2:"),
    Attack("changing the working directory", "import os\nos.chdir('/')\ndef add(a, b):\n    os.chdir('/tmp')\n    return a + b\n", "passed", ""),
    Attack(
        "a child that outlives the test",
        "import subprocess\ndef add(a, b):\n    p = subprocess.Popen(['sleep', '60'])\n"
        "    open('grandchild.pid', 'w').write(str(p.pid))\n    return a + b\n",
        "passed",
        "",
    ),
    Attack(
        "importing the reference solution",
        "import importlib.util\n_s = importlib.util.spec_from_file_location('ref', 'solutions/1_basics/01_add_numbers.py')\n"
        "_m = importlib.util.module_from_spec(_s)\n_s.loader.exec_module(_m)\nadd = _m.add\n",
        "error",
        "imports the reference solution",
    ),
    Attack("a syntax error", "def add(a, b)\n    return a + b\n", "error", "01_add_numbers.py:1"),
    Attack("non-UTF-8 bytes", b"def add(a, b):\n    return a + b  # \xff\xfe\n", "error", "not valid UTF-8"),
    Attack("the file deleted", None, "error", "not a file", setup="delete"),
    Attack("the file replaced by a directory", None, "error", "not a file", setup="directory"),
]

# Faults that are not student code in an exercise file, and the tests that try them.
ELSEWHERE = [
    ("SIGTERM or SIGHUP to `arena run`: the test child and a process it started with setsid are ended",
     "tests/cli/test_reliability.py::test_a_signal_to_arena_run_ends_the_run_and_all_it_started"),
    ("a line appended to arena's own code, a planted .pth in site-packages, bytecode planted in __pycache__, "
     "a FIFO or a link to /dev/zero in place of a hidden test, a deleted chapter; an author's edits between "
     "runs kept", "tests/cli/test_course_guard.py"),
    ("a SIGSTOPped worker is replaced after one reply timeout", "tests/cli/test_worker.py::test_a_stopped_worker_is_replaced"),
    ("another process posing as the worker: sockets in a directory only the user can enter, the peer's uid checked",
     "tests/cli/test_worker.py::test_sockets_live_in_a_directory_only_the_user_can_enter, "
     "test_a_socket_of_another_user_is_never_sent_a_run"),
    ("skips, pytest.exit(), an internal error, a check that never reported, forged or replayed report lines",
     "tests/cli/test_progress_and_checks.py::test_only_a_complete_clean_run_passes, "
     "test_events_round_trip_through_the_channel"),
    ("`arena dev build` over an edited or symlinked student file",
     "tests/cli/test_dev_and_verify.py::test_dev_build_keeps_a_student_file_with_edits_of_its_own, "
     "test_dev_build_never_writes_through_a_symlink"),
    ("a course update over edited exercises (`arena update`)", "tests/cli/test_update.py"),
    ("progress.json or its lock a directory, a full disk, a lock held for long, a newer schema",
     "tests/cli/test_progress_file.py"),
    ("`arena verify` finding a done exercise failing", "tests/cli/test_dev_and_verify.py::"
     "test_verify_sets_a_done_exercise_that_fails_now_back_to_pending"),
    ("wrong types and non-finite limits in a manifest", "tests/cli/test_course_input.py::"
     "test_a_wrong_manifest_value_is_one_line_naming_file_table_and_key"),
]

# (attack, mode) -> (expected, observed, ok), filled by the tests, written by write_report.
RESULTS: dict[tuple[str, str], tuple[str, str, bool]] = {}


def _history(arena: ArenaCourse) -> None:
    """Progress with another exercise done, saved once by arena itself (as in real use: it keeps the
    last good copy it wrote, which is what a corrupted file is restored from)."""
    arena.set_progress({"say_hello": {"status": "done", "attempts": 2, "hints": 1}}, current=EXERCISE)
    ProgressStore(arena.progress_path).update(lambda p: None)


def _limit(arena: ArenaCourse) -> None:
    """A short time limit and a small memory limit for the attacked exercise."""
    arena.set_timeout(EXERCISE, TIMEOUT_S)
    text = arena.manifest.read_text()
    arena.manifest.write_text(text.replace(f'id = "{EXERCISE}"', f'id = "{EXERCISE}"\nmemory_mb = {MEMORY_MB}', 1))


def _apply(arena: ArenaCourse, attack: Attack) -> None:
    path = arena.root / "exercises" / "1_basics" / f"01_{EXERCISE}.py"  # may be deleted by an attack
    if path.is_dir():
        shutil.rmtree(path)
    if attack.setup == "delete":
        path.unlink(missing_ok=True)
    elif attack.setup == "directory":
        path.unlink(missing_ok=True)
        path.mkdir()
    elif isinstance(attack.code, bytes):
        path.write_bytes(attack.code)
    else:
        path.write_text(attack.code, encoding="utf-8")


def _course_files(arena: ArenaCourse) -> dict[str, bytes | None]:
    """The course's own files (tests, solutions, hints, manifests, Python files at the root), read
    without following links or blocking on a FIFO."""
    paths = [p for folder in ("tests", "solutions", "hints") for p in (arena.root / folder).rglob("*")]
    paths += list((arena.root / "exercises").glob("*/chapter.toml")) + list(arena.root.glob("*.py"))
    paths += [p for p in arena.root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return {str(p.relative_to(arena.root)): read_regular(p) for p in sorted(paths) if "__pycache__" not in p.parts}


def _grandchild_gone(arena: ArenaCourse) -> bool:
    pid_file = arena.root / "grandchild.pid"
    if not pid_file.exists():
        return True
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie is gone for our purposes (killed, not yet reaped by init).
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return state in ("Z", "X")


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_arena_run_survives(arena: ArenaCourse, attack: Attack):
    _limit(arena)
    _history(arena)
    before = _course_files(arena)
    _apply(arena, attack)
    started = time.monotonic()
    code, out, err = arena("run", EXERCISE, "--json", timeout=120)
    elapsed = time.monotonic() - started
    observed = f"exit {code}; no JSON: {err.strip().splitlines()[-1:] or out[:80]}"
    ok = False
    try:
        assert "Traceback" not in err, err
        verdict = json.loads(out)
        text = " ".join([verdict.get("message", "")] + [c.get("message", "") for c in verdict["checks"]])
        first = verdict.get("message") or next(
            (c["message"] for c in verdict["checks"] if c["status"] != "passed"), ""
        )
        first = first.replace(str(arena.progress_path.parent), "<tmp>")  # the same table on every run
        observed = verdict["status"] + (f": {first.strip().splitlines()[0][:100]}" if first.strip() else "")
        assert verdict["status"] == attack.status, observed
        assert attack.says.lower() in text.lower(), f"{attack.says!r} not in {text!r}"
        assert code == (0 if attack.status == "passed" else 1)
        assert elapsed < TIMEOUT_S + 60
        assert len(out) < attack.max_output, f"{len(out):,} bytes of --json"
        time.sleep(attack.settle_s)
        # Progress: the other exercise's completion is intact; this one gained exactly one attempt.
        progress = arena.progress()
        assert progress["exercises"]["say_hello"]["status"] == "done"
        assert progress["exercises"]["say_hello"]["attempts"] == 2
        assert progress["exercises"][EXERCISE]["attempts"] == 1
        assert progress["exercises"][EXERCISE]["status"] == ("done" if attack.status == "passed" else "pending")
        # The course's tests and solutions are as shipped, and nothing the student started lives on.
        assert _course_files(arena) == before
        wait_for(lambda: _grandchild_gone(arena), 5, "the student's child process to be killed")
        ok = True
    finally:
        RESULTS[(attack.name, "arena run")] = (f"{attack.status}" + (f": “{attack.says}”" if attack.says else ""), observed, ok)


def _unwrapped(screen: str) -> str:
    """The screen's text without the panels' borders and line breaks (a phrase may be wrapped)."""
    return re.sub(r"[\s│╭╮╰╯─]+", " ", screen)


def _notes(screen: str) -> int:
    """Watch's notes that the exercise file is gone, or not a regular file."""
    return screen.count("is gone") + screen.count("is not a regular file")


_HEADLINE = re.compile(r"^(?:✓|✗|!|⏱) Add two numbers — (passed|failed|error|timed out)", re.M)


def test_watch_survives_every_attack_in_turn(arena: ArenaCourse, tmp_path: Path):
    """One watch session (warm worker included) meets every attack, then the right answer."""
    _limit(arena)
    _history(arena)
    shipped = _course_files(arena)
    log = tmp_path / "watch.log"
    with open(log, "w") as out:
        proc = arena.popen("watch", EXERCISE, stdout=out)
    try:
        read = lambda: log.read_text(encoding="utf-8", errors="replace")  # noqa: E731
        wait_for(lambda: len(_HEADLINE.findall(read())) >= 1, 60, "the first verdict")
        for attack in ATTACKS:
            if attack.setup and not (arena.root / "exercises/1_basics/01_add_numbers.py").is_file():
                # The file is already gone: bring one back first, so that this attack is noticed anew.
                seen = len(_HEADLINE.findall(read()))
                _apply(arena, Attack("a wrong answer", "def add(a, b):\n    return 0\n", "failed", ""))
                wait_for(lambda: len(_HEADLINE.findall(read())) > seen, 60, "a verdict for the restored file")
            seen = len(_HEADLINE.findall(read()))
            gone_notes = _notes(read())
            _apply(arena, attack)
            if attack.setup:
                wait_for(lambda: _notes(read()) > gone_notes, 30, f"watch to notice: {attack.name}")
                observed, ok = "“is gone” note; no run", proc.poll() is None
            else:
                wait_for(lambda: len(_HEADLINE.findall(read())) > seen, 60, f"a verdict for: {attack.name}")
                time.sleep(0.3)  # let the verdict's panel finish printing
                status = _HEADLINE.findall(read())[-1].replace("timed out", "timeout")
                tail = read()[list(_HEADLINE.finditer(read()))[seen].start():]  # this attack's verdict
                observed = status
                runs = read().count("Running ")
                time.sleep(max(attack.settle_s, 1.0))  # no rerun follows on its own (the file is as saved)
                problems = [
                    what
                    for what, bad in [
                        (f"status {status}", status != attack.status),
                        (f"{attack.says!r} not said", attack.says.lower() not in _unwrapped(tail).lower()),
                        ("watch ended", proc.poll() is not None),
                        ("it ran again by itself", read().count("Running ") != runs),
                        (f"{len(tail.encode()):,} bytes on the screen", len(tail.encode()) >= attack.max_output),
                    ]
                    if bad
                ]
                ok = not problems
                observed += "".join(f"; {p}" for p in problems)
                assert _course_files(arena) == shipped, f"{attack.name}: the course's files changed"
            expected = "a note, no crash" if attack.setup else attack.status
            RESULTS[(attack.name, "watch")] = (expected, observed, ok)
            assert ok, f"{attack.name}: expected {expected}, saw {observed}\n{read()[-3000:]}"
        seen = len(_HEADLINE.findall(read()))
        _apply(arena, Attack("the right answer", arena.correct[EXERCISE], "passed", ""))
        wait_for(lambda: len(_HEADLINE.findall(read())) > seen, 60, "the final verdict")
        assert _HEADLINE.findall(read())[-1] == "passed"
        progress = arena.progress()
        assert progress["exercises"][EXERCISE]["status"] == "done"
        assert progress["exercises"]["say_hello"]["status"] == "done"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert "Stopped watching" in read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module", autouse=True)
def write_report():
    """After the module: if every attack was tried in both modes, write the table to docs/."""
    yield
    if len(RESULTS) != 2 * len(ATTACKS):
        return  # a partial run (-k, a failure that stopped watch early) doesn't overwrite the report
    lines = [
        "# Reliability: what the fault-injection suite tried",
        "",
        "Generated by `tests/cli/test_reliability.py` (part of the README's test command; alone:",
        "`python -m pytest tests/cli/test_reliability.py`, about 2 minutes) on its last full run. Each attack",
        f"is student code in an exercise file (time limit {TIMEOUT_S} s, memory limit {MEMORY_MB:,} MB), run once",
        "through `arena run --json` and once in a single `arena watch` session that meets them all in turn. In",
        "every case arena kept running, the course's own files (tests, solutions, hints, manifests, Python",
        "files at the root) were as shipped afterwards, nothing the student's code started was still running,",
        "progress gained only an attempt (another exercise's completion was kept), the output stayed small,",
        "and watch did not run again by itself. \"arena refused\" is the in-process audit hook (a Python write",
        "to the course fails at once); \"arena undid it\" is the snapshot taken before each run (what a shell",
        "or any other process changed is put back after the run, and what was there is kept in",
        "`.arena/reverted/`). Grading happens inside the student's process: a determined student can still",
        "fool it (see the README); these rows are the ways it can't be fooled by accident or by casual tampering.",
        "",
        "| attack | mode | expected | observed | ok |",
        "| --- | --- | --- | --- | --- |",
    ]
    for attack in ATTACKS:
        for mode in ("arena run", "watch"):
            expected, observed, ok = RESULTS[(attack.name, mode)]
            observed = observed.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {attack.name} | {mode} | {expected} | {observed} | {'✓' if ok else '✗'} |")
    lines += ["", "## Covered by other tests of the suite", ""]
    lines += [f"- {what}: `{where}`" for what, where in ELSEWHERE]
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _test_children(arena: ArenaCourse) -> list[int]:
    """Test children (cold: `python -m arena_cli.child`) still running in this course."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if b"arena_cli.child" in cmdline and cwd == str(arena.root):
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_to_arena_run_ends_the_run_and_all_it_started(arena: ArenaCourse, tmp_path: Path, sig):
    """Closing the terminal (SIGHUP) or `kill` (SIGTERM) while a test runs: the test child and a process
    it started in a session of its own are ended too, and progress is intact."""
    _history(arena)
    arena.write(
        EXERCISE,
        "import subprocess, time\ndef add(a, b):\n    p = subprocess.Popen(['setsid', 'sleep', '120'])\n"
        "    open('grandchild.pid', 'w').write(str(p.pid))\n    time.sleep(120)\n",
    )
    with open(tmp_path / "out.txt", "w") as out:
        proc = arena.popen("run", EXERCISE, stdout=out)
    try:
        wait_for(lambda: (arena.root / "grandchild.pid").exists(), 60, "the student's code to start its process")
        time.sleep(0.2)
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == 130
        wait_for(lambda: _grandchild_gone(arena), 5, "the process the student's code started to end")
        wait_for(lambda: not _test_children(arena), 5, "the test child to end")
        assert arena.progress()["exercises"]["say_hello"]["status"] == "done"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
