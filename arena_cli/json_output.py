"""`--json`: the shapes `next`, `list` and `progress` print (a verdict's is `Verdict.to_json`), and how
any of them is printed: strict JSON, NaN and infinities as null."""

from __future__ import annotations

import json
import math
import sys

from arena_cli.course import Course, Exercise
from arena_cli.progress import Progress


def _strict(value: object) -> object:
    """NaN and infinities are not JSON: they become null (the message says what they were)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def emit_json(data: object) -> None:
    sys.stdout.write(json.dumps(_strict(data), indent=2, allow_nan=False) + "\n")


def exercise_json(course: Course, ex: Exercise, progress: Progress) -> dict:
    section = course.section_of(ex)
    entry = progress.find(ex.id)
    return {
        "id": ex.id,
        "path": ex.rel(ex.exercise_path),
        "title": ex.title,
        "chapter": course.chapter_of(ex).title,
        "section": section.title,
        "number": ex.number,
        "difficulty": ex.difficulty,
        "importance": ex.importance,
        "minutes": ex.minutes,
        "objectives": list(section.objectives) if ex.first_in_section else [],
        "status": progress.status(ex.id),
        "attempts": entry.attempts,
        "hints": entry.hints,
    }


def progress_json(course: Course, progress: Progress) -> dict:
    return {
        "chapters": [
            {
                "id": c.id,
                "title": c.title,
                "done": sum(progress.find(e.id).done for e in c.exercises),
                "total": len(c.exercises),
            }
            for c in course.chapters
        ],
        "done": sum(progress.find(e.id).done for e in course.exercises),
        "total": len(course.exercises),
        "current": progress.current,
    }
