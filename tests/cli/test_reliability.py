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

from arena_cli.progress import ProgressStore

from .conftest import ArenaCourse, wait_for

pytestmark = pytest.mark.slow  # every attack is a real `arena run` or `arena watch`

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
        "arena put it back",
    ),
    Attack(
        "writing to the solution",
        "def add(a, b):\n    open('solutions/1_basics/01_add_numbers.py', 'a').write('oops')\n    return a + b\n",
        "error",
        "arena put it back",
    ),
    Attack(
        "overwriting progress.json",
        "import os\ndef add(a, b):\n    open(os.environ['ARENA_PROGRESS'], 'w').write('{ broken')\n    return a - b\n",
        "failed",
        "",
    ),
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


def _course_files(arena: ArenaCourse) -> dict[str, bytes]:
    return {
        str(p.relative_to(arena.root)): p.read_bytes()
        for p in sorted((arena.root / "tests").rglob("*.py")) + sorted((arena.root / "solutions").rglob("*.py"))
    }


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
        observed = verdict["status"] + (f": {first.strip().splitlines()[0][:100]}" if first.strip() else "")
        assert verdict["status"] == attack.status, observed
        assert attack.says.lower() in text.lower(), f"{attack.says!r} not in {text!r}"
        assert code == (0 if attack.status == "passed" else 1)
        assert elapsed < TIMEOUT_S + 60
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


_HEADLINE = re.compile(r"^(?:✓|✗|!|⏱) Add two numbers — (passed|failed|error|timed out)", re.M)


def test_watch_survives_every_attack_in_turn(arena: ArenaCourse, tmp_path: Path):
    """One watch session (warm worker included) meets every attack, then the right answer."""
    _limit(arena)
    _history(arena)
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
            gone_notes = read().count("is gone")
            _apply(arena, attack)
            if attack.setup:
                wait_for(lambda: read().count("is gone") > gone_notes, 30, f"watch to notice: {attack.name}")
                observed, ok = "“is gone” note; no run", proc.poll() is None
            else:
                wait_for(lambda: len(_HEADLINE.findall(read())) > seen, 60, f"a verdict for: {attack.name}")
                time.sleep(0.3)  # let the verdict's panel finish printing
                status = _HEADLINE.findall(read())[-1].replace("timed out", "timeout")
                tail = read()[list(_HEADLINE.finditer(read()))[seen].start():]  # this attack's verdict
                observed = status
                ok = status == attack.status and attack.says.lower() in tail.lower() and proc.poll() is None
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
        "Generated by `tests/cli/test_reliability.py` (part of the README's test command) on its last full",
        f"run. Each attack is student code in an exercise file (time limit {TIMEOUT_S} s, memory limit "
        f"{MEMORY_MB:,} MB), run once",
        "through `arena run` and once in a single `arena watch` session that meets them all in turn. In every",
        "case arena kept running, the course's tests and solutions were unchanged, and progress gained only an",
        "attempt (another exercise's completion was kept).",
        "",
        "| attack | mode | expected | observed | ok |",
        "| --- | --- | --- | --- | --- |",
    ]
    for attack in ATTACKS:
        for mode in ("arena run", "watch"):
            expected, observed, ok = RESULTS[(attack.name, mode)]
            observed = observed.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {attack.name} | {mode} | {expected} | {observed} | {'✓' if ok else '✗'} |")
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")
