"""`arena update`: bring in the course's new version from its git remote without losing a student's work.

The student's work is every file that differs from the version of the course they started from (the merge
base of HEAD and the upstream branch), whether they committed it or not. An update:

1. fetches the upstream branch; stops, changing nothing, if a file other than an exercise that the student
   changed was changed upstream too (the one-line error lists them);
2. copies every file of theirs it will touch to .arena/backups/<time>/, and keeps a branch at the old HEAD
   if they had commits of their own;
3. moves the branch to the upstream's commit (`git reset --hard`): every course file is the new version's;
4. puts the student's work back: an exercise file upstream changed gets their answer merged into the new
   stub (`git merge-file`, three-way from the stub they started from); where that conflicts, their file
   stays exactly as it was and the new stub is written beside it as `<NN>_<id>.new.py`. Their changes to
   files upstream didn't change are put back as they were; an exercise upstream removed or renamed stays
   as their file.

Untracked files (progress.json, results/, .arena/) are not touched, except one the new version now has
in git (it is in the backup). Afterwards the student's answers are uncommitted changes on the new version.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from arena_cli.git import GitError, file_at, git, merge_file, succeeds, text
from arena_cli.layout import is_student_file
from arena_cli.local_state import backup, timestamp
from arena_cli.markers import StudentFileError, replace_file

REQUIREMENTS = ("requirements.lock", "pyproject.toml")


class UpdateError(Exception):
    """The update can't go ahead (or git failed); nothing was changed unless the message says otherwise."""


@dataclass
class UpdateReport:
    upstream: str  # the branch updated from, e.g. "origin/main"
    old: str  # HEAD before (a commit id)
    new: str  # HEAD after
    new_commits: int = 0
    merged: list[str] = field(default_factory=list)  # exercise files: the answer merged into the new stub
    conflicted: list[tuple[str, str]] = field(default_factory=list)  # (exercise file kept, new stub beside)
    gone: list[tuple[str, str | None]] = field(default_factory=list)  # (exercise file kept, renamed to)
    carried: list[str] = field(default_factory=list)  # changed files the new version doesn't change
    replaced: list[str] = field(default_factory=list)  # untracked files the new version now has
    backups: Path | None = None
    branch: str | None = None  # holds the old HEAD, when the student had commits of their own
    requirements_changed: bool = False

    @property
    def up_to_date(self) -> bool:
        return self.old == self.new


def new_stub_path(rel: str) -> str:
    """Where the new stub goes beside an answer that conflicts with it: `<NN>_<id>.new.py`."""
    return rel.removesuffix(".py") + ".new.py"


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _checkout(root: Path) -> None:
    """Fail unless `root` is the top of a git checkout with no merge or rebase half done."""
    try:
        top = Path(text(root, "rev-parse", "--show-toplevel"))
    except GitError:
        raise UpdateError(f"{root} is not a git checkout: `arena update` brings in a course cloned with git") from None
    if top.resolve() != root.resolve():
        raise UpdateError(f"{root} is inside the git checkout {top}, not a checkout of its own, which `arena update` needs")
    unmerged = sorted({line.split("\t", 1)[-1] for line in text(root, "ls-files", "--unmerged").splitlines()})
    busy = [name for name in ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge", "rebase-apply")
            if (root / text(root, "rev-parse", "--git-path", name)).exists()]
    if unmerged or busy:
        files = f" (files in conflict: {', '.join(unmerged)})" if unmerged else ""
        raise UpdateError(f"a git merge, rebase or stash pop is half done{files}: finish or abort it first, then run `arena update`")


def _upstream(root: Path) -> tuple[str, str]:
    """(the upstream branch, its remote) of the current branch."""
    try:
        branch = text(root, "symbolic-ref", "--short", "HEAD")
    except GitError:
        raise UpdateError("HEAD is not on a branch: `git switch main` (or your branch), then `arena update`") from None
    try:
        upstream = text(root, "rev-parse", "--abbrev-ref", f"{branch}@{{upstream}}")
    except GitError:
        remotes = text(root, "remote").split()
        how = (f"`git branch --set-upstream-to {_default_branch(root, remotes[0])}` names one" if remotes
               else "the checkout has no git remote (`git remote add origin URL`, then `git branch --set-upstream-to origin/main`)")
        raise UpdateError(f"branch {branch} has no upstream branch to update from: {how}") from None
    try:
        remote = text(root, "config", f"branch.{branch}.remote")
    except GitError:
        remote = "."
    return upstream, remote


def _default_branch(root: Path, remote: str) -> str:
    """The remote's default branch as this clone knows it (`origin/main`), else a guess."""
    try:
        return text(root, "symbolic-ref", "--short", f"refs/remotes/{remote}/HEAD")
    except GitError:
        return f"{remote}/main"


def _fetch(root: Path, remote: str) -> None:
    if remote == ".":
        return  # the upstream is a local branch
    try:
        git(root, "fetch", "--quiet", remote)
    except GitError as e:
        try:
            url = f" ({text(root, 'remote', 'get-url', remote)})"
        except GitError:
            url = ""
        raise UpdateError(f"could not fetch from {remote}{url}: {e}") from None


