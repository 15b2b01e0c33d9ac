"""How fast does arena answer, on this machine? Prints a table; run from anywhere:

    /work/venv/bin/python benchmarks/feedback.py            (about 1.5 minutes on 2 cores)
    /work/venv/bin/python benchmarks/feedback.py --quick    (fewer runs, about 1.3 minutes)

What it measures (medians, so that a noisy neighbour shifts them less than means):

1. Save-to-verdict latency for each exercise of the benchmark course (benchmarks/fixture_course: pure
   torch, TransformerLens 4, nnsight 0.8), in a temp copy of that course: the student's file is written
   (with the reference solution's code) and `run_exercise` is called at once; the time is from before the
   write to the verdict in hand. Warm = through a warm worker (`Worker`), cold = a fresh `python -m pytest`.
2. Wall time of `arena next`, `arena list`, `arena hint` (the installed entry point next to
   sys.executable), on the real course at the repo root, with ARENA_PROGRESS in a temp folder.
3. `arena verify` on the real course: wall time (including the worker's start-up when verify starts one:
   it does from WARM_MIN_RUNS exercises on, see arena_cli/batch.py) and peak memory, three ways:
   the peak over time of the sum of VmRSS and of Pss over the process tree, sampled from /proc every
   20 ms (RSS counts pages the forked children share with the worker once per process, so it
   over-counts; Pss splits shared pages between their users), and getrusage(RUSAGE_CHILDREN).ru_maxrss
   of a wrapper process (the largest single process in the tree, not a sum).
4. The warm worker's own VmRSS (/proc/<pid>/status; the worker process itself, not its children) after
   warm-up and after 100 runs.
5. What the course guard (arena_cli/course_guard.py) adds to every run, on the real course: the first
   snapshot (files read; `arena run` pays it once), and a snapshot + restore once the bytes are cached
   (every later run in watch, verify, dev check).

Targets: warm <= 0.25 s and >= 20x faster than cold for each kind; next/list/hint <= 0.25 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from arena_cli.course import Exercise, load_course
from arena_cli.markers import solution_source
from arena_cli.runner import run_exercise
from arena_cli.worker_client import Worker

HERE = Path(__file__).resolve().parent
BENCH_COURSE = HERE / "fixture_course"
REPO = HERE.parent
ARENA = Path(sys.executable).with_name("arena")
KIND = {
    "attention_pattern": "pure torch",
    "tl_head_pattern": "TransformerLens 4 (TransformerBridge)",
    "nnsight_hidden_state": "nnsight 0.8 (TransformersModel)",
}
WARM_TARGET_S = 0.25
RATIO_TARGET = 20.0
COMMAND_TARGET_S = 0.25


def median(values: list[float]) -> float:
    return statistics.median(values)


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f} s"


def fmt_mb(kib: float) -> str:
    return f"{kib / 1024:.0f} MB"


def ok(passed: bool) -> str:
    return "ok" if passed else "MISSED"


# --------------------------------------------------------------------------- 1. save-to-verdict


def save_and_run(ex: Exercise, source: str, worker: Path | None, n: int) -> float:
    """Write the student's file (a fresh edit each time) and run its test; seconds from write to verdict."""
    text = f"{source}\n# edit {n}\n"
    start = time.perf_counter()
    ex.exercise_path.write_text(text, encoding="utf-8")
    verdict = run_exercise(ex, worker=worker)
    elapsed = time.perf_counter() - start
    if verdict is None or not verdict.passed:
        raise SystemExit(f"{ex.id}: the reference solution did not pass: {verdict and verdict.to_json()}")
    return elapsed


