"""Course authors' tools: `arena dev build` (student files from masters) and `arena dev check`.

`build` never loses a student's work: it only replaces a student file that a master generated (see
`generated_earlier`), unless told to with --force, and then after a backup.

`check` is the course's contract: every exercise in the manifests has its four files, nothing is
orphaned, student files are in sync with their masters, hint files have at least two levels, course
files are wrapped at 100 columns (rewrap.py), every reference solution passes its hidden test and every
untouched student file fails it.
"""

from __future__ import annotations

import ast
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from arena_cli.batch import run_many, warm_worker, worker_wanted
from arena_cli.course import Course, CourseError, Exercise, load_course
from arena_cli.further import problems as further_problems
from arena_cli.hints import HintError, load_hints
from arena_cli.layout import Place, chapter_folders, manifest_of
from arena_cli.git import file_at
from arena_cli.local_state import BuildRecord, backup
from arena_cli.markers import MarkerError, student_source, student_source_for, write_student_file
from arena_cli.rewrap import wrap_problems

MIN_HINT_LEVELS = 2
MAX_LEAK = 0.25  # of a solution's code lines, in its exercise's text (see leaks.py)


@dataclass
class BuildResult:
    written: list[Path] = field(default_factory=list)
    unchanged: int = 0
    kept: list[str] = field(default_factory=list)  # student files left as they are: one line each, why
    problems: list[str] = field(default_factory=list)
    backups: Path | None = None  # where --force put the files it replaced


def generated_earlier(ex: Exercise, text: str, record: BuildRecord) -> bool:
    """Whether a student file's `text` is what a previous master generated, so replacing it loses no
    work: the master as committed at git HEAD, or what `dev build` last left there on this machine."""
    if record.generated(ex.rel(ex.exercise_path), text):
        return True
    committed = file_at(ex.root, "HEAD", ex.rel(ex.solution_path))
    if committed is None:
        return False
    try:
        master = committed.decode("utf-8").replace("\r\n", "\n")
        return student_source(master, ex.rel(ex.solution_path)) == text
    except (UnicodeDecodeError, MarkerError):
        return False


def _unwritable(ex: Exercise) -> str | None:
    """Why a student file must not be written at all (not even with --force), or None."""
    path, rel = ex.exercise_path, ex.rel(ex.exercise_path)
    if path.is_symlink():
        return f"{rel}: a symlink (to {os.readlink(path)}); not written: arena never writes through a link (make it a plain file, then build again)"
    if path.exists() and ex.solution_path.exists() and os.path.samefile(path, ex.solution_path):
        return f"{rel}: the same file as its master {ex.rel(ex.solution_path)} (a link); not written, so the master keeps its solution"
    return None


def build(course: Course, force: bool = False) -> BuildResult:
    """Regenerate every student file from its master; only files whose text changes are written. A file
    that isn't what a previous master generated (`generated_earlier`) holds a student's work: it is
    kept, or with `force` copied to .arena/backups/ first. Links are never written through."""
    result = BuildResult()
    record = BuildRecord(course.root)
    to_write: list[tuple[Exercise, str, str, str]] = []
    edited: list[Path] = []
    for ex in course.exercises:
        try:
            master = ex.solution_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            result.problems.append(f"{ex.rel(ex.solution_path)}: master missing for {ex.id}")
            continue
        try:
            fresh = student_source(master, str(ex.solution_path))
        except MarkerError as e:
            result.problems.append(str(e))
            continue
        why_not = _unwritable(ex)
        if why_not:
            result.kept.append(why_not)
            continue
        rel = ex.rel(ex.exercise_path)
        try:
            current = ex.exercise_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        except (OSError, UnicodeDecodeError):
            current = ""  # unreadable as text: not known to be generated
        if current == fresh:
            result.unchanged += 1
            record.note(rel, fresh)
            continue
        if current is not None and not generated_earlier(ex, current, record):
            if not force:
                result.kept.append(
                    f"{rel}: not what its master generated (edited?); not overwritten "
                    "(`arena dev build --force` rewrites it, keeping a copy in .arena/backups/)"
                )
                continue
            edited.append(ex.exercise_path)
        to_write.append((ex, master, rel, fresh))
    if edited:
        result.backups = backup(course.root, edited)
    for ex, master, rel, fresh in to_write:
        write_student_file(ex.exercise_path, master, str(ex.solution_path))
        result.written.append(ex.exercise_path)
        record.note(rel, fresh)
    record.save()
    return result


def build_report(result: BuildResult, console: Console, root: Path) -> int:
    """Print what `dev build` did; 1 if it left a file unwritten or found a problem."""
    from rich.text import Text

    from arena_cli.links import link, linkify

    for path in result.written:
        console.print(Text.assemble("wrote ", link(path, root=root)))
    for line in result.kept:
        console.print(Text.assemble(("kept ", "yellow"), linkify(line, root)), soft_wrap=True)
    kept = f", {len(result.kept)} kept" if result.kept else ""
    console.print(f"{len(result.written)} written, {result.unchanged} unchanged{kept}")
    if result.backups:
        console.print(Text.assemble("the replaced files, as they were: ", link(result.backups, root=root)))
    for problem in result.problems:
        console.print(Text.assemble(("•", "red"), " ", linkify(problem, root)), soft_wrap=True)
    return 1 if result.problems or result.kept else 0


