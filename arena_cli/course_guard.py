"""What a run changes in the course, the run undoes.

Student code runs with the student's rights, so it can write anywhere the student can. Before each run
`CourseGuard.snapshot()` records the course's own files (tests/, solutions/, hints/, the manifests,
arena's code and the course's given code, the Python and pytest files at the course root, and the
`.pth` / sitecustomize files of the environment, any of which would change later runs); after the run
`restore()` compares and puts every file back: one added during the run (a planted `conftest.py`) is
removed, one changed or deleted is restored. What was there instead is kept under
`.arena/reverted/<time>/`, so nothing anybody wrote is lost. Bytecode caches written during the run are
deleted (Python rebuilds them), silently: arena's own imports write them too.

Inside the test child, `forbid_writes` adds a first line: an audit hook that refuses (PermissionError)
any write by Python code to those files, to the file under test and to progress.json, so that the
common cases (an `open(..., "w")`, `shutil.rmtree`) fail at once with a message, and a file that
rewrites itself can't make `arena watch` rerun forever. Processes the student's code starts are not
audited; the snapshot catches what they do.

Fast enough for every save: the snapshot is a stat walk (~300 files); a file's bytes are read once and
reused while its stat is unchanged. Only regular files are read, with a size cap (a FIFO or a link to
/dev/zero is recorded, never read). An author's own edits between runs are simply the next "before".
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from arena_cli import layout

READ_CAP = 16 * 2**20  # bytes: larger files are watched by their stat only
ROOT_SUFFIXES = (".py", ".pth", ".ini", ".cfg", ".toml")  # root files that change how Python/pytest run
SITE_NAMES = ("sitecustomize.py", "usercustomize.py")
REVERTED_DIR = (".arena", "reverted")
KEEP_REVERTED = 20  # runs whose undone files are kept


@dataclass(frozen=True)
class _Entry:
    kind: str  # "file", "link", "dir", "other"
    key: tuple  # what a stat says about it: a change of key is a change (maybe)
    mode: int = 0o644
    data: bytes | None = None  # a file's bytes (None: over the cap, or unreadable); a link's target


_cache: dict[str, tuple[tuple, bytes | None]] = {}
_cache_lock = threading.Lock()
_restore_lock = threading.Lock()  # runs in parallel (verify) restore one at a time


def _key(st: os.stat_result) -> tuple:
    return (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def read_regular(path: str | Path, cap: int | None = None, *, follow: bool = False) -> bytes | None:
    """A regular file's bytes, or None for anything else (a FIFO, a device, a link unless `follow`,
    larger than `cap` (default READ_CAP), gone): never blocks, never reads without bound."""
    cap = READ_CAP if cap is None else cap
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > cap:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(cap + 1)
        return data if len(data) <= cap else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _entry(path: str, st: os.stat_result) -> _Entry:
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        return _Entry("dir", _key(st), stat.S_IMODE(mode))
    if stat.S_ISLNK(mode):
        try:
            return _Entry("link", _key(st), 0, os.fsencode(os.readlink(path)))
        except OSError:
            return _Entry("link", _key(st))
    if not stat.S_ISREG(mode):
        return _Entry("other", _key(st))
    key = _key(st)
    with _cache_lock:
        cached = _cache.get(path)
    if cached is not None and cached[0] == key:
        data = cached[1]
    else:
        data = read_regular(path)
        with _cache_lock:
            _cache[path] = (key, data)
    return _Entry("file", key, stat.S_IMODE(mode), data)


def _is_bytecode(path: str) -> bool:
    return f"{os.sep}__pycache__{os.sep}" in path or path.endswith((f"{os.sep}__pycache__", ".pyc"))


class CourseGuard:
    """The files of one course that a run must leave as it found them."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        trees = [layout.tests_dir(self.root).parent, layout.masters_dir(self.root), self.root / layout.HINT_DIR]
        trees += [self.root / "arena_course", Path(__file__).resolve().parent]
        self.trees = [str(t) for t in dict.fromkeys(trees)]
        self.site_dirs = [
            str(Path(d).resolve())
            for d in dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
            if Path(d).is_dir()
        ]

    # ----------------------------------------------------------------- what is watched

    def is_guarded(self, real: str) -> bool:
        """Whether the (resolved) path is one of the files a run must not change."""
        if any(real == t or real.startswith(t + os.sep) for t in self.trees):
            return True
        folder, name = os.path.split(real)
        if folder == str(self.root):
            return name.endswith(ROOT_SUFFIXES)
        if folder in self.site_dirs:
            return name in SITE_NAMES or name.endswith(".pth")
        return name == layout.MANIFEST and os.path.dirname(folder) == str(self.root / layout.STUDENT_DIR)

    def _walk(self, top: str, found: dict[str, _Entry]) -> None:
        try:
            st = os.lstat(top)
        except OSError:
            return
        found[top] = _entry(top, st)
        if not stat.S_ISDIR(st.st_mode):
            return
        for item in _listing(top):
            if item.is_dir(follow_symlinks=False):
                self._walk(item.path, found)
            else:
                try:
                    found[item.path] = _entry(item.path, item.stat(follow_symlinks=False))
                except OSError:
                    continue

    def snapshot(self) -> dict[str, _Entry]:
        found: dict[str, _Entry] = {}
        for tree in self.trees:
            self._walk(tree, found)
        for manifest in layout.manifests(self.root):
            self._walk(str(manifest), found)
        # The root's and site-packages' own files that `is_guarded` names, and the root's folders (one
        # that appears during a run may be a planted package: see `_root_dir_planted`).
        for item in _listing(str(self.root)) + [e for d in self.site_dirs for e in _listing(d)]:
            is_dir = item.is_dir(follow_symlinks=False)
            if is_dir and os.path.dirname(item.path) == str(self.root) and not item.name.startswith("."):
                found.setdefault(item.path, _Entry("dir", ("dir",)))  # a root folder: only its existence
            elif not is_dir and self.is_guarded(item.path):
                try:
                    found[item.path] = _entry(item.path, item.stat(follow_symlinks=False))
                except OSError:
                    continue
        return found

    # ----------------------------------------------------------------- undoing

    def _rel(self, path: str) -> str:
        for site in self.site_dirs:
            if path.startswith(site + os.sep):
                return os.path.join("site-packages", os.path.relpath(path, site))
        return os.path.relpath(path, self.root)

    def _root_dir_planted(self, path: str) -> bool:
        """A folder that appeared at the course root during the run matters only if Python could
        import from it (the root is on the test child's sys.path)."""
        for _, _, files in os.walk(path):
            if any(f.endswith((".py", ".pth", ".so")) for f in files):
                return True
        return False

    def restore(self, before: dict[str, _Entry]) -> list[str]:
        """Put back what changed since `before`; return the changed paths (relative), [] if none."""
        with _restore_lock:
            return self._restore(before)

    def _restore(self, before: dict[str, _Entry]) -> list[str]:
        after = self.snapshot()
        stamp_dir: Path | None = None
        touched: list[str] = []

        def aside(path: str) -> None:
            """Move what is at `path` now into .arena/reverted/<time>/ (nothing is destroyed)."""
            nonlocal stamp_dir
            if not os.path.lexists(path):
                return
            if stamp_dir is None:
                stamp_dir = self.root.joinpath(*REVERTED_DIR, f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
            dest = stamp_dir / self._rel(path)
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, dest)
            except OSError:
                try:
                    shutil.copy2(path, dest, follow_symlinks=False)
                except OSError:
                    pass
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    try:
                        os.unlink(path)
                    except OSError:
                        pass

        # Added: files and folders that weren't there. Deepest first, so a folder goes after its files.
        for path in sorted(set(after) - set(before), key=len, reverse=True):
            if not os.path.lexists(path):
                continue
            if _is_bytecode(path):
                _remove(path)
                continue
            if os.path.dirname(path) == str(self.root) and after[path].kind == "dir":
                if not self._root_dir_planted(path):
                    continue
            touched.append(self._rel(path))
            aside(path)
        # Changed or deleted: put the old content back (folders first, so files have somewhere to go).
        for path in sorted(before, key=len):
            old, new = before[path], after.get(path)
            if new is not None and (new.key == old.key or (new.kind == old.kind == "dir")):
                continue
            if old.kind == "file" and old.data is not None and new is not None and new.data == old.data:
                continue  # touched, same bytes
            if _is_bytecode(path):
                if new is not None and new.kind == "file":
                    _remove(path)
                continue
            if old.kind == "dir" and new is not None and new.kind == "dir":
                continue
            if old.kind == "other" or (old.kind == "file" and old.data is None):
                touched.append(self._rel(path) + " (arena could not restore it)")
                continue
            if old.kind != "dir":  # a folder put back is named by the files put back in it
                touched.append(self._rel(path))
            if new is not None:
                aside(path)
            _put_back(path, old)
        if stamp_dir is not None:
            _prune(stamp_dir.parent)
        return sorted(dict.fromkeys(touched))


