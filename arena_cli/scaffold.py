"""`arena dev new`: a new exercise's four files and its manifest entry, in the right place.

The entry goes into the chapter's manifest right after an existing exercise (`--after`), so it joins that
exercise's section. A code exercise takes the next number and every later exercise of the chapter moves
up one (their four files are renamed, questions' `NNq` labels with them); a question takes the label of the
code exercise before it (`05q`) and renames nothing. The files are a start, not an exercise: a master whose
reference raises NotImplementedError, a hidden test comparing the student's function with it, two hint
levels saying what to write. `arena dev check` fails on them until the author has written all three, as it
should.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from arena_cli.course import Course, CourseError, Exercise, load_course
from arena_cli.markers import write_student_file

_ID = re.compile(r"^[a-z][a-z0-9_]*$")

_CODE_MASTER = '''"""{title}
{underline}

Difficulty: {difficulty}/5    Importance: {importance}/5    Time: ~{minutes} minutes

(What the exercise teaches: the idea, the shapes, the library facts a student can't guess. The code
goes in the hints.)
"""


def {id}(x):
    """(What it returns.)"""
    # SOLUTION
    raise NotImplementedError("write the reference solution of {id}")
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError("(what to do, in one line)")
    # END EXERCISE
'''

_QUESTION_MASTER = '''"""{title}
{underline}

Difficulty: {difficulty}/5    Importance: {importance}/5    Time: ~{minutes} minutes

(The question, asked before the section's result is run, and its options A, B, C.)
"""

# SOLUTION
ANSWER = "(the right option)"
# END SOLUTION
# EXERCISE
# ANSWER = None  # one of "A", "B", "C"
# END EXERCISE
'''

_CODE_TEST = '''"""Hidden test for {id}: (what it checks, on what inputs)."""

import torch

from arena_cli.testing import assert_close, call_student


def test_matches_the_reference(student, reference):
    """Matches the reference on a small seeded input"""
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    assert_close(call_student(student.{id}, x), reference.{id}(x), name="{id}(x)", mistakes={{}})
'''

_QUESTION_TEST = '''"""Hidden test for {id}: the answer, each wrong option with its own diagnosis."""

from arena_cli.testing import check_answer


def test_answer(student):
    """Your prediction"""
    check_answer(student.ANSWER, "(the right option)", wrong={{
        "(a wrong option)": "(why it is tempting, and what it misses)",
    }})
'''

_HINTS = """## Hint 1
(A nudge: what to think about first.)

## Hint 2
(The structure of the answer.)
"""

_QUESTION_HINTS = _HINTS + """
## Explanation
(What the answer is and why: shown once the student's answer passes.)
"""


@dataclass
class Scaffolded:
    exercise: Exercise
    created: list[Path] = field(default_factory=list)
    renamed: list[tuple[Path, Path]] = field(default_factory=list)


def _entry(exercise_id: str, title: str, kind: str) -> str:
    kind_line = 'kind = "question"\n' if kind == "question" else ""
    return (f'[[sections.exercises]]\nid = "{exercise_id}"\ntitle = "{title}"\n{kind_line}'
            "difficulty = 2\nimportance = 3\nminutes = 10\n")


def _insert_after(manifest: str, after_id: str, entry: str) -> str:
    """The manifest's text with `entry` as a table right after the exercise table of `after_id`."""
    lines = manifest.splitlines(keepends=True)
    at = next((i for i, ln in enumerate(lines) if ln.strip() == f'id = "{after_id}"'), None)
    if at is None:
        raise CourseError(f"no exercise table with id = \"{after_id}\" in the manifest")
    end = next((i for i in range(at + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    while end > at + 1 and not lines[end - 1].strip():
        end -= 1  # keep the blank line(s) before the next table after the new one
    before, after = "".join(lines[:end]), "".join(lines[end:])
    return before.rstrip("\n") + "\n\n" + entry + ("\n" + after.lstrip("\n") if after.strip() else "")


def new_exercise(course: Course, exercise_id: str, after: str, kind: str = "code", title: str = "") -> Scaffolded:
    """Add `exercise_id` after the exercise `after`: manifest entry, renames, the four files."""
    if not _ID.match(exercise_id):
        raise CourseError(f"{exercise_id!r}: an id is lowercase letters, digits and _, starting with a letter")
    if kind not in ("code", "question"):
        raise CourseError(f"kind must be code or question, not {kind!r}")
    if any(e.id == exercise_id for e in course.exercises):
        raise CourseError(f"there is already an exercise {exercise_id!r}")
    anchor = course.get(after)
    chapter = course.chapter_of(anchor)
    title = title or exercise_id.replace("_", " ").capitalize()
    old_places = {e.id: e for e in chapter.exercises}

    text = chapter.manifest.read_text(encoding="utf-8")
    chapter.manifest.write_text(_insert_after(text, after, _entry(exercise_id, title, kind)), encoding="utf-8")
    try:
        new_course = load_course(course.root)
    except CourseError:
        chapter.manifest.write_text(text, encoding="utf-8")  # leave the course as it was
        raise
    result = Scaffolded(new_course.get(exercise_id))

    # Later exercises whose label changed: their four files move (deepest number first, so no rename
    # lands on a file that hasn't moved yet).
    moves = []
    for ex in new_course.chapter_of(result.exercise).exercises:
        old = old_places.get(ex.id)
        if old is not None and old.stem != ex.stem:
            for name in ("exercise_path", "solution_path", "hint_path", "test_path"):
                moves.append((getattr(old, name), getattr(ex, name)))
    for src, dst in sorted(moves, key=lambda m: str(m[0]), reverse=True):
        if src.exists():
            src.rename(dst)
            result.renamed.append((src, dst))

    ex = result.exercise
    fields = dict(id=exercise_id, title=title, underline="=" * len(title), difficulty=ex.difficulty,
                  importance=ex.importance, minutes=ex.minutes)
    question = kind == "question"
    files = {
        ex.solution_path: (_QUESTION_MASTER if question else _CODE_MASTER).format(**fields),
        ex.hint_path: _QUESTION_HINTS if question else _HINTS,
        ex.test_path: (_QUESTION_TEST if question else _CODE_TEST).format(**fields),
    }
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        result.created.append(path)
    write_student_file(ex.exercise_path, files[ex.solution_path], str(ex.solution_path))
    result.created.insert(0, ex.exercise_path)
    return result