def _orphans(course: Course) -> list[str]:
    """Files in the course folders that no manifest entry accounts for."""
    expected: set[Path] = set()
    chapter_dirs = {c.dir for c in course.chapters}
    for ex in course.exercises:
        expected |= {ex.exercise_path, ex.solution_path, ex.hint_path, ex.test_path}
    problems = []
    for base, pattern in chapter_folders(course.root):
        if not base.is_dir():
            continue
        for chapter in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
            if chapter.name not in chapter_dirs:
                manifest = manifest_of(course.root, chapter.name).relative_to(course.root)
                problems.append(f"{chapter.relative_to(course.root)}: no {manifest.name} in {manifest.parent}")
                continue
            for path in sorted(chapter.glob(pattern)):
                if path not in expected:
                    problems.append(f"{path.relative_to(course.root)}: not an exercise in the manifest")
    return problems


def select(course: Course, names: list[str]) -> tuple[Exercise, ...]:
    """The exercises named by id / file stem, or all those of a chapter named by its folder
    (`2_ioi`) or number (`2`); every exercise when `names` is empty."""
    if not names:
        return course.exercises
    chosen: dict[str, Exercise] = {}
    for name in names:
        chapter = next(
            (c for c in course.chapters if name.strip("/") in (c.dir, c.dir.split("_", 1)[0])), None
        )
        for ex in chapter.exercises if chapter else (course.get(name),):
            chosen[ex.id] = ex
    return tuple(e for e in course.exercises if e.id in chosen)


def _sync_problems(ex: Exercise, fresh: str, record: BuildRecord) -> list[str]:
    """A student file out of date with its master, in words that say what `arena dev build` will do."""
    try:
        current = ex.exercise_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []  # missing: reported as such
    rel = ex.rel(ex.exercise_path)
    if current == fresh:
        return []
    if generated_earlier(ex, current, record):
        return [f"{rel}: out of date with its master (run `arena dev build`)"]
    return [
        f"{rel}: out of date with its master, and not what a master generated (edited?): `arena dev build` "
        "keeps it, `arena dev build --force` rewrites it after a backup"
    ]


def static_problems(course: Course, exercises: tuple[Exercise, ...] | None = None) -> list[str]:
    """Everything `check` finds without running tests (orphan files only when checking everything)."""
    problems: list[str] = []
    record = BuildRecord(course.root)
    for ex in course.exercises if exercises is None else exercises:
        for kind, path in (
            ("student file", ex.exercise_path),
            ("master", ex.solution_path),
            ("hint file", ex.hint_path),
            ("hidden test", ex.test_path),
        ):
            if not path.is_file():
                problems.append(f"{ex.rel(path)}: {kind} missing for exercise {ex.id!r}")
        if ex.solution_path.is_file():
            try:
                problems += _sync_problems(ex, student_source_for(ex.solution_path), record)
            except MarkerError as e:
                problems.append(str(e))
        if ex.hint_path.is_file():
            try:
                hints = load_hints(ex.hint_path)
                if len(hints) < MIN_HINT_LEVELS:
                    problems.append(
                        f"{ex.rel(ex.hint_path)}: {len(hints)} hint level(s), at least {MIN_HINT_LEVELS} needed"
                    )
            except HintError as e:
                problems.append(str(e))
    problems += result_problems(course, exercises)
    problems += leak_problems(course, exercises)
    problems += wrap_problems(course.exercises if exercises is None else exercises)
    if exercises is None:
        problems += _orphans(course)
        problems += [p for c in course.chapters for p in further_problems(course.root, c.dir)]
    return problems


def leak_problems(course: Course, exercises: tuple[Exercise, ...] | None = None) -> list[str]:
    """Exercise texts that give away more than MAX_LEAK of their solution's lines (`arena dev leaks`)."""
    from arena_cli.leaks import leak_of

    problems = []
    for ex in course.exercises if exercises is None else exercises:
        try:
            leak = leak_of(ex)
        except (CourseError, MarkerError):
            continue  # a missing master or broken markers: reported by the file checks
        if leak.fraction > MAX_LEAK:
            problems.append(
                f"{leak.exercise.rel(leak.exercise.solution_path)}: its text gives {len(leak.leaked)} of its "
                f"{leak.lines} solution lines ({leak.fraction:.0%}, at most {MAX_LEAK:.0%}): move the code to the "
                "hints (`arena dev leaks` shows them)"
            )
    return problems


def sibling_loads(source: str, filename: str) -> tuple[set[str], list[str]]:
    """The exercise ids a file's code loads with `load_sibling(..., "id")`, and the places (`file:line`)
    of calls whose id isn't written out (they can't be checked)."""
    try:
        tree = ast.parse(source, filename)
    except (SyntaxError, ValueError):
        return set(), []
    ids, unknown = set(), []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name != "load_sibling":
            continue
        arg = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "exercise_id"), None)
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            ids.add(arg.value)
        else:
            unknown.append(f"{filename}:{node.lineno}")
    return ids, unknown


