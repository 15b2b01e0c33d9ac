"""Unit tests: master-file markers (`arena_cli.markers`) and hint files (`arena_cli.hints`)."""

from __future__ import annotations

import pytest

from arena_cli.hints import HintError, load_hints, parse_hints
from arena_cli.markers import MarkerError, solution_source, student_source

# --------------------------------------------------------------------------- markers

MASTER = '''"""A module."""

import torch


class Model:
    def forward(self, x):
        h = x @ self.W
        # SOLUTION
        out = torch.relu(h)
        return out
        # END SOLUTION
        # EXERCISE
        # # compute the output
        # raise NotImplementedError("apply ReLU")
        #
        #     indented = "kept relative indentation"
        # END EXERCISE


def helper():
    # SOLUTION
    return 1
    # END SOLUTION
'''


def test_student_source_replaces_indented_blocks():
    assert student_source(MASTER) == '''"""A module."""

import torch


class Model:
    def forward(self, x):
        h = x @ self.W
        # compute the output
        raise NotImplementedError("apply ReLU")

            indented = "kept relative indentation"


def helper():
'''


def test_solution_source_drops_markers_and_exercise_blocks():
    assert solution_source(MASTER) == '''"""A module."""

import torch


class Model:
    def forward(self, x):
        h = x @ self.W
        out = torch.relu(h)
        return out


def helper():
    return 1
'''


def test_student_source_keeps_files_without_trailing_newline():
    master = "def f():\n    # SOLUTION\n    return 1\n    # END SOLUTION\n    # EXERCISE\n    # return 0\n    # END EXERCISE"
    assert student_source(master) == "def f():\n    return 0\n"


@pytest.mark.parametrize(
    "master, message",
    [
        ("x = 1\n# SOLUTION\nx = 2\n", "m.py:2: # SOLUTION block is never closed"),
        ("# SOLUTION\nx = 2\n# END SOLUTION\n# EXERCISE\n# x = 0\n", "m.py:4: # EXERCISE block is never closed"),
        ("x = 1\n\n# END SOLUTION\n", "m.py:3: # END SOLUTION does not close anything (no open block)"),
        (
            "# SOLUTION\nx = 2\n# END EXERCISE\n",
            "m.py:3: # END EXERCISE does not close anything (the # SOLUTION block opened at line 1)",
        ),
        ("# SOLUTION\n    # SOLUTION\n", "m.py:2: # SOLUTION inside the # SOLUTION block opened at line 1"),
        (
            "# SOLUTION\nx = 2\n# END SOLUTION\n# EXERCISE\nraise NotImplementedError\n# END EXERCISE\n",
            "m.py:5: lines inside an EXERCISE block must be commented out",
        ),
        (
            "def f():\n    # SOLUTION\n    return 1\n    # END SOLUTION\n    # EXERCISE\n# return 0\n    # END EXERCISE\n",
            "m.py:6: lines inside an EXERCISE block must be commented out",
        ),
        ("x = 1\n", "m.py: no `# SOLUTION` block"),
    ],
)
def test_marker_errors_name_file_and_line(master, message):
    with pytest.raises(MarkerError) as info:
        student_source(master, "m.py")
    assert str(info.value).startswith(message)
    with pytest.raises(MarkerError):
        solution_source(master, "m.py")


# --------------------------------------------------------------------------- hints


def test_parse_hints_levels_in_order():
    hints = parse_hints("# Title\nintro, not a level\n\n## Hint 1\nA nudge.\n\n## Hint 2\nMore.\n\n## Help: all the same\nSymptom.\n")
    assert [(h.level, h.title, h.body) for h in hints] == [
        (1, "Hint 1", "A nudge."),
        (2, "Hint 2", "More."),
        (3, "Help: all the same", "Symptom."),
    ]


def test_parse_hints_code_fences_containing_headings_do_not_split():
    text = (
        "## Hint 1\n"
        "Look at this:\n"
        "```python\n"
        "## not a heading: a comment in code\n"
        "x = 1\n"
        "```\n"
        "After the fence.\n"
        "## Hint 2\n"
        "   ```\n"
        "## still code\n"
        "   ```\n"
    )
    hints = parse_hints(text)
    assert [h.title for h in hints] == ["Hint 1", "Hint 2"]
    assert "## not a heading: a comment in code" in hints[0].body
    assert hints[0].body.endswith("After the fence.")
    assert "## still code" in hints[1].body


def test_parse_hints_needs_a_space_after_the_hashes():
    hints = parse_hints("## Hint 1\nbody\n### Sub-heading\nmore\n##NoSpace\n")
    assert len(hints) == 1
    assert "### Sub-heading" in hints[0].body and "##NoSpace" in hints[0].body


def test_parse_hints_without_headings_is_empty():
    assert parse_hints("Just text.\n# A title\n") == []


def test_load_hints_errors_name_the_file(tmp_path):
    missing = tmp_path / "01_x.md"
    with pytest.raises(HintError, match=r"01_x\.md: hint file is missing"):
        load_hints(missing)
    missing.write_text("no levels\n")
    with pytest.raises(HintError, match=r"01_x\.md: no hint levels"):
        load_hints(missing)
    missing.write_text("## Hint 1\nok\n## Hint 2\n\n")
    with pytest.raises(HintError, match=r"01_x\.md: hint level 2 .* is empty"):
        load_hints(missing)
    missing.write_bytes(b"## Hint 1\n\xff\n")
    with pytest.raises(HintError, match=r"01_x\.md: cannot read"):
        load_hints(missing)


def test_without_docstrings_keeps_the_code_and_its_comments():
    from arena_cli.markers import without_docstrings

    source = '''"""Module text."""

import torch


class Model:
    """Class text,
    on two lines."""

    def forward(self, x):
        """Method text."""
        # a comment stays
        return x  # so does this one


def f():
    """Only a docstring."""
'''
    out = without_docstrings(source)
    assert "text" not in out.lower()
    assert "# a comment stays" in out and "return x  # so does this one" in out and "def f():" in out
    assert not out.startswith("\n") and "\n\n\n" not in out
