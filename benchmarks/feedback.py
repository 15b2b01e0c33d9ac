"""How fast does arena answer, as the student feels it? Prints markdown tables; run from anywhere:

    .venv/bin/python benchmarks/feedback.py            (about 4 minutes on 2 idle cores)
    .venv/bin/python benchmarks/feedback.py --quick    (fewer saves, no `arena verify`)

1. Save -> verdict through `arena watch ID`, run as a subprocess in a pseudo-terminal on a temporary
   copy of the real course (its progress file in that copy: the repo's progress is not touched), after
   its warm worker is up. The student's file is saved as editors save it: a temp file renamed over it
   (VSCode, vim, JetBrains) or written in place (truncate, then write), alternately. Each save is timed
   from just before the write to (a) the verdict recorded in progress.json (the attempt counted: a
   machine-readable signal) and (b) the verdict's headline on the terminal. Three answers per exercise:
   the master's code (right), the untouched stub (NotImplementedError), and a wrong answer that the
   hidden test diagnoses (its diagnoses computed on every failing run). One exercise per library:
   torch, TransformerLens, nnsight. In the same run, the cold `pytest` of the same hidden test (a fresh
   interpreter: what a save would cost without arena's warm worker).
2. `arena next`, `list`, `hint`, `progress` in a pseudo-terminal, as a student types them: to the
   command's exit (`list`, interactive in a terminal: to its first screen).
3. `arena verify` on the real course (wall time, peak memory of the process tree).
4. The warm worker's own resident memory over 100 runs (the benchmark course, benchmarks/fixture_course).
5. What the course guard adds to every run.

Targets (issue 17): save -> verdict <= 0.15 s (median) for every answer, and >= 20x faster than cold
pytest; each command <= 0.15 s. The figures move with the machine's load: the header gives it.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

from arena_cli.course import Course, Exercise, load_course
from arena_cli.markers import solution_source
from arena_cli.runner import run_exercise
from arena_cli.worker_client import Worker

HERE = Path(__file__).resolve().parent
BENCH_COURSE = HERE / "fixture_course"
REPO = HERE.parent
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "results", ".arena", "__pycache__", "progress.json*")

# One exercise per library; a wrong answer = (text of the master, what the student wrote instead).
EXERCISES = {
    "toy_model_forward": ("torch", ("return F.relu(out + self.b_final)", "return out + self.b_final")),
    "ioi_logit_diff": ("TransformerLens", ("diff if per_prompt else diff.mean()", "diff if per_prompt else diff.sum()")),
    "trace_and_save": ("nnsight", ("logits.argmax(dim=-1).save()", "logits.max(dim=-1).values.save()")),
}
EXPECTED = {"right": "passed", "stub": "failed", "wrong": "failed"}
HEADLINE = re.compile(rb"\xe2\x80\x94 (passed|failed|error|timed out)\b")  # "— passed": render.verdict_view
LIST_SCREEN = re.compile(rb"Exercises (?:\x1b\[[0-9;]*m)*\d+ of \d+")  # the interactive list's first line (list_screen.py)
SAVE_TARGET_S = 0.15
RATIO_TARGET = 20.0
COMMAND_TARGET_S = 0.15


def p50(values: list[float]) -> float:
    return statistics.median(values)


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else values[0]


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f} s"


def fmt_mb(kib: float) -> str:
    return f"{kib / 1024:.0f} MB"


def ok(passed: bool) -> str:
    return "ok" if passed else "MISSED"


def arena_command() -> tuple[list[str], str]:
    """How to start arena: the installed `arena` script when it is this tree's entry point, else
    `python -m arena_cli` (same code; an older install's script predates entry.py)."""
    script = Path(sys.executable).with_name("arena")
    if script.exists() and "arena_cli.entry" in script.read_text(errors="replace"):
        return [str(script)], "arena"
    return [sys.executable, "-m", "arena_cli"], "python -m arena_cli"


def course_copy(tmp: Path) -> Path:
    root = tmp / "course"
    shutil.copytree(REPO, root, ignore=COPY_IGNORE)
    return root


def student_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update(ARENA_ROOT=str(root), ARENA_PROGRESS=str(root / "progress.json"), NO_COLOR="1", TERM="xterm-256color")
    env.setdefault("PYTHONPATH", str(REPO))  # this tree's arena, even when the venv's install points elsewhere
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a student's shell caches byte code (arena's test child doesn't)
    return env


# --------------------------------------------------------------------------- a terminal


class Terminal:
    """A command in a pseudo-terminal (120x50): everything it prints, with when it arrived."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True)
        os.close(slave)
        self.chunks: list[tuple[float, bytes]] = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.chunks.append((time.perf_counter(), data))

    def first_match(self, pattern: re.Pattern, after: float) -> float | None:
        """When `pattern` first appeared in the output that arrived after `after` (chunks joined, so a
        match split between two reads is found at the second)."""
        with self.lock:
            chunks = [(t, d) for t, d in self.chunks if t >= after]
        text = b""
        for t, data in chunks:
            text += data
            if pattern.search(text[-len(data) - 200:]):
                return t
        return None

    def text_after(self, after: float) -> bytes:
        with self.lock:
            return b"".join(d for t, d in self.chunks if t >= after)

    def wait_exit(self, timeout: float) -> float:
        """When the command exited. A blocking wait, so the time is exact: `Popen.wait(timeout=...)`
        polls with sleeps of up to 50 ms, which rounded every command's time up to the next poll."""
        killer = threading.Timer(timeout, lambda: os.killpg(self.proc.pid, signal.SIGKILL))
        killer.start()
        try:
            self.proc.wait()
        finally:
            killer.cancel()
        if self.proc.returncode == -signal.SIGKILL:
            raise SystemExit(f"benchmark: {self.proc.args} did not exit within {timeout:g} s")
        return time.perf_counter()

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        os.close(self.master)


def wait_until(condition, timeout: float, what: str, interval: float = 0.001):
    deadline = time.perf_counter() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.perf_counter() > deadline:
            raise SystemExit(f"benchmark: timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------- 1. save -> verdict


def attempts(progress: Path, exercise_id: str) -> int:
    try:
        return json.loads(progress.read_text())["exercises"][exercise_id]["attempts"]
    except (OSError, ValueError, KeyError):
        return 0


def save(path: Path, text: str, by_rename: bool) -> None:
    if by_rename:
        tmp = path.with_name(f".{path.name}.swp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    else:
        path.write_text(text, encoding="utf-8")


def worker_socket(watch_pid: int) -> Path | None:
    """The socket of the worker `arena watch` started, once it listens."""
    for pid in process_tree(watch_pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"arena_cli.worker" in argv:
            sock = Path(os.fsdecode(argv[argv.index(b"arena_cli.worker") + 1]))
            return sock if sock.exists() else None
    return None


def answers(ex: Exercise) -> dict[str, str]:
    master = solution_source(ex.solution_path.read_text(encoding="utf-8"))
    old, new = EXERCISES[ex.id][1]
    assert old in master, f"{ex.id}: the wrong answer's edit no longer applies to its master"
    return {"right": master, "stub": ex.exercise_path.read_text(encoding="utf-8"), "wrong": master.replace(old, new)}


def watch_saves(root: Path, ex: Exercise, saves: int, arena: list[str]) -> dict[str, dict[str, list[float]]]:
    """Save each answer `saves` times (alternately by rename and in place) under `arena watch`; the
    seconds from the save to the verdict recorded and to the verdict on screen, per answer."""
    progress = root / "progress.json"
    texts = answers(ex)
    term = Terminal([*arena, "watch", ex.id], root, student_env(root))
    out: dict[str, dict[str, list[float]]] = {k: {"recorded": [], "screen": [], "rename": [], "in place": []}
                                              for k in texts}
    try:
        wait_until(lambda: term.first_match(HEADLINE, 0), 300, "the first verdict")
        wait_until(lambda: worker_socket(term.proc.pid), 300, "the warm worker", interval=0.05)
        plan = [("right", True), ("stub", False)]  # the first warm runs: not counted
        plan += [(kind, i % 2 == 0) for i in range(saves) for kind in texts]
        for n, (kind, by_rename) in enumerate(plan):
            before = attempts(progress, ex.id)
            text = f"{texts[kind]}\n# save {n}\n"
            time.sleep(0.3)  # the previous run's screen is drawn; nothing is running
            start = time.perf_counter()
            save(ex.exercise_path, text, by_rename)
            wait_until(lambda: attempts(progress, ex.id) > before, 120, f"{ex.id}'s verdict to be recorded")
            recorded = time.perf_counter() - start
            shown = wait_until(lambda: term.first_match(HEADLINE, start), 60, f"{ex.id}'s verdict on screen")
            status = HEADLINE.search(term.text_after(start)).group(1).decode()
            if status != EXPECTED[kind]:
                raise SystemExit(f"{ex.id}: the {kind} answer's verdict was {status}, not {EXPECTED[kind]}:\n"
                                 + term.text_after(start).decode(errors="replace")[-3000:])
            if n >= 2:
                out[kind]["recorded"].append(recorded)
                out[kind]["screen"].append(shown - start)
                out[kind]["rename" if by_rename else "in place"].append(recorded)
    finally:
        term.stop()
    return out


def cold_pytest(root: Path, ex: Exercise, runs: int) -> list[float]:
    """A fresh `python -m pytest` of the hidden test (against the reference), as run without arena."""
    times = []
    args = [sys.executable, "-m", "pytest", str(ex.test_path), "-q", "-p", "no:cacheprovider", "-o", "addopts=",
            "-p", "no:xdist"]
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(args, cwd=root, env=student_env(root), capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"cold pytest of {ex.id} failed:\n{proc.stdout[-2000:]}")
    return times


def feedback(saves: int, cold_runs: int, arena: list[str]) -> list[dict]:
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="arena-bench-"))
    try:
        root = course_copy(tmp)
        course = load_course(root)
        for exercise_id, (library, _) in EXERCISES.items():
            ex = course.get(exercise_id)
            print(f"  {exercise_id} ({library}) ...", file=sys.stderr, flush=True)
            times = watch_saves(root, ex, saves, arena)
            rows.append({"id": exercise_id, "library": library, "saves": times,
                         "cold": cold_pytest(root, ex, cold_runs)})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


# --------------------------------------------------------------------------- 2. commands


def commands(runs: int, arena: list[str]) -> dict[str, list[float]]:
    """Seconds from start to exit of each command in a terminal (`list`: to its first screen, then q)."""
    tmp = Path(tempfile.mkdtemp(prefix="arena-bench-cmd-"))
    try:
        root = course_copy(tmp)
        env = student_env(root)
        times: dict[str, list[float]] = {"next": [], "list": [], "hint": [], "progress": []}
        for n in range(runs + 1):  # the first round fills the page cache: not counted
            for name in times:
                start = time.perf_counter()
                term = Terminal([*arena, name], root, env)
                if name == "list":
                    shown = wait_until(lambda: term.first_match(LIST_SCREEN, 0), 60, "the list's first screen")
                    term.send(b"q")
                    elapsed = shown - start
                else:
                    elapsed = term.wait_exit(60) - start
                term.wait_exit(60)
                term.reader.join(timeout=5)
                if term.proc.returncode != 0 or b"Traceback" in term.text_after(0):
                    raise SystemExit(f"arena {name} failed:\n{term.text_after(0).decode(errors='replace')}")
                term.stop()
                if n:
                    times[name].append(elapsed)
        return times
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- 3. verify


def process_tree(root_pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def vm_rss(pid: int) -> int:
    """VmRSS of one process, KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def tree_memory(pids: list[int]) -> tuple[int, int]:
    """(sum of VmRSS, sum of Pss) over these processes, KiB; processes that vanish are skipped."""
    rss = pss = 0
    for pid in pids:
        try:
            rss += vm_rss(pid)
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                    break
        except (OSError, RuntimeError):
            continue
    return rss, pss


_WRAPPER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


def verify(arena: list[str]) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="arena-bench-verify-"))
    try:
        root = course_copy(tmp)
        n_exercises = len(load_course(root).exercises)
        peak = {"rss": 0, "pss": 0}
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", _WRAPPER, *arena, "verify", "--json"], cwd=root,
                                env=student_env(root), stdout=subprocess.PIPE, text=True)
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                rss, pss = tree_memory(process_tree(proc.pid))
                peak["rss"], peak["pss"] = max(peak["rss"], rss), max(peak["pss"], pss)
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, _ = proc.communicate()
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        maxrss, code = (int(x) for x in out.split())
        return {"wall": wall, "exercises": n_exercises, "exit": code, "maxrss": maxrss, **peak}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- 4. & 5. worker memory, guard


def worker_memory(n: int = 100) -> dict[str, int]:
    """The worker's VmRSS after warm-up, and after `n` runs cycling over the benchmark course."""
    tmp = Path(tempfile.mkdtemp(prefix="arena-bench-mem-"))
    try:
        root = tmp / "course"
        shutil.copytree(BENCH_COURSE, root, ignore=shutil.ignore_patterns("__pycache__"))
        course: Course = load_course(root)
        sources = {ex.id: solution_source(ex.solution_path.read_text(encoding="utf-8")) for ex in course.exercises}
        with Worker(root) as worker:
            if not worker.wait_ready():
                raise SystemExit("the warm worker did not start")
            pid = worker.proc.pid
            checkpoints = {"after warm-up (before any run)": vm_rss(pid)}
            exercises = list(course.exercises)
            for i in range(n):
                ex = exercises[i % len(exercises)]
                ex.exercise_path.write_text(f"{sources[ex.id]}\n# edit {i}\n", encoding="utf-8")
                verdict = run_exercise(ex, worker=worker.path)
                if verdict is None or not verdict.passed:
                    raise SystemExit(f"{ex.id}: the reference did not pass: {verdict and verdict.to_json()}")
                if (i + 1) in (n // 4, n // 2, n):
                    checkpoints[f"after {i + 1} runs"] = vm_rss(pid)
            assert worker.proc.pid == pid, "the worker restarted during the memory check"
        return checkpoints
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def guard_cost(runs: int) -> dict[str, list[float]]:
    """Seconds of the course guard's first snapshot (fresh cache) and of a cached snapshot + restore."""
    from arena_cli import course_guard

    out: dict[str, list[float]] = {"first snapshot": [], "snapshot + restore": []}
    for _ in range(runs):
        course_guard._cache.clear()
        guard = course_guard.CourseGuard(REPO)
        t = time.perf_counter()
        before = guard.snapshot()
        out["first snapshot"].append(time.perf_counter() - t)
        t = time.perf_counter()
        guard.restore(guard.snapshot())
        guard.restore(before)
        out["snapshot + restore"].append((time.perf_counter() - t) / 2)
    out["files watched"] = [float(len(before))]
    return out


# --------------------------------------------------------------------------- report


def markdown(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + " --- |" * len(header),
                      *("| " + " | ".join(r) + " |" for r in rows)])


def report_feedback(rows: list[dict], saves: int, cold_runs: int) -> bool:
    print(f"\n### Save -> verdict through `arena watch` (warm worker; {saves} saves per answer, half by rename, "
          f"half in place; cold pytest: {cold_runs} runs)\n")
    lines, all_ok = [], True
    for row in rows:
        cold = p50(row["cold"])
        slowest = max(p50(t["recorded"]) for t in row["saves"].values())
        for kind, t in row["saves"].items():
            passed = p50(t["recorded"]) <= SAVE_TARGET_S
            all_ok &= passed
            lines.append([f"`{row['id']}` ({row['library']})", kind, fmt_s(p50(t["recorded"])),
                          fmt_s(p90(t["recorded"])), fmt_s(p50(t["screen"])), fmt_s(p90(t["screen"])), ok(passed)])
        ratio_ok = cold / slowest >= RATIO_TARGET
        all_ok &= ratio_ok
        lines.append([f"`{row['id']}` ({row['library']})", "cold `pytest`", fmt_s(cold), fmt_s(p90(row["cold"])),
                      "", "", f"{cold / slowest:.0f}x the slowest answer ({ok(ratio_ok)})"])
    print(markdown(["exercise", "answer", "recorded p50", "recorded p90", "on screen p50", "on screen p90", "target"],
                   lines))
    by_method = {m: [x for row in rows for t in row["saves"].values() for x in t[m]] for m in ("rename", "in place")}
    print("\nBy how the file was saved (recorded, all answers): "
          + ", ".join(f"{m}: p50 {fmt_s(p50(v))}, p90 {fmt_s(p90(v))}" for m, v in by_method.items()))
    return all_ok


def report_commands(times: dict[str, list[float]], runs: int, how: str) -> bool:
    print(f"\n### Commands that run no test (`{how}` in a terminal; {runs} runs; `list`: to its first screen)\n")
    lines, all_ok = [], True
    for name, t in times.items():
        passed = p50(t) <= COMMAND_TARGET_S
        all_ok &= passed
        lines.append([f"`arena {name}`", fmt_s(p50(t)), fmt_s(p90(t)), ok(passed)])
    print(markdown(["command", "p50", "p90", "target"], lines))
    return all_ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saves", type=int, default=8, help="saves per answer and exercise (half by rename)")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold pytest runs per exercise")
    parser.add_argument("--runs", type=int, default=9, help="runs per command")
    parser.add_argument("--quick", action="store_true", help="4 saves, 5 command runs, no `arena verify`")
    parser.add_argument("--json", action="store_true", help="also print the raw numbers as JSON")
    args = parser.parse_args()
    if args.quick:
        args.saves, args.runs, args.cold_runs = 4, 5, 2
    arena, how = arena_command()

    started = os.getloadavg()
    print(f"arena feedback benchmark on {os.uname().nodename}: {os.cpu_count()} CPUs, python {sys.version.split()[0]}, "
          f"load average {started[0]:.2f} / {started[1]:.2f} / {started[2]:.2f} (1 / 5 / 15 min) at the start",
          flush=True)
    rows = feedback(args.saves, args.cold_runs, arena)
    cmd_times = commands(args.runs, arena)
    ver = None if args.quick else verify(arena)
    memory = worker_memory()
    guard = guard_cost(args.runs)

    all_ok = report_feedback(rows, args.saves, args.cold_runs)
    all_ok &= report_commands(cmd_times, args.runs, how)
    if ver is not None:
        print(f"\n### `arena verify` on the real course ({ver['exercises']} exercises; exit code {ver['exit']}: the "
              "shipped student files fail, as they should)\n")
        print(markdown(["measure", "value"], [
            ["wall time (its warm worker's start-up included)", fmt_s(ver["wall"])],
            ["peak sum of VmRSS over the process tree (/proc, 20 ms)", fmt_mb(ver["rss"])],
            ["peak sum of Pss over the process tree (/proc, 20 ms)", fmt_mb(ver["pss"])],
            ["largest single process (getrusage maxrss)", fmt_mb(ver["maxrss"])],
        ]))
    print("\n### The warm worker's own VmRSS (benchmark course)\n")
    ready = next(iter(memory.values()))
    print(markdown(["when", "VmRSS", "growth"],
                   [[k, fmt_mb(v), f"{(v - ready) / 1024:+.0f} MB"] for k, v in memory.items()]))
    files = int(guard.pop("files watched")[0])
    print(f"\n### The course guard's cost per run ({files} files and folders of the real course)\n")
    print(markdown(["step", "p50"], [[k, f"{p50(v) * 1000:.1f} ms"] for k, v in guard.items()]))

    ended = os.getloadavg()
    print(f"\nLoad average at the end: {ended[0]:.2f} / {ended[1]:.2f} / {ended[2]:.2f}. Targets "
          f"{'all met' if all_ok else 'NOT all met'}. Reproduce: {sys.executable} "
          f"{Path(__file__).resolve().relative_to(REPO)} {' '.join(sys.argv[1:])}".rstrip() + f"  (from {REPO})")
    if args.json:
        print(json.dumps({"feedback": rows, "commands": cmd_times, "verify": ver, "worker_rss_kib": memory,
                          "guard_s": guard}, indent=2))
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