def result_problems(course: Course, exercises: tuple[Exercise, ...] | None = None) -> list[str]:
    """Where a section's declared `result_needs` differs from what its result's code loads (the
    `load_sibling` calls in its `result_runs` masters), so the declaration can't go stale. Only the
    sections of `exercises` when given."""
    problems = []
    for chapter in course.chapters:
        order = [e.id for e in chapter.exercises]
        for section in chapter.sections:
            if exercises is not None and not set(section.exercises) & set(exercises):
                continue
            loaded: set[str] = set()
            for run in section.result_runs:
                try:
                    ids, unchecked = sibling_loads(run.read_master(), run.rel(run.solution_path))
                except CourseError:
                    continue  # a missing master is a problem of its own
                loaded |= ids
                problems += [f"{place}: load_sibling's exercise id isn't a string: `result_needs` can't be checked"
                             for place in unchecked]
            loaded -= {r.id for r in section.result_runs}
            declared = {e.id for e in section.result_needs}
            where = f"{chapter.manifest.relative_to(course.root)}: section {section.title!r}"
            if loaded - set(order):
                problems.append(f"{where}: its result loads {', '.join(sorted(loaded - set(order)))}, not an exercise of the chapter")
            if (loaded & set(order)) - declared:
                missing = sorted((loaded & set(order)) - declared, key=order.index)
                problems.append(f"{where}: `result_needs` leaves out {', '.join(missing)}, which its result loads (load_sibling)")
            if declared - loaded:
                extra = sorted(declared - loaded, key=order.index)
                problems.append(f"{where}: `result_needs` names {', '.join(extra)}, which its result doesn't load")
    return problems


def test_problems(course: Course, exercises: tuple[Exercise, ...], console: Console, show_bar: bool) -> list[str]:
    """Run every hidden test on the solution (must pass) and on the untouched student file (must fail)."""
    with warm_worker(course.root, worker_wanted(2 * len(exercises))) as worker:
        return _test_problems(exercises, console, show_bar, worker)


def _test_problems(exercises: tuple[Exercise, ...], console: Console, show_bar: bool, worker: Path | None) -> list[str]:
    runnable = [e for e in exercises if e.solution_path.is_file() and e.test_path.is_file()]
    problems = []
    on_solutions = run_many(
        runnable,
        target=lambda e: e.solution_path,
        console=console,
        show_bar=show_bar,
        label="solutions",
        worker=worker,
        restore_course=False,  # the author's own code; the author may be editing masters meanwhile
    )
    for ex, v in on_solutions:
        if not v.passed:
            failure = v.first_failure
            why = v.message or (f"{failure.name}: {failure.message}" if failure else v.status)
            problems.append(f"{ex.rel(ex.solution_path)}: reference does not pass its hidden test ({why})")
    # Untouched student files: generated fresh from the master, so a student's edits don't matter.
    with tempfile.TemporaryDirectory(prefix="arena-check-") as tmp:
        fresh: dict[str, Path] = {}
        for ex in runnable:
            path = Place(Path(tmp), ex.chapter_dir, ex.stem).student_file
            try:
                write_student_file(path, ex.solution_path.read_text(encoding="utf-8"), str(ex.solution_path))
                fresh[ex.id] = path
            except MarkerError:
                pass  # reported by static_problems
        untouched = [e for e in runnable if e.id in fresh]
        on_untouched = run_many(
            untouched,
            target=lambda e: fresh[e.id],
            console=console,
            show_bar=show_bar,
            label="exercises",
            worker=worker,
            restore_course=False,
        )
    for ex, v in on_untouched:
        if v.status != "failed":
            why = v.message or v.status
            problems.append(
                f"{ex.rel(ex.exercise_path)}: the untouched exercise should fail its test cleanly, got {why}"
            )
    return problems


def check(
    course_root: Path | None, console: Console, run_tests: bool = True, names: list[str] | None = None
) -> list[str]:
    """All problems of the course, or of the exercises / chapters in `names` (see `select`)."""
    try:
        course = load_course(course_root)
        exercises = select(course, names or [])
    except CourseError as e:
        return [str(e)]
    problems = static_problems(course, exercises if names else None)
    if run_tests:
        problems += test_problems(course, exercises, console, show_bar=console.is_terminal)
    return problems


def report(problems: list[str], console: Console, ran_tests: bool = True) -> int:
    if not problems:
        tested = "; every solution passes and every exercise fails as shipped" if ran_tests else ""
        console.print(f"[green]✓ course is consistent{tested}.[/]")
        return 0
    from arena_cli.course import find_root
    from arena_cli.links import linkify

    root = find_root()
    console.print(f"[red]{len(problems)} problem(s):[/]")
    for p in problems:
        console.print(linkify(f"  • {p}", root), soft_wrap=True)
    return 1

