"""`arena update`: the course's new version from its git remote, without losing a student's work.

Each test builds a real set-up: the fixture course committed in an author's repository and pushed to a
bare "upstream" repository, which the student's course folder (arena's) is a clone of."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

CHAPTER = "exercises/1_basics"
ADD, DOUBLE, HELLO = (f"{CHAPTER}/01_add_numbers.py", f"{CHAPTER}/02_double_tensor.py", f"{CHAPTER}/03_say_hello.py")
MASTER_ADD, MASTER_HELLO = "solutions/1_basics/01_add_numbers.py", "solutions/1_basics/03_say_hello.py"

# The student's answers: each replaces its stub's `raise NotImplementedError(...)` line.
ADD_STUB, ADD_ANSWER = '    raise NotImplementedError("return the sum of a and b")\n', "    return a + b  # mine\n"
HELLO_STUB, HELLO_ANSWER = '    raise NotImplementedError("greet name")\n', '    return "hello, " + name  # mine\n'
# The new version: a change away from the answer's line (merges), one at the stub line itself (conflicts).
ADD_DOC, ADD_NEW_DOC = '"""Add two numbers."""', '"""Add two numbers: integers, floats, tensors."""'
HELLO_NEW_STUB = '    raise NotImplementedError("return \'hello, \' and the name")\n'


class Upstream:
    """The author's repository and the bare one the student cloned; `change` files, then `publish`."""

    def __init__(self, git, author: Path, bare: Path):
        self.git, self.author, self.bare = git, author, bare

    def change(self, rel: str, old: str, new: str) -> None:
        path = self.author / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, (rel, old)
        path.write_text(text.replace(old, new), encoding="utf-8")

    def read(self, rel: str) -> str:
        return (self.author / rel).read_text(encoding="utf-8")

    def publish(self, message: str = "a new version of the course") -> str:
        self.git(self.author, "add", "-A")
        self.git(self.author, "commit", "-qm", message)
        self.git(self.author, "push", "-q", "origin", "main")
        return self.git(self.author, "rev-parse", "HEAD").strip()


@pytest.fixture
def upstream(arena, git, tmp_path, copy_course) -> Upstream:
    """The course published upstream; arena's course folder is the student's fresh clone of it, with
    progress.json inside it as it would be."""
    author = copy_course(tmp_path / "author")
    (author / ".gitignore").write_text("progress.json\nprogress.json.*\nresults/\n/.arena/\n__pycache__/\n")
    git(author, "init", "-q", "-b", "main")
    git(author, "add", "-A")
    git(author, "commit", "-qm", "the course")
    git(tmp_path, "clone", "-q", "--bare", str(author), "upstream.git")
    git(author, "remote", "add", "origin", str(tmp_path / "upstream.git"))
    shutil.rmtree(arena.root)
    git(tmp_path, "clone", "-q", "upstream.git", str(arena.root))
    arena.progress_path = arena.root / "progress.json"
    arena.env["ARENA_PROGRESS"] = str(arena.progress_path)
    return Upstream(git, author, tmp_path / "upstream.git")


def answer(arena, rel: str, stub: str, mine: str) -> str:
    """Replace the stub line of the student's file `rel` with their answer; the file's new text."""
    path = arena.root / rel
    text = path.read_text(encoding="utf-8")
    assert stub in text
    path.write_text(text.replace(stub, mine), encoding="utf-8")
    return path.read_text(encoding="utf-8")


def head(arena, git) -> str:
    return git(arena.root, "rev-parse", "HEAD").strip()


def backups(arena) -> Path:
    (folder,) = (arena.root / ".arena" / "backups").iterdir()
    return folder