def latency(runs: int, cold_runs: int) -> tuple[list[dict], float, dict]:
    """Warm and cold save-to-verdict times per exercise, the worker's start-up time and its memory."""
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="arena-bench-"))
    try:
        root = tmp / "course"
        shutil.copytree(BENCH_COURSE, root, ignore=shutil.ignore_patterns("__pycache__"))
        course = load_course(root)
        sources = {ex.id: solution_source(ex.solution_path.read_text(encoding="utf-8")) for ex in course.exercises}
        with Worker(root) as worker:
            t = time.perf_counter()
            if not worker.wait_ready():
                raise SystemExit("the warm worker did not start")
            warm_up_s = time.perf_counter() - t
            rss_ready = vm_rss(worker.proc.pid)
            for ex in course.exercises:
                save_and_run(ex, sources[ex.id], worker.path, -1)  # first run after start-up: not counted
                warm = [save_and_run(ex, sources[ex.id], worker.path, i) for i in range(runs)]
                rows.append({"id": ex.id, "warm": warm})
            memory = worker_memory(worker, course, sources, rss_ready)
        for row, ex in zip(rows, course.exercises):
            row["cold"] = [save_and_run(ex, sources[ex.id], None, i) for i in range(cold_runs)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows, warm_up_s, memory


# --------------------------------------------------------------------------- 4. worker memory


def vm_rss(pid: int) -> int:
    """VmRSS of one process, KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def worker_memory(worker: Worker, course, sources: dict[str, str], rss_ready: int, n: int = 100) -> dict:
    """The worker's VmRSS after warm-up, and after `n` more runs cycling over the exercises."""
    pid = worker.proc.pid
    checkpoints = {"after warm-up (before any run)": rss_ready}
    exercises = list(course.exercises)
    for i in range(n):
        ex = exercises[i % len(exercises)]
        save_and_run(ex, sources[ex.id], worker.path, 1000 + i)
        if (i + 1) in (n // 4, n // 2, n):
            checkpoints[f"after {i + 1} more runs"] = vm_rss(pid)
    assert worker.proc.pid == pid, "the worker restarted during the memory check"
    return checkpoints


# --------------------------------------------------------------------------- 2. & 3. commands


def command_env(progress: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update(ARENA_ROOT=str(REPO), ARENA_PROGRESS=str(progress), NO_COLOR="1", COLUMNS="100")
    return env


def time_command(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([str(ARENA), *args], cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0 or "Traceback" in proc.stderr:
        raise SystemExit(f"arena {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def commands(runs: int) -> dict[str, list[float]]:
    tmp = Path(tempfile.mkdtemp(prefix="arena-bench-cmd-"))
    try:
        env = command_env(tmp / "progress.json")
        times: dict[str, list[float]] = {"next": [], "list": [], "hint": []}
        time_command(["next"], env)  # page cache warm, progress file written: not counted
        for _ in range(runs):
            for name in times:
                times[name].append(time_command([name], env))
        return times
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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


def is_worker(pid: int) -> bool:
    try:
        return b"arena_cli.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


_WRAPPER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


def verify() -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="arena-bench-verify-"))
    try:
        env = command_env(tmp / "progress.json")
        n_exercises = len(load_course(REPO).exercises)
        peak = {"rss": 0, "pss": 0, "worker": False}
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRAPPER, str(ARENA), "verify", "--json"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                tree = process_tree(proc.pid)
                rss, pss = tree_memory(tree)
                peak["rss"], peak["pss"] = max(peak["rss"], rss), max(peak["pss"], pss)
                peak["worker"] = peak["worker"] or any(is_worker(pid) for pid in tree)
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


# --------------------------------------------------------------------------- report


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


def table(header: list[str], rows: list[list[str]]) -> str:
    """Text columns left-aligned, numbers (cells starting with a digit or a sign) right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = [all(r[i][:1].isdigit() or r[i][:1] in "+-" for r in rows) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric)).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="warm runs per exercise and runs per command")
    parser.add_argument("--cold-runs", type=int, default=5, help="cold runs per exercise")
    parser.add_argument("--quick", action="store_true", help="5 runs of everything")
    parser.add_argument("--json", action="store_true", help="also print the raw numbers as JSON")
    args = parser.parse_args()
    if args.quick:
        args.runs = args.cold_runs = 5
    if min(args.runs, args.cold_runs) < 5:
        parser.error("medians need at least 5 runs")

    print(f"arena feedback benchmark on {os.uname().nodename}: {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}, python {sys.version.split()[0]}", flush=True)
    rows, warm_up_s, memory = latency(args.runs, args.cold_runs)
    cmd_times = commands(args.runs)
    ver = verify()
    guard = guard_cost(args.runs)

    print(f"\n1. Save-to-verdict latency (file write -> Verdict), benchmark course; medians of "
          f"{args.runs} warm / {args.cold_runs} cold runs. Worker start-up: {warm_up_s:.1f} s.\n")
    lines, all_ok = [], True
    for row in rows:
        warm, cold = median(row["warm"]), median(row["cold"])
        passed = warm <= WARM_TARGET_S and cold / warm >= RATIO_TARGET
        all_ok &= passed
        lines.append([row["id"], KIND[row["id"]], fmt_s(warm), f"{min(row['warm']):.3f}-{max(row['warm']):.3f}",
                      fmt_s(cold), f"{cold / warm:.0f}x", ok(passed)])
    print(table(["exercise", "kind", "warm", "warm range", "cold", "cold/warm", "target"], lines))

    print(f"\n2. Commands that run no test (real course; medians of {args.runs}).\n")
    lines = []
    for name, times in cmd_times.items():
        passed = median(times) <= COMMAND_TARGET_S
        all_ok &= passed
        lines.append([f"arena {name}", fmt_s(median(times)), f"{min(times):.3f}-{max(times):.3f}", ok(passed)])
    print(table(["command", "median", "range", "target"], lines))

    how = "a warm worker; its start-up included" if ver["worker"] else "cold runs: verify started no worker"
    print(f"\n3. arena verify on the real course ({ver['exercises']} exercises, exit code {ver['exit']}: "
          "the shipped student files fail, as they should).\n")
    print(table(
        ["measure", "value"],
        [
            [f"wall time ({how})", fmt_s(ver["wall"])],
            ["peak sum of VmRSS over the process tree (/proc, 20 ms)", fmt_mb(ver["rss"])],
            ["peak sum of Pss over the process tree (/proc, 20 ms)", fmt_mb(ver["pss"])],
            ["largest single process (getrusage RUSAGE_CHILDREN maxrss)", fmt_mb(ver["maxrss"])],
        ],
    ))

    print("\n4. The warm worker's own VmRSS (/proc/<pid>/status).\n")
    ready = next(iter(memory.values()))
    print(table(["when", "VmRSS", "growth"], [[k, fmt_mb(v), f"{(v - ready) / 1024:+.0f} MB"] for k, v in memory.items()]))

    files = int(guard.pop("files watched")[0])
    print(f"\n5. The course guard's cost per run ({files} files and folders of the real course watched; medians "
          f"of {args.runs}).\n")
    print(table(["step", "median"], [[k, f"{median(v) * 1000:.1f} ms"] for k, v in guard.items()]))

    print(f"\nTargets {'all met' if all_ok else 'NOT all met'}. Reproduce: {sys.executable} "
          f"{Path(__file__).resolve().relative_to(REPO)} {' '.join(sys.argv[1:])}".rstrip()
          + f"  (from {REPO})")
    if args.json:
        print(json.dumps({"latency": rows, "commands": cmd_times, "verify": ver, "worker_rss_kib": memory,
                          "guard_s": guard}, indent=2))
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
