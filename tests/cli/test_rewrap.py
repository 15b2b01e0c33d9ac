"""Course files wrapped at 100 columns: `arena dev check` names the longer lines, `arena dev wrap`
re-wraps them (prose re-flowed, code split) and changes no code's meaning."""

from __future__ import annotations

import ast

from arena_cli.markers import student_source
from arena_cli.rewrap import LIMIT, long_lines, rewrap_markdown, rewrap_python
from arena_cli.split_code import split_code

WORDS = "the residual stream at the end position carries the answer to the unembedding " * 3


def fits(text: str) -> bool:
    return all(len(line) <= LIMIT for line in text.splitlines())


def test_a_long_word_like_a_url_is_not_counted():
    assert long_lines("x " * 51 + "\n" + "see https://example.org/" + "a" * 100 + "\n") == [1]


def test_markdown_paragraphs_and_list_items_are_reflowed_code_and_tables_kept():
    table = "| a | " + "b " * 60 + "|"
    text = f"## Hint 1\n{WORDS}\n\n- {WORDS}\n\n```\n{'y' * 120}\n```\n{table}\n"
    out = rewrap_markdown(text)
    lines = out.splitlines()
    assert " ".join(out.split()) == " ".join(text.split())  # the same words, in the same order
    assert "y" * 120 in lines and table in lines
    item = lines.index(next(line for line in lines if line.startswith("- ")))
    assert lines[item + 1].startswith("  ") and len(lines[item]) <= LIMIT


def test_markdown_code_blocks_that_parse_are_split_like_code():
    code = 'hidden = F.relu(einops.einsum(features, self.W, "... inst feats, inst d_hidden feats -> ... inst d_hidden"))'
    out = rewrap_markdown(f"```python\n{code}\n```\n")
    assert fits(out)
    body = out.split("```python\n")[1].split("```")[0]
    assert ast.dump(ast.parse(body)) == ast.dump(ast.parse(code))


MASTER = f'''"""{WORDS.strip()}."""

import torch


def f(x: torch.Tensor, scale: float) -> torch.Tensor:
    """{WORDS.strip()}.

    Args:
        x: {WORDS.strip()}.
    """
    # {WORDS.strip()}
    y = torch.einsum("batch pos d_model, d_model d_vocab -> batch pos d_vocab", x, torch.ones(3, 4)) * scale
    z = y + 1  # {WORDS.strip()}
    # SOLUTION
    return z
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError("{WORDS.strip()}")
    # END EXERCISE
'''


def test_python_masters_are_rewrapped_and_mean_the_same():
    out = rewrap_python(MASTER)
    assert fits(out)
    assert " ".join(ast.literal_eval(repr(ast.get_docstring(ast.parse(out)))).split()) == WORDS.strip() + "."
    assert len(ast.parse(out).body) == len(ast.parse(MASTER).body)
    student = student_source(out)
    assert "raise NotImplementedError(" in student and ast.parse(student)
    assert ast.dump(ast.parse(out).body[2].body[1]) == ast.dump(ast.parse(MASTER).body[2].body[1])  # the code line
    assert rewrap_python(out) == out  # a second run changes nothing


def test_code_that_cannot_be_split_safely_is_left_as_it_is():
    line = "    x = " + "a" * 120
    assert split_code(line) == [line]
    assert rewrap_python(f"def f():\n{line}\n    # SOLUTION\n    pass\n    # END SOLUTION\n")  # no crash


def test_dev_check_names_long_lines_and_dev_wrap_fixes_them(arena):
    master = arena.master_path("add_numbers")
    master.write_text(master.read_text().replace('"""Return a + b."""', f'"""{WORDS.strip()}."""'))
    arena.ok("dev", "build", "--force")
    code, out, err = arena("dev", "check", "--no-tests")
    assert code == 1 and "01_add_numbers.py:" in out and "over 100 columns" in out
    out = arena.ok("dev", "wrap")
    assert "re-wrapped solutions/1_basics/01_add_numbers.py" in out
    arena.ok("dev", "check", "--no-tests")


def test_lines_of_a_statement_over_several_lines_are_split_too():
    source = (
        "def g(f, a, b, c):\n"
        "    path = f(a_long_argument_name_number_one, a_long_argument_name_number_two, another_one_here,\n"
        "             b, c)\n"
        '    print("x: " + "y",\n'
        f'          f"{{a}} {WORDS.strip()}")\n'
        "    # SOLUTION\n    return path\n    # END SOLUTION\n"
    )
    out = rewrap_python(source)
    assert fits(out) and ast.dump(ast.parse(out)) == ast.dump(ast.parse(source))