def test_update_merges_answers_into_the_new_stubs_and_keeps_a_conflicting_one_beside_its_new_stub(arena, git, upstream):
    # The student answers add_numbers and commits it; answers say_hello without committing; has progress.
    add_mine = answer(arena, ADD, ADD_STUB, ADD_ANSWER)
    git(arena.root, "commit", "-qam", "my answer to add_numbers")
    old_head = head(arena, git)
    hello_mine = answer(arena, HELLO, HELLO_STUB, HELLO_ANSWER)
    arena.set_progress({"add_numbers": {"status": "done", "attempts": 2}}, current="say_hello")
    progress = arena.progress_path.read_bytes()
    (arena.root / "results" / "basics").mkdir(parents=True)
    (arena.root / "results" / "basics" / "sum.png").write_bytes(b"my figure")
    # The new version: add_numbers' docstring (merges), say_hello's stub line (conflicts), a hint, a test.
    for rel in (ADD, MASTER_ADD):
        upstream.change(rel, ADD_DOC, ADD_NEW_DOC)
    upstream.change(HELLO, HELLO_STUB, HELLO_NEW_STUB)
    upstream.change(MASTER_HELLO, '    # raise NotImplementedError("greet name")', "    # " + HELLO_NEW_STUB.strip())
    upstream.change("hints/1_basics/01_add_numbers.md", "## Hint 2", "## Hint 2\nUse +.")
    upstream.change("tests/exercises/1_basics/test_01_add_numbers.py", "Adds small numbers", "Adds two small numbers")
    new_head = upstream.publish()

    code, out, err = arena("update")
    assert code == 1, out + err  # 1: a file needs the student (the .new.py beside it)
    assert "Traceback" not in out + err

    # The clean one: their answer in the new stub.
    assert arena.read("add_numbers") == add_mine.replace(ADD_DOC, ADD_NEW_DOC)
    # The conflicting one: kept exactly as it was, the new stub beside it; no conflict markers anywhere.
    assert arena.read("say_hello") == hello_mine
    assert (arena.root / f"{CHAPTER}/03_say_hello.new.py").read_text() == upstream.read(HELLO)
    for path in (arena.root / CHAPTER).glob("*.py"):
        assert "<<<<<<<" not in path.read_text() and ">>>>>>>" not in path.read_text()
    # Backups of both, as they were; a branch at the old HEAD (the student had a commit of their own).
    folder = backups(arena)
    assert (folder / ADD).read_text() == add_mine and (folder / HELLO).read_text() == hello_mine
    assert git(arena.root, "rev-parse", f"arena-before-update-{folder.name}").strip() == old_head
    # The course is the new version: HEAD, hints, tests, masters; untracked files are as they were.
    assert head(arena, git) == new_head
    for rel in ("hints/1_basics/01_add_numbers.md", "tests/exercises/1_basics/test_01_add_numbers.py", MASTER_HELLO):
        assert (arena.root / rel).read_text() == upstream.read(rel)
    assert arena.progress_path.read_bytes() == progress
    assert (arena.root / "results" / "basics" / "sum.png").read_bytes() == b"my figure"
    # One line a file, then the summary.
    assert f"merged {ADD}: " in out
    assert f"kept   {HELLO} as it was" in out and f"{CHAPTER}/03_say_hello.new.py" in out
    assert "Merged 1, kept 1 (with the .new.py beside)." in out
    assert f"Your files as they were: .arena/backups/{folder.name}" in out
    assert f"branch arena-before-update-{folder.name}" in out
    # The answers are uncommitted changes on the new version; arena still knows the student's progress.
    assert sorted(git(arena.root, "diff", "--name-only").split()) == [ADD, HELLO]
    code, data = arena.json("progress")
    assert data["done"] == 1 and data["current"] == "say_hello"

    # Again: nothing new.
    code, out, err = arena("update")
    assert (code, out.strip()) == (0, "Already up to date with origin/main."), err
    assert arena.read("say_hello") == hello_mine


def test_update_without_commits_of_the_students_own_makes_no_branch(arena, git, upstream):
    mine = answer(arena, ADD, ADD_STUB, ADD_ANSWER)
    upstream.change("hints/1_basics/03_say_hello.md", "Almost there.", "Nearly there.")
    upstream.publish()
    code, data = arena.json("update")
    assert code == 0
    assert data["status"] == "updated" and data["branch"] is None
    assert data["carried"] == [ADD] and data["merged"] == []  # the new version doesn't change add_numbers
    assert arena.read("add_numbers") == mine
    assert (Path(data["backups"]) / ADD).read_text() == mine
    assert git(arena.root, "branch", "--list").split() == ["*", "main"]


def test_an_exercise_removed_or_renamed_upstream_stays_as_the_students_file(arena, git, upstream):
    double_mine = answer(arena, DOUBLE, '    raise NotImplementedError("multiply x by two")\n', "    return x + x\n")
    hello_mine = answer(arena, HELLO, HELLO_STUB, HELLO_ANSWER)
    # The new version drops double_tensor; say_hello moves up to 02.
    for rel in (DOUBLE, "solutions/1_basics/02_double_tensor.py", "hints/1_basics/02_double_tensor.md",
                "tests/exercises/1_basics/test_02_double_tensor.py"):
        upstream.git(upstream.author, "rm", "-q", rel)
    for folder, name in ((CHAPTER, "{}_say_hello.py"), ("solutions/1_basics", "{}_say_hello.py"),
                         ("hints/1_basics", "{}_say_hello.md"), ("tests/exercises/1_basics", "test_{}_say_hello.py")):
        upstream.git(upstream.author, "mv", f"{folder}/{name.format('03')}", f"{folder}/{name.format('02')}")
    manifest = f"{CHAPTER}/chapter.toml"
    text = upstream.read(manifest)
    start = text.index('[[sections.exercises]]\nid = "double_tensor"')
    upstream.change(manifest, text[start : text.index("[[sections]]", start)], "")
    upstream.change(manifest, '"Add two numbers.", "Double a tensor."', '"Add two numbers."')
    upstream.publish("double_tensor goes")

    code, data = arena.json("update")
    assert code == 0, data
    assert data["gone"] == [
        {"path": DOUBLE, "renamed_to": None},
        {"path": HELLO, "renamed_to": f"{CHAPTER}/02_say_hello.py"},
    ]
    assert (arena.root / DOUBLE).read_text() == double_mine
    assert (arena.root / HELLO).read_text() == hello_mine
    assert (arena.root / f"{CHAPTER}/02_say_hello.py").read_text() == upstream.read(f"{CHAPTER}/02_say_hello.py")
    code, out, err = arena("list", "--json")  # the new course loads; its ids are the same
    assert [e["id"] for e in json.loads(out)] == ["add_numbers", "say_hello"]


