"""`.arena/`: what arena keeps on this machine only (the folder git-ignores itself, so nothing in it is
ever committed): copies of a student's files taken before arena replaces them, and `arena dev build`'s
record of the student files it generated, so that it can tell them from files the student edited.

    .arena/backups/<time>/<path as in the course>   a file as it was before `dev build --force` or
                                                    `arena update` replaced it
    .arena/built.json                               {student file: sha256 of the text dev build left there}
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from arena_cli.layout import local_dir

BACKUPS = "backups"
BUILD_RECORD = "built.json"


def ensure_local_dir(root: Path) -> Path:
    """`.arena/`, made if need be with a .gitignore of its own (so it stays out of git even in a
    checkout whose .gitignore predates it)."""
    folder = local_dir(root)
    folder.mkdir(exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")
    return folder


def timestamp() -> str:
    """Now, as a file-name-safe local time (no colons, for Windows)."""
    return datetime.now().strftime("%Y-%m-%dT%H-%M-%S")


def backup(root: Path, files: Iterable[Path]) -> Path:
    """Copy each of `files` (paths under `root`; missing ones skipped; a symlink copied as the link) to
    `.arena/backups/<time>/<its path relative to root>`; returns that folder."""
    base = ensure_local_dir(root) / BACKUPS
    stamp = timestamp()
    folder, n = base / stamp, 1
    while folder.exists():  # two backups in one second
        n += 1
        folder = base / f"{stamp}-{n}"
    folder.mkdir(parents=True)
    for path in files:
        if not os.path.lexists(path):
            continue
        target = folder / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target, follow_symlinks=False)
    return folder


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class BuildRecord:
    """Which text `arena dev build` last left in each student file on this machine (written by it, or
    found already in sync with the master), by its path relative to the course root."""

    def __init__(self, root: Path):
        self.root = root
        self.path = local_dir(root) / BUILD_RECORD
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self._digests = {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        except (OSError, ValueError):
            self._digests = {}  # none yet, or unreadable: nothing is known to be generated
        self._changed = False

    def generated(self, rel: str, text: str) -> bool:
        """Whether `text` is what dev build last left at `rel`."""
        return self._digests.get(rel) == _digest(text)

    def note(self, rel: str, text: str) -> None:
        digest = _digest(text)
        if self._digests.get(rel) != digest:
            self._digests[rel] = digest
            self._changed = True

    def save(self) -> None:
        """Write the record (atomically) if anything was noted."""
        if not self._changed:
            return
        ensure_local_dir(self.root)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self._digests, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)
        self._changed = False
