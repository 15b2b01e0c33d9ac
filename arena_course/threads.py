"""One torch thread while the course trains or sweeps tiny models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one CPU thread, then restore the thread count.

    The course's models are tiny: more threads add only synchronisation per op, and on a busy machine
    spinning OpenMP threads made training up to 20x slower. One thread also makes trained weights the
    same on every machine, whatever its core count.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