def _listing(folder: str) -> list[os.DirEntry]:
    """A folder's entries ([] when it can't be read)."""
    try:
        with os.scandir(folder) as it:
            return list(it)
    except OSError:
        return []


def _remove(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


def _put_back(path: str, old: _Entry) -> None:
    try:
        if old.kind == "dir":
            os.makedirs(path, exist_ok=True)
            os.chmod(path, old.mode or 0o755)
        elif old.kind == "link" and old.data is not None:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.symlink(os.fsdecode(old.data), path)
        elif old.kind == "file" and old.data is not None:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.arena-restore"
            with open(tmp, "wb") as f:
                f.write(old.data)
            os.chmod(tmp, old.mode)
            os.replace(tmp, path)
    except OSError as e:
        print(f"arena: could not restore {path}: {e.strerror}", file=sys.stderr)


def _prune(reverted: Path) -> None:
    try:
        runs = sorted(p for p in reverted.iterdir() if p.is_dir())
    except OSError:
        return
    for old in runs[:-KEEP_REVERTED]:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- in the test child

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
# Audit events that change a file, and which of their arguments are paths.
_CHANGES = {
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1), "os.symlink": (1,),
    "os.link": (1,), "os.truncate": (0,), "os.chmod": (0,), "os.chown": (0,), "os.utime": (0,),
    "shutil.rmtree": (0,), "shutil.move": (0, 1), "shutil.copyfile": (1,), "shutil.copytree": (1,),
}


