"""The course catalogue: chapter manifests loaded into frozen dataclasses, validated on load.

One source of truth: `exercises/<N>_<chapter>/chapter.toml` lists the sections in order, each with its
learning objectives and exercises in order, and the result it ends in: `result` (in words),
`result_runs` (the exercise files whose `__main__` makes it) and `result_needs` (the other exercises
whose code those files load with `load_sibling`; `arena dev check` holds the two together). An
exercise's files follow from its chapter, position and id (`layout.Place`: its student file, master,
hint file and hidden test). Every value is checked on load (`load_chapter`): a wrong type, a number out
of range or an unknown key is one CourseError naming the file, the table and the key.

Must stay free of heavy imports: `next`, `list`, `hint` and `progress` only read this and progress.json.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from arena_cli import layout
from arena_cli.layout import Place, is_course_root, stem

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MEMORY_MB = 6144  # per test run: far above any hidden test, well below this 24 GiB machine
ROOT_ENV = "ARENA_ROOT"
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_CHAPTER_DIR_RE = re.compile(r"^(\d+)_([a-z][a-z0-9_]*)$")


class CourseError(Exception):
    """The course files are inconsistent; the message names the file (and line where known)."""


def _place_file(name: str) -> property:
    """An exercise's file: its `layout.Place`'s `name`."""
    return property(lambda exercise: getattr(exercise.place, name))


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    difficulty: int
    importance: int
    minutes: int
    timeout_s: float
    memory_mb: int
    number: int  # 1-based position in its chapter
    label: str  # "05": the 5th code exercise of the chapter; "05q": a question after it (file names, lists)
    chapter_id: str
    chapter_dir: str
    section_index: int  # 0-based, within the chapter
    first_in_section: bool
    root: Path

    kind: str = "code"  # or "question"

    @property
    def stem(self) -> str:
        return stem(self.label, self.id)

    @property
    def place(self) -> Place:
        return Place(self.root, self.chapter_dir, self.stem)

    # Its files, where the layout puts them (Paths).
    exercise_path = _place_file("student_file")  # the student's file (generated from the master)
    solution_path = _place_file("master")  # the reference solution, with markers
    hint_path = _place_file("hint_file")
    test_path = _place_file("test_file")  # the hidden test

    def read_master(self) -> str:
        """The master's text; a clear course error if it can't be read."""
        try:
            return self.solution_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            reason = "missing" if isinstance(e, FileNotFoundError) else f"unreadable ({e})"
            raise CourseError(f"{self.rel(self.solution_path)}: the master of {self.id!r} is {reason}") from None

    def rel(self, path: Path) -> str:
        """A path relative to the course root, as VSCode's terminal makes clickable."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


@dataclass(frozen=True)
class Section:
    title: str
    objectives: tuple[str, ...]
    exercises: tuple[Exercise, ...]
    result: str  # what the section ends with, in words
    result_runs: tuple[Exercise, ...] = ()  # exercise files whose __main__ produces the result, in order
    # The other exercises whose code the result runs (each `load_sibling` in those files; `arena dev
    # check` holds the two together): the result waits until they pass too.
    result_needs: tuple[Exercise, ...] = ()

    @property
    def result_uses(self) -> tuple[Exercise, ...]:
        """Every exercise whose code the result runs: its own files' and those they load."""
        return self.result_runs + tuple(e for e in self.result_needs if e not in self.result_runs)


@dataclass(frozen=True)
class Chapter:
    id: str
    dir: str
    title: str
    summary: str
    papers: tuple[str, ...]
    sections: tuple[Section, ...]
    manifest: Path

    @property
    def exercises(self) -> tuple[Exercise, ...]:
        return tuple(e for s in self.sections for e in s.exercises)


