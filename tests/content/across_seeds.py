"""Run the tests of trained models under several seeds and print which pass under which.

    .venv/bin/python tests/content/across_seeds.py            # seeds 0 1 2
    .venv/bin/python tests/content/across_seeds.py 3 4 5 -k ioi

Every test that takes the `seed` fixture (tests/content/conftest.py: the models it trains, the prompts it
draws) is run once per seed, with ARENA_TEST_SEED set; the suite itself runs seed 0. A property that fails
under some seed describes one training run, not the model's job: loosen what it claims or drop it. Prints a
table (one row per test, one column per seed, and the first line of each failure below it); exit 1 if any
test failed under any seed. Each seed is a separate pytest process (~3 min of one core); `-j` of them run at
once (default: one per core).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_seed(seed: int, pytest_args: list[str], report: Path) -> tuple[dict[str, tuple[str, str]], float]:
    """{test id: (outcome, first line of the failure)} for one seed, and the wall time."""
    env = dict(os.environ, ARENA_TEST_SEED=str(seed))
    cmd = [sys.executable, "-m", "pytest", "tests/content", "-m", "seeded", "-q", "-n", "0",
           f"--junitxml={report}", *pytest_args]
    start = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.monotonic() - start
    outcomes = {}
    for case in ET.parse(report).iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            first = (problem.get("message") or problem.text or "").strip().splitlines()
            outcomes[name] = ("FAIL", first[0][:150] if first else "")
        elif case.find("skipped") is not None:
            outcomes[name] = ("skip", "")
        else:
            outcomes[name] = ("pass", "")
    return outcomes, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("-k", help="only tests matching this pytest -k expression")
    parser.add_argument("-j", type=int, default=os.cpu_count() or 1, help="seeds run at once (default: cores)")
    args = parser.parse_args()
    extra = ["-k", args.k] if args.k else []

    results: dict[int, dict[str, tuple[str, str]]] = {}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max(1, args.j)) as pool:
        runs = {seed: pool.submit(run_seed, seed, extra, Path(tmp) / f"seed{seed}.xml") for seed in args.seeds}
        for seed, run in runs.items():
            results[seed], wall = run.result()
            failed = sum(outcome == "FAIL" for outcome, _ in results[seed].values())
            print(f"seed {seed}: {len(results[seed])} tests, {failed} failed, {wall:.0f} s", file=sys.stderr)

    tests = sorted({name for outcomes in results.values() for name in outcomes})
    width = max(len(name) for name in tests) if tests else 10
    print(f"{'test':<{width}}  " + "  ".join(f"seed {s:<2}" for s in args.seeds))
    for name in tests:
        cells = [results[s].get(name, ("-", ""))[0] for s in args.seeds]
        print(f"{name:<{width}}  " + "  ".join(f"{c:<7}" for c in cells))
    failures = [(name, s, results[s][name][1]) for name in tests for s in args.seeds
                if results[s].get(name, ("", ""))[0] == "FAIL"]
    for name, s, message in failures:
        print(f"seed {s}: {name}: {message}")
    print(f"{len(tests)} tests x {len(args.seeds)} seeds: "
          + (f"{len(failures)} failures" if failures else "every test passed under every seed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