class CourseWriteRefused(PermissionError):
    """Exercise code tried to write to one of the course's own files."""


def forbid_writes(root: Path, also: list[Path]) -> None:
    """Refuse every write by Python code to the course's own files and to `also`. Installed once per
    test child by the pytest plugin (audit hooks can't be removed)."""
    guard = CourseGuard(root)
    extra = {os.path.realpath(p) for p in also}

    def refused(raw: object) -> str | None:
        if isinstance(raw, int) or raw is None:
            return None  # a file descriptor: already open
        try:
            real = os.path.realpath(os.fsdecode(raw))
        except (TypeError, ValueError):
            return None
        return real if real in extra or guard.is_guarded(real) else None

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            if len(args) < 3:
                return
            mode, flags = args[1], args[2]
            writes = (isinstance(flags, int) and flags & _WRITE_FLAGS) or (
                isinstance(mode, str) and any(c in mode for c in "wax+")
            )
            paths: tuple = (args[0],) if writes else ()
        elif event in _CHANGES:
            paths = tuple(args[i] for i in _CHANGES[event] if i < len(args))
        else:
            return
        for raw in paths:
            real = refused(raw)
            if real is not None:
                shown = os.path.relpath(real, guard.root) if real.startswith(str(guard.root)) else real
                raise CourseWriteRefused(
                    f"arena refused to let exercise code write to {shown}: the course's own files, progress "
                    "and the file under test are not for exercise code to change"
                )

    sys.addaudithook(hook)
