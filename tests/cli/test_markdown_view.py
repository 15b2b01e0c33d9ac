"""Hints and explanations are drawn by arena_cli/markdown_view.py, not rich's Markdown (markdown-it and
pygments cost more to import than the rest of `arena hint`): what a student reads must be the same text,
re-flowed to the terminal, with Markdown's markers gone and code kept as written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from arena_cli.course import load_course
from arena_cli.hints import load_hints
from arena_cli.markdown_view import CODE_STYLE, inline, markdown_view

ROOT = Path(__file__).resolve().parents[2]

HINT = """A uniform draw `u` is below `p` with probability exactly `p`. So
`torch.rand(shape) < p` is *True* with probability p, **whatever** the shape.

```python
present = torch.rand(shape) < ____
    return torch.where(present, ____, 0.0)  # indentation kept, this line is long enough to fold at forty
```

- one item whose text is long enough that it has to wrap onto a second line
- two *em*
1. numbered

> a quote
| a | b |
"""


def render(text: str, width: int = 40) -> list[str]:
    console = Console(width=width, record=True, force_terminal=False, color_system=None)
    console.print(markdown_view(text))
    return [line.rstrip() for line in console.export_text().splitlines()]


def test_paragraphs_reflow_to_the_width_and_lose_their_markers():
    lines = render(HINT)
    assert all(len(line) <= 40 for line in lines)
    prose = " ".join(line.strip() for line in lines[: lines.index("")])
    assert prose == ("A uniform draw u is below p with probability exactly p. So torch.rand(shape) < p is True "
                     "with probability p, whatever the shape.")


def test_code_keeps_its_lines_and_indentation_and_a_long_line_goes_on_further_in():
    lines = render(HINT)
    assert "  present = torch.rand(shape) < ____" in lines
    start = lines.index("      return torch.where(present, ____,")
    rest = lines[start + 1: lines.index("", start)]
    assert rest == ["          0.0)  # indentation kept,", "          this line is long enough to",
                    "          fold at forty"]


def test_list_items_hang_under_their_text_and_quotes_and_tables_show():
    lines = render(HINT)
    first = lines.index("• one item whose text is long enough")
    assert lines[first + 1] == "  that it has to wrap onto a second line"
    assert "• two em" in lines and "1. numbered" in lines
    assert lines[first + 2:first + 4] == ["• two em", "1. numbered"]  # no blank line between items
    assert "  a quote" in lines and "| a | b |" in lines


def test_earlier_levels_are_one_line_without_markdown_markers():
    from arena_cli.hints import Hint
    from arena_cli.render import hints_view

    hints = [Hint(1, "Hint 1", "Use `torch.rand` and **not** *randn*."), Hint(2, "Hint 2", "```python\nx = 1\n```")]
    console = Console(width=60, record=True, force_terminal=False, color_system=None)
    console.print(hints_view(None, hints, shown=2))
    lines = console.export_text().splitlines()
    assert lines[0].rstrip() == "hint 1 of 2  Use torch.rand and not randn."


def test_inline_styles():
    text = inline("a `x * y` and **b** and *c* but 2 * 3 * 4")
    assert text.plain == "a x * y and b and c but 2 * 3 * 4"
    styles = {text.plain[span.start:span.end]: str(span.style) for span in text.spans}
    assert styles == {"x * y": CODE_STYLE, "b": "bold", "c": "italic"}


def test_every_hint_of_the_course_draws_its_words():
    """Each level of each shipped hint: every word of its prose and every code line appear."""
    course = load_course(ROOT)
    for ex in course.exercises:
        for hint in load_hints(ex.hint_path):
            shown = "\n".join(render(hint.body, width=200))  # content, not wrapping
            in_code = False
            for line in hint.body.splitlines():
                if line.strip().startswith("```"):
                    in_code = not in_code
                    continue
                if in_code:
                    assert line.rstrip() in shown, (ex.id, hint.level, line)
                    continue
                for word in line.replace("`", " ").replace("*", " ").replace(">", " ").split():
                    assert word.lstrip("-#").rstrip() in shown, (ex.id, hint.level, word)


def test_arena_hint_never_imports_markdown_it_or_pygments(tmp_path):
    code = ("import sys; sys.argv = ['arena', 'hint', 'toy_model_forward', '--all']\n"
            "from arena_cli.entry import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('markdown_it', 'pygments')), file=sys.stderr)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update(ARENA_ROOT=str(ROOT), ARENA_PROGRESS=str(tmp_path / "progress.json"), NO_COLOR="1")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                            timeout=60)
    assert result.stderr.strip().splitlines()[-1] == "[]", result.stderr