def test_update_stops_on_course_files_changed_both_here_and_upstream(arena, git, upstream):
    hint_1, hint_3 = "hints/1_basics/01_add_numbers.md", "hints/1_basics/03_say_hello.md"
    answer(arena, hint_1, "Almost there.", "My own note.")  # upstream changes this one too
    mine_3 = answer(arena, hint_3, "Almost there.", "My own note.")  # and not this one
    upstream.change(hint_1, "Almost there.", "Nearly there.")
    upstream.publish()
    before = head(arena, git)

    code, out, err = arena("update")
    assert code == 2
    (line,) = err.splitlines()
    assert line.startswith("arena: nothing was changed") and hint_1 in line and hint_3 not in line
    assert "git checkout" in line
    assert head(arena, git) == before and (arena.root / hint_1).read_text().count("My own note.") == 1
    assert not (arena.root / ".arena").exists()

    # Done as the line says, the update goes ahead; the file upstream didn't change keeps the student's edit.
    checkout = line[line.index("`git checkout") + 1 : line.index("` puts")].split()
    git(arena.root, *checkout[1:])
    code, out, err = arena("update")
    assert code == 0, out + err
    assert (arena.root / hint_1).read_text() == upstream.read(hint_1)
    assert (arena.root / hint_3).read_text() == mine_3
    assert f"{hint_3} with your changes (the new version doesn't change it)" in out


def test_an_untracked_file_the_new_version_adds_goes_to_the_backup(arena, git, upstream):
    (arena.root / "requirements.lock").write_text("my own pins\n")
    (upstream.author / "requirements.lock").write_text("torch==2.13.0\n")
    upstream.publish("a lock")
    code, out, err = arena("update")
    assert code == 0, out + err
    assert (arena.root / "requirements.lock").read_text() == "torch==2.13.0\n"
    assert (backups(arena) / "requirements.lock").read_text() == "my own pins\n"
    assert "moved  requirements.lock: the course now has a file of this name; yours is in the backup" in out
    assert "The course's requirements changed: run `.venv/bin/pip install -r requirements.lock -e .`" in out


def test_update_refuses_a_half_done_stash_pop(arena, git, upstream):
    """What a student gets from `git stash && git pull && git stash pop` when upstream changed their
    stub line: conflict markers; arena update says to finish that first, and changes nothing."""
    answer(arena, HELLO, HELLO_STUB, HELLO_ANSWER)
    upstream.change(HELLO, HELLO_STUB, HELLO_NEW_STUB)
    upstream.publish()
    git(arena.root, "stash", "-q")
    git(arena.root, "pull", "-q")
    git(arena.root, "stash", "pop", check=False)
    marked = arena.read("say_hello")
    assert "<<<<<<<" in marked
    code, out, err = arena("update")
    assert code == 2
    assert err.startswith("arena: a git merge, rebase or stash pop is half done") and HELLO in err
    assert arena.read("say_hello") == marked


# --------------------------------------------------------------------------- one-line errors


def test_update_outside_a_git_checkout(arena, git):
    code, out, err = arena("update")
    assert code == 2 and out == ""
    assert err.startswith("arena: ") and "is not a git checkout" in err and len(err.splitlines()) == 1


def test_update_without_an_upstream(arena, git):
    git(arena.root, "init", "-q", "-b", "main")
    git(arena.root, "add", "-A")
    git(arena.root, "commit", "-qm", "the course")
    code, out, err = arena("update")
    assert code == 2
    assert err.startswith("arena: branch main has no upstream branch") and "git remote add" in err
    assert len(err.splitlines()) == 1


def test_update_on_a_branch_without_an_upstream_names_the_remotes_default_branch(arena, git, upstream):
    git(arena.root, "switch", "-q", "-c", "my-work")
    code, out, err = arena("update")
    assert code == 2
    assert err.strip() == (
        "arena: branch my-work has no upstream branch to update from: "
        "`git branch --set-upstream-to origin/main` names one"
    )


def test_update_when_fetching_fails(arena, git, upstream, tmp_path):
    git(arena.root, "remote", "set-url", "origin", str(tmp_path / "moved.git"))
    code, out, err = arena("update")
    assert code == 2
    assert err.startswith("arena: could not fetch from origin (") and "moved.git" in err
    assert "does not appear to be a git repository" in err  # git's reason, not its advice after it
    assert len(err.splitlines()) == 1