@dataclass(frozen=True)
class Course:
    root: Path
    chapters: tuple[Chapter, ...]

    @cached_property
    def exercises(self) -> tuple[Exercise, ...]:
        return tuple(e for c in self.chapters for e in c.exercises)

    @cached_property
    def _by_id(self) -> dict[str, Exercise]:
        return {e.id: e for e in self.exercises}

    def get(self, exercise_id: str) -> Exercise:
        """The exercise with this id (or `NN_id` file stem); a clear error listing close matches."""
        key = exercise_id.strip().removesuffix(".py").split("/")[-1]
        if key in self._by_id:
            return self._by_id[key]
        by_stem = {e.stem: e for e in self.exercises}
        if key in by_stem:
            return by_stem[key]
        ids = [e.id for e in self.exercises]
        close = [i for i in ids if key and key in i] + difflib.get_close_matches(key, ids, n=5, cutoff=0.6)
        close = list(dict.fromkeys(close))[:5]
        suggestion = f" Did you mean: {', '.join(close)}?" if close else " See `arena list`."
        raise CourseError(f"Unknown exercise {exercise_id!r}.{suggestion}")

    def chapters_matching(self, name: str) -> list[Chapter]:
        """The chapters whose id, folder or number (`3`) is `name`, or whose title contains it (any
        case); a clear error with the close matches if none does."""
        key = name.strip().strip("/").lower()
        matching = [c for c in self.chapters
                    if key in (c.id, c.dir, c.dir.split("_", 1)[0]) or key in c.title.lower()]
        if not matching:
            close = difflib.get_close_matches(key, [c.id for c in self.chapters], n=3, cutoff=0.6)
            names = ", ".join(f"{c.dir.split('_', 1)[0]} {c.id}" for c in self.chapters)
            mean = f" Did you mean {' or '.join(close)}?" if close else ""
            raise CourseError(f"No chapter matches {name!r}.{mean} Chapters: {names}")
        return matching

    def chapter_of(self, exercise: Exercise) -> Chapter:
        return next(c for c in self.chapters if c.id == exercise.chapter_id)

    def section_of(self, exercise: Exercise) -> Section:
        return self.chapter_of(exercise).sections[exercise.section_index]

    def after(self, exercise: Exercise) -> Exercise | None:
        i = self.exercises.index(exercise)
        return self.exercises[i + 1] if i + 1 < len(self.exercises) else None


def find_root(start: Path | None = None) -> Path:
    """The course root: $ARENA_ROOT, else the nearest folder up from here holding `exercises/`,
    else the checkout this package was installed from."""
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV]).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_course_root(folder):
            return folder
    return Path(__file__).resolve().parents[1]