def _changed_files(root: Path, base: str) -> list[str]:
    """Files (relative, with `/`) whose working-tree content differs from `base`'s: the student's work,
    committed or not. Untracked files are not in git's hands, so not listed."""
    out = git(root, "diff", "--name-only", "--no-renames", "-z", base, "--")
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def _renames(root: Path, base: str, new: str) -> dict[str, str]:
    """Old path -> new path of the files upstream renamed."""
    fields = git(root, "diff", "--name-status", "-M", "--diff-filter=R", "-z", base, new, "--")
    parts = [p for p in fields.decode("utf-8", "surrogateescape").split("\0") if p]
    return {parts[i + 1]: parts[i + 2] for i in range(0, len(parts) - 2, 3)}


def _in_the_way(root: Path, new: str, tracked_changes: set[str]) -> list[str]:
    """Untracked files at paths the new version adds (checking it out overwrites them)."""
    out = git(root, "diff", "--name-only", "--no-renames", "--diff-filter=A", "-z", "HEAD", new, "--")
    added = [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]
    return [p for p in added
            if p not in tracked_changes and os.path.lexists(root / p) and _read(root / p) != file_at(root, new, p)]


def update(root: Path) -> UpdateReport:
    """Update the course at `root` from its upstream branch; what was done (see the module's docstring)."""
    try:
        return _update(root)
    except GitError as e:
        raise UpdateError(f"git failed: {e}") from None
    except OSError as e:  # a file of the student's that can't be read, or copied to the backups
        raise UpdateError(str(e)) from None


def _update(root: Path) -> UpdateReport:
    _checkout(root)
    upstream, remote = _upstream(root)
    _fetch(root, remote)
    head = text(root, "rev-parse", "HEAD")
    new = text(root, "rev-parse", f"{upstream}^{{commit}}")
    report = UpdateReport(upstream, head, head)
    if succeeds(root, "merge-base", "--is-ancestor", new, head):
        return report  # already up to date
    try:
        base = text(root, "merge-base", head, new)
    except GitError:
        raise UpdateError(f"{upstream} has no history in common with your branch: it isn't this course's") from None
    report.new_commits = int(text(root, "rev-list", "--count", f"{head}..{new}"))

    writes: dict[str, bytes] = {}  # what to write once the checkout is at the new version
    collisions: list[str] = []  # course files both the student and upstream changed
    renamed = _renames(root, base, new)
    changed = _changed_files(root, base)
    for rel in changed:
        ours, before, theirs = _read(root / rel), file_at(root, base, rel), file_at(root, new, rel)
        if ours is None or ours == before or ours == theirs:
            continue  # deleted by the student (the course's version comes back), or nothing to keep
        if theirs == before:  # the new version doesn't change it: the student's version stays
            report.carried.append(rel)
            writes[rel] = ours
        elif not is_student_file(rel):
            collisions.append(rel)
        elif theirs is None:  # removed or renamed upstream
            report.gone.append((rel, renamed.get(rel)))
            writes[rel] = ours
        else:
            merged = merge_file(ours, before or b"", theirs)
            if merged is None:
                report.conflicted.append((rel, new_stub_path(rel)))
                writes[rel], writes[new_stub_path(rel)] = ours, theirs
            else:
                report.merged.append(rel)
                writes[rel] = merged
    if collisions:
        listed = " ".join(collisions)
        raise UpdateError(
            f"nothing was changed: the new version also changes course files you changed: {listed}. Copy what "
            f"you want to keep, then `git checkout {base[:10]} -- {listed}` puts them back as they came, and run "
            "`arena update` again"
        )

    report.replaced = _in_the_way(root, new, set(changed))
    touched = [*writes, *report.replaced]
    if touched:
        report.backups = backup(root, [root / rel for rel in touched])
    if text(root, "rev-list", "--count", f"{base}..{head}") != "0":
        report.branch = _keep_branch(root, head, report.backups)
    try:
        git(root, "reset", "--quiet", "--hard", new)
    except GitError as e:
        kept = f"; your files are in {report.backups}" if report.backups else ""
        raise UpdateError(f"git reset --hard {new[:10]} failed: {e}{kept}") from None
    try:
        for rel, data in writes.items():
            replace_file(root / rel, data)
    except (OSError, StudentFileError) as e:
        raise UpdateError(f"the course is at {upstream} but putting your files back failed: {e}; they are all in {report.backups}") from None
    report.new = new
    report.requirements_changed = not succeeds(root, "diff", "--quiet", base, new, "--", *REQUIREMENTS)
    return report


def _keep_branch(root: Path, head: str, backups: Path | None) -> str:
    """A new branch at the old HEAD, named after the time (as the backups are)."""
    stamp = backups.name if backups else timestamp()
    name, n = f"arena-before-update-{stamp}", 1
    while succeeds(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}"):
        n += 1
        name = f"arena-before-update-{stamp}-{n}"
    git(root, "branch", name, head)
    return name
