"""Running many exercises' hidden tests at once (`arena verify`, `arena dev check`), and when a warm
worker is worth starting for them (or for `arena watch`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from arena_cli.course import Exercise
from arena_cli.verdict import Verdict

# Below this many runs, a worker's warm-up (~4 s of imports) costs more than the cold starts it saves.
WARM_MIN_RUNS = 4
NO_WORKER_ENV = "ARENA_NO_WORKER"


def workers_allowed() -> bool:
    """False when the student turned warm workers off (ARENA_NO_WORKER)."""
    return not os.environ.get(NO_WORKER_ENV)


def worker_wanted(n_runs: int) -> bool:
    return n_runs >= WARM_MIN_RUNS and workers_allowed()


@contextmanager
def warm_worker(root: Path, warm: bool) -> Iterator[Path | None]:
    """A warm worker's socket for a batch of runs (None, i.e. cold runs, if it can't start)."""
    if not warm:
        yield None
        return
    from arena_cli.worker_client import Worker

    with Worker(root) as worker:
        yield worker.path if worker.wait_ready() else None


def run_many(
    exercises: list[Exercise],
    *,
    target: Callable[[Exercise], Path],
    console: Console,
    show_bar: bool,
    label: str,
    worker: Path | None = None,
    restore_course: bool = True,
) -> list[tuple[Exercise, Verdict]]:
    """Run several exercises' hidden tests in parallel over the cores, in course order
    (`restore_course`: see `runner.run_exercise`)."""
    from rich.progress import MofNCompleteColumn, Progress as Bar, ProgressColumn, TextColumn, TimeRemainingColumn

    from arena_cli.render import bar as bar_text

    class BarColumn(ProgressColumn):  # rich's draws nothing for the part still to do without colour
        def render(self, task):
            return bar_text(int(task.completed), int(task.total or 0), 30)

    from arena_cli.runner import run_exercise

    results: dict[str, Verdict] = {}
    workers = max(1, min(len(exercises), os.cpu_count() or 1))
    with Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not show_bar,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=len(exercises))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {
                pool.submit(run_exercise, e, target=target(e), worker=worker, restore_course=restore_course): e
                for e in exercises
            }
            for future, ex in futures.items():
                verdict = future.result()
                assert verdict is not None
                results[ex.id] = verdict
                bar.advance(task)
    return [(e, results[e.id]) for e in exercises]