# The manifest's schema: every key a table may have (anything else is a typo, said in one line).
CHAPTER_KEYS = frozenset({"title", "summary", "papers", "sections"})
SECTION_KEYS = frozenset({"title", "objectives", "result", "result_runs", "result_needs", "exercises"})
EXERCISE_KEYS = frozenset({"id", "title", "kind", "difficulty", "importance", "minutes", "timeout", "memory_mb"})
KINDS = ("code", "question")  # a question's answer is a value in the file (see testing.check_answer)
MAX_MINUTES = 480
MAX_TIMEOUT_S = 600.0  # a hidden test runs in seconds; a longer limit only delays a hung run's verdict
MAX_MEMORY_MB = 65536
_KIND_NAMES = {str: "a string", int: "a whole number", float: "a number", list: "a list"}


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _known_keys(table: dict, known: frozenset[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise CourseError(f"{where}: unknown key `{unknown[0]}` (known: {', '.join(sorted(known))})")


def _require(table: dict, key: str, kind: type, where: str):
    """table[key], which must be there and of `kind` (an int is a float; a bool is neither)."""
    if key not in table:
        raise CourseError(f"{where}: missing `{key}`")
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
        raise CourseError(f"{where}: `{key}` must be {_KIND_NAMES.get(kind, kind.__name__)}, got {_shown(value)}")
    return value


def _optional(table: dict, key: str, kind: type, where: str, default):
    return _require(table, key, kind, where) if key in table else default


def _whole(table: dict, key: str, where: str, low: int, high: int, default: int | None = None) -> int:
    """A whole number in [low, high]; required unless there is a default."""
    value = _require(table, key, int, where) if default is None or key in table else default
    if not low <= value <= high:
        raise CourseError(f"{where}: `{key}` must be {low}-{high}, got {value}")
    return value


def _seconds(table: dict, key: str, where: str, default: float) -> float:
    """A time limit: a finite number of seconds in (0, MAX_TIMEOUT_S] (nan would disable it)."""
    value = _optional(table, key, float, where, default)
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT_S):
        raise CourseError(
            f"{where}: `{key}` must be a number of seconds above 0 and at most {MAX_TIMEOUT_S:g}, got {value}"
        )
    return value


def _strings(table: dict, key: str, where: str, required: bool = False) -> tuple[str, ...]:
    """A list of strings (an empty one if absent and not required)."""
    if required and key not in table:
        raise CourseError(f"{where}: missing `{key}`")
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CourseError(f"{where}: `{key}` must be a list of strings, got {_shown(value)}")
    return tuple(value)


def _tables(table: dict, key: str, where: str, header: str) -> list[dict]:
    """A non-empty array of tables (`[[header]]` in the manifest)."""
    value = table.get(key)
    if value is None or value == []:
        raise CourseError(f"{where}: needs at least one [[{header}]] table")
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise CourseError(f"{where}: `{key}` must be an array of tables ([[{header}]]), got {_shown(value)}")
    return value


def _exercise_list(table: dict, key: str, where: str, known: dict[str, Exercise]) -> tuple[Exercise, ...]:
    """A list of exercise ids (of this chapter so far) in a section's `key`, as the exercises."""
    ids = table.get(key, [])
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise CourseError(f"{where}: `{key}` must be a list of exercise ids, got {_shown(ids)}")
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise CourseError(f"{where}: `{key}` names {unknown[0]!r}, not an exercise of this chapter so far")
    return tuple(known[i] for i in ids)


def load_chapter(manifest: Path, root: Path) -> Chapter:
    """One chapter from its manifest, every value checked: a wrong one is a CourseError naming the
    file, the table (chapter, section or exercise) and the key."""
    chapter_dir = manifest.parent.name
    match = _CHAPTER_DIR_RE.match(chapter_dir)
    if not match:
        raise CourseError(f"{manifest}: chapter folder must be named like `1_superposition`")
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise CourseError(f"{manifest}: invalid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CourseError(f"{manifest}: cannot read: {e}") from None
    chapter_id = match.group(2)
    _known_keys(data, CHAPTER_KEYS, str(manifest))
    title = _require(data, "title", str, str(manifest))
    summary = _optional(data, "summary", str, str(manifest), "").strip()
    papers = _strings(data, "papers", str(manifest))
    sections: list[Section] = []
    number = 0
    code_exercises = 0
    for s_index, s in enumerate(_tables(data, "sections", str(manifest), "sections")):
        s_where = f"{manifest}: section {s_index + 1}"
        s_title = _require(s, "title", str, s_where)
        s_where = f"{manifest}: section {s_title!r}"
        _known_keys(s, SECTION_KEYS, s_where)
        objectives = _strings(s, "objectives", s_where, required=True)
        result = _optional(s, "result", str, s_where, "")
        exercises = []
        for e_index, e in enumerate(_tables(s, "exercises", s_where, "sections.exercises")):
            number += 1
            e_where = f"{s_where}, exercise {e_index + 1}"
            ex_id = _require(e, "id", str, e_where)
            if not _ID_RE.match(ex_id):
                raise CourseError(f"{e_where}: id {ex_id!r} must be lowercase letters, digits and _")
            e_where = f"{manifest}: exercise {ex_id!r}"
            _known_keys(e, EXERCISE_KEYS, e_where)
            kind = _optional(e, "kind", str, e_where, "code")
            if kind not in KINDS:
                raise CourseError(f"{e_where}: `kind` must be one of {', '.join(KINDS)}, got {kind!r}")
            code_exercises += kind == "code"
            label = f"{code_exercises:02d}" + ("q" if kind == "question" else "")
            exercises.append(
                Exercise(
                    id=ex_id,
                    title=_require(e, "title", str, e_where),
                    difficulty=_whole(e, "difficulty", e_where, 1, 5),
                    importance=_whole(e, "importance", e_where, 1, 5),
                    minutes=_whole(e, "minutes", e_where, 1, MAX_MINUTES),
                    timeout_s=_seconds(e, "timeout", e_where, DEFAULT_TIMEOUT_S),
                    memory_mb=_whole(e, "memory_mb", e_where, 1, MAX_MEMORY_MB, default=DEFAULT_MEMORY_MB),
                    number=number,
                    label=label,
                    chapter_id=chapter_id,
                    chapter_dir=chapter_dir,
                    section_index=s_index,
                    first_in_section=e_index == 0,
                    root=root,
                    kind=kind,
                )
            )
        chapter_so_far = {e.id: e for sec in sections for e in sec.exercises} | {e.id: e for e in exercises}
        sections.append(
            Section(
                s_title,
                objectives,
                tuple(exercises),
                result,
                _exercise_list(s, "result_runs", s_where, chapter_so_far),
                _exercise_list(s, "result_needs", s_where, chapter_so_far),
            )
        )
    return Chapter(
        id=chapter_id,
        dir=chapter_dir,
        title=title,
        summary=summary,
        papers=papers,
        sections=tuple(sections),
        manifest=manifest,
    )


def load_course(root: Path | None = None) -> Course:
    """Load every chapter under `<root>/exercises`, in the order of their folder numbers."""
    root = (root or find_root()).resolve()
    manifests = sorted(
        layout.manifests(root),
        key=lambda p: (int(m.group(1)) if (m := _CHAPTER_DIR_RE.match(p.parent.name)) else 0, p),
    )
    if not manifests:
        if os.environ.get(ROOT_ENV):
            raise CourseError(f"No course in {ROOT_ENV}={os.environ[ROOT_ENV]} (no "
                              f"{layout.manifest_of(root, '<N>_<name>')}): set it to the course folder")
        raise CourseError(f"No course here: run arena from the course folder, or set {ROOT_ENV} to it")
    chapters = tuple(load_chapter(m, root) for m in manifests)
    seen: dict[str, Path] = {}
    for chapter in chapters:
        for ex in chapter.exercises:
            if ex.id in seen:
                raise CourseError(
                    f"{chapter.manifest}: exercise id {ex.id!r} is already used in {seen[ex.id]}"
                )
            seen[ex.id] = chapter.manifest
    return Course(root=root, chapters=chapters)
