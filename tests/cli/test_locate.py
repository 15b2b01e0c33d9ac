"""Where a failed check without a traceback points in the student's file: the function under test, read
from the hidden test's `student.NAME` and the student's syntax tree."""

from __future__ import annotations

import textwrap
from pathlib import Path

from arena_cli.locate import where_to_look

STUDENT = '''\
"""A student's file."""
import torch


def helper(x):
    return x + 1


def scale(x, k):
    """Scale x by k."""
    return x * k


def unwritten(x):
    """Not yet."""
    y = x
    raise NotImplementedError("write me")


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return x

    def reset(self):
        pass
'''


def files(tmp_path: Path, test_source: str) -> tuple[Path, Path]:
    student = tmp_path / "student.py"
    student.write_text(STUDENT)
    test = tmp_path / "test_it.py"
    test.write_text(textwrap.dedent(test_source))
    return student, test


def line_of(path: Path, fragment: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if fragment in line)


def test_the_def_line_of_the_function_the_failing_statement_calls(tmp_path):
    student, test = files(
        tmp_path,
        """
        def test_scale(student, reference):
            a = student.helper(1)
            assert_close(
                student.scale(a, 2),
                reference.scale(a, 2),
            )
        """,
    )
    failing = line_of(test, "assert_close(")  # a call spread over lines fails on its first line
    assert where_to_look(student, test, "test_scale", failing) == (line_of(student, "def scale"), 1)
    # The failing line decides: an earlier statement's function when it is the one that failed.
    assert where_to_look(student, test, "test_scale", line_of(test, "student.helper")) == (5, 1)


def test_a_function_still_raising_not_implemented_points_at_the_raise(tmp_path):
    student, test = files(
        tmp_path,
        """
        def test_unwritten(student):
            out = student.unwritten(3)
            assert out == 3
        """,
    )
    assert where_to_look(student, test, "test_unwritten", line_of(test, "assert out")) == (
        line_of(student, "raise NotImplementedError"),
        5,
    )


def test_a_class_points_at_the_method_called_else_forward(tmp_path):
    student, test = files(
        tmp_path,
        """
        def test_forward(student):
            model = student.Model()
            assert model(1) == 2

        def test_reset(student):
            model = student.Model()
            model.reset()
            assert model.state == 0
        """,
    )
    assert where_to_look(student, test, "test_forward", line_of(test, "model(1)")) == (
        line_of(student, "def forward"),
        5,
    )
    assert where_to_look(student, test, "test_reset", line_of(test, "model.state")) == (
        line_of(student, "def reset"),
        5,
    )


def test_a_function_used_through_a_fixture_is_found_in_the_test_file(tmp_path):
    student, test = files(
        tmp_path,
        """
        import pytest

        @pytest.fixture
        def scaled(student):
            return student.scale(2, 3)

        def test_value(scaled):
            assert scaled == 7
        """,
    )
    assert where_to_look(student, test, "test_value", line_of(test, "scaled == 7")) == (line_of(student, "def scale"), 1)


def test_without_a_known_function_the_first_not_implemented(tmp_path):
    student, test = files(tmp_path, "def test_nothing():\n    assert False\n")
    assert where_to_look(student, test, "test_nothing", 2) == (line_of(student, "raise NotImplementedError"), 5)
    student.write_text("def f():\n    return 1\n")
    assert where_to_look(student, test, "test_nothing", 2) is None


def test_unreadable_files_give_no_place(tmp_path):
    student, test = files(tmp_path, "def test_x(student):\n    assert student.scale(1, 2) == 3\n")
    student.write_text("def scale(:\n")  # a syntax error is reported by the load error, not here
    assert where_to_look(student, test, "test_x", 2) is None
    assert where_to_look(tmp_path / "missing.py", test, "test_x", 2) is None
