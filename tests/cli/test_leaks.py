"""`arena dev leaks`: how much of a solution its exercise's text gives away."""

from __future__ import annotations

from arena_cli.course import load_course
from arena_cli.leaks import leak_of

MASTER = '''"""Scale and shift a tensor."""

import torch


def affine(x: torch.Tensor, scale: float, shift: float) -> torch.Tensor:
    """{text}"""
    # SOLUTION
    scaled = x * scale
    shifted = scaled + shift
    clipped = shifted.clamp(min=-1.0, max=1.0)
    return clipped
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError("scale, shift, clip")
    # END EXERCISE
'''


def master_with(arena, text: str):
    path = arena.master_path("double_tensor")
    path.write_text(MASTER.replace("{text}", text), encoding="utf-8")
    return load_course(arena.root).get("double_tensor")


def test_a_text_that_teaches_the_idea_leaks_nothing(arena):
    leak = leak_of(master_with(arena, "Scale x, shift it, and clip the result to [-1, 1] (see `Tensor.clamp`)."))
    assert (leak.lines, leak.leaked) == (4, ())


def test_lines_given_verbatim_or_nearly_count(arena):
    text = "Steps:\n\n        scaled = x * scale\n        shifted=scaled+shift   # then clip\n        `clipped = shifted.clamp(-1.0, 1.0)`"
    leak = leak_of(master_with(arena, text))
    assert leak.leaked == ("scaled = x * scale", "shifted = scaled + shift", "clipped = shifted.clamp(min=-1.0, max=1.0)")
    assert leak.fraction == 0.75  # `return clipped` is not in the text


def test_dev_leaks_fails_over_the_limit(arena):
    master_with(arena, "`scaled = x * scale`, then `shifted = scaled + shift`")
    code, out, _ = arena("dev", "leaks", "--max", "25")
    assert code == 1 and "50%" in out and "1 exercise(s) over 25%" in out
    code, out, _ = arena("dev", "leaks", "add_numbers", "--max", "25")
    assert code == 0


def test_given_code_is_not_text(arena):
    """A line of given code like a solution line is a working example, not a leak; the same line in
    a comment or a docstring is."""
    path = arena.master_path("double_tensor")
    given = "\n\nDEMO = torch.zeros(3)\nscaled = DEMO * 2.0  # given: not the student's\n"
    path.write_text(MASTER.replace("{text}", "Scale, shift, clip.").replace("import torch\n", "import torch\n" + given),
                    encoding="utf-8")
    assert leak_of(load_course(arena.root).get("double_tensor")).leaked == ()
    path.write_text(MASTER.replace("{text}", "Scale, shift, clip.").replace("import torch\n", "import torch\n# scaled = x * scale\n"),
                    encoding="utf-8")
    assert leak_of(load_course(arena.root).get("double_tensor")).leaked == ("scaled = x * scale",)


def test_dev_check_holds_texts_to_the_limit(arena):
    master_with(arena, "`scaled = x * scale`, then `shifted = scaled + shift`")
    arena.ok("dev", "build", "--force")
    code, out, _ = arena("dev", "check", "--no-tests")
    assert code == 1 and "gives 2 of its 4 solution lines (50%, at most 25%)" in " ".join(out.split())
