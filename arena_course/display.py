"""How the course's given code shows things: a training progress bar, matplotlib figures saved to files,
and a section's result: its command line (with `--tiny`) and the suffix that keeps `--tiny` files apart.
Shared by every chapter."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


class ProgressBar:
    """A rich progress bar (with ETA) as a context manager yielding `advance(step, loss)`; a no-op if
    disabled."""

    def __init__(self, enabled: bool, steps: int, description: str = "training", every: int = 50):
        self.enabled, self.steps, self.description, self.every = enabled, steps, description, every

    def __enter__(self) -> Callable[[int, float], None]:
        if not self.enabled:
            return lambda step, loss: None
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} steps"),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        self.bar.__enter__()
        task = self.bar.add_task(self.description, total=self.steps, loss=float("nan"))

        def advance(step: int, loss: float) -> None:
            # Redrawing every step would cost more than the step itself: update every `every` steps.
            if (step + 1) % self.every == 0 or step + 1 == self.steps:
                self.bar.update(task, completed=step + 1, loss=loss)

        return advance

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.bar.__exit__(*exc)


def pyplot():
    """matplotlib's pyplot, drawing to files only (no window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    """Write `fig` to `path` (folders created), close it, and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    pyplot().close(fig)
    return path


def result_parser(description: str, tiny: str) -> argparse.ArgumentParser:
    """The command line of a section's result: `description`, and `--tiny` (`tiny`: what it runs on then)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--tiny", action="store_true", help=tiny)
    return parser


class TinySuffix:
    """Mixin for what a section's result runs on (a dataclass with a `tiny` field): its `suffix`."""

    tiny: bool

    @property
    def suffix(self) -> str:
        """Appended to result file names, so tiny and real results don't overwrite each other."""
        return "_tiny" if self.tiny else ""
