"""`--json`: the shapes `next`, `list`, `progress` and `update` print (a verdict's is `Verdict.to_json`), and how
any of them is printed: strict JSON, NaN and infinities as null."""

from __future__ import annotations

import json
import math
import sys
from typing import TYPE_CHECKING

from arena_cli.course import Course, Exercise
from arena_cli.progress import Progress

if TYPE_CHECKING:  # (only `arena update` needs it; the other commands start faster without)
    from arena_cli.update import UpdateReport


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
        "label": ex.label,
        "kind": ex.kind,
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


def update_json(report: UpdateReport) -> dict:
    return {
        "status": "up_to_date" if report.up_to_date else "updated",
        "upstream": report.upstream,
        "old": report.old,
        "new": report.new,
        "new_commits": report.new_commits,
        "merged": report.merged,
        "conflicted": [{"path": rel, "new_stub": stub} for rel, stub in report.conflicted],
        "gone": [{"path": rel, "renamed_to": renamed} for rel, renamed in report.gone],
        "carried": report.carried,
        "replaced": report.replaced,
        "backups": str(report.backups) if report.backups else None,
        "branch": report.branch,
        "requirements_changed": report.requirements_changed,
    }
