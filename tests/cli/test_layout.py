"""The layout (arena_cli/layout.py): what a hidden test, a result or the catalogue is handed leads to the
same files."""

from __future__ import annotations

import pytest

from arena_cli.course import load_course
from arena_cli.layout import Place, chapter_file
from arena_course.loading import load_sibling


def test_every_file_of_an_exercise_leads_back_to_its_place(arena):
    for ex in load_course(arena.root).exercises:
        assert Place.of_test(ex.test_path) == ex.place
        assert chapter_file(ex.solution_path.parent, ex.id) == ex.solution_path
        assert chapter_file(ex.exercise_path.parent, ex.id) == ex.exercise_path
        assert [p.is_file() for p in (ex.exercise_path, ex.solution_path, ex.hint_path, ex.test_path)] == [True] * 4


def test_load_sibling_imports_a_chapter_neighbour_once(arena):
    here = arena.master_path("say_hello")
    first = load_sibling(here, "add_numbers")
    assert first.add(2, 3) == 5 and load_sibling(str(here), "add_numbers") is first
    with pytest.raises(FileNotFoundError, match="no exercise file for 'no_such'"):
        load_sibling(here, "no_such")
