"""The processes a test run starts, found and ended as one tree, including those that left its process
group (`setsid`, a double fork).

On Linux the process that forks a test child (the child itself, the warm worker, arena) marks itself a
child subreaper: a process whose parent dies is then re-parented to it instead of to init, so every
process a run starts stays a descendant of someone arena knows. Trees are read from
/proc/<pid>/task/<tid>/children. Elsewhere these are no-ops and only the process group is killed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
LINUX = sys.platform.startswith("linux")


def _prctl(option: int, value: int) -> bool:
    if not LINUX:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def become_subreaper() -> bool:
    """Orphaned descendants of this process are re-parented to it (Linux)."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent() -> bool:
    """This process is killed when its parent dies (Linux): a test child never outlives arena."""
    return _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))


def children(pid: int) -> list[int]:
    """The direct children of `pid` (every thread's)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(p) for p in f.read().split()]
        except (OSError, ValueError):
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, parents before their children."""
    out: list[int] = []
    todo = children(pid)
    seen = set()
    while todo:
        p = todo.pop(0)
        if p in seen:
            continue
        seen.add(p)
        out.append(p)
        todo += children(p)
    return out


def rss(pid: int) -> int:
    """Resident memory of one process in bytes (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def tree_rss(pid: int) -> int:
    """Resident memory of `pid` and all its descendants: the memory limit counts the whole run."""
    return rss(pid) + sum(rss(p) for p in descendants(pid))


def kill(pids: list[int] | set[int]) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def kill_tree(pid: int) -> None:
    """SIGKILL `pid`'s process group and every descendant, wherever its group or session."""
    found = descendants(pid)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    kill([pid, *found])
    kill(descendants(pid))  # forked while we were killing


def stray_children(known: set[int]) -> list[int]:
    """This process's children that are not `known`: with this process a subreaper, the orphans of a
    test run that ended (its daemons), re-parented here."""
    return [p for p in children(os.getpid()) if p not in known]


def end_strays(known: set[int]) -> None:
    """Kill and reap every stray child (and its tree)."""
    for p in stray_children(known):
        kill_tree(p)
        try:
            os.waitpid(p, 0)
        except ChildProcessError:
            pass


def alive(pid: int) -> bool:
    """Running (not a zombie, not gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
