"""Running git on the course's checkout: what `arena update` does with it, and how `arena dev build` reads
a master as committed. Failures become GitError with git's own complaint, for a one-line message."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

# Variables that would point git at another repository than the course's.
_REDIRECTS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")


class GitError(Exception):
    """A git command failed (or git isn't installed); the message is git's own, in one line."""


def git(root: Path, *args: str) -> bytes:
    """`git ARGS` run in `root`; its standard output."""
    env = {k: v for k, v in os.environ.items() if k not in _REDIRECTS}
    try:
        proc = subprocess.run(["git", *args], cwd=root, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH)") from None
    if proc.returncode != 0:
        raise GitError(_complaint(proc.stderr.decode("utf-8", "replace")) or f"git {args[0]}: exit code {proc.returncode}")
    return proc.stdout


def _complaint(stderr: str) -> str:
    """git's first `fatal:` / `error:` line (the advice that follows is for git's own users), else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        for prefix in ("fatal: ", "error: "):
            if line.startswith(prefix):
                return line.removeprefix(prefix)
    return lines[-1] if lines else ""


def succeeds(root: Path, *args: str) -> bool:
    """Whether `git ARGS` exits 0 (for yes/no questions such as `merge-base --is-ancestor`)."""
    try:
        git(root, *args)
    except GitError:
        return False
    return True


def text(root: Path, *args: str) -> str:
    """`git ARGS`'s output as one stripped line of text (a commit id, a branch name)."""
    return git(root, *args).decode("utf-8", "replace").strip()


def file_at(root: Path, rev: str, rel: str) -> bytes | None:
    """The file `rel` (relative to `root`) as commit `rev` has it, written as a checkout would write it
    (line endings and filters applied); None if it isn't there or `root` isn't in a git checkout."""
    try:
        return git(root, "cat-file", "--filters", f"{rev}:./{rel}")
    except GitError:
        return None


def merge_file(ours: bytes, base: bytes, theirs: bytes) -> bytes | None:
    """`git merge-file`'s three-way merge of `ours` and `theirs` from `base`; None if they conflict (or
    can't be merged, e.g. binary), so no conflict markers ever reach a file."""
    with tempfile.TemporaryDirectory(prefix="arena-merge-") as tmp:
        paths = []
        for name, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(tmp) / name
            path.write_bytes(data)
            paths.append(str(path))
        try:
            proc = subprocess.run(["git", "merge-file", "-p", "-q", *paths], capture_output=True)
        except FileNotFoundError:
            raise GitError("git is not installed (or not on PATH)") from None
    return proc.stdout if proc.returncode == 0 else None
