"""A chapter's go-further part: `arena further`, the step after a chapter's last pass, `arena dev check`."""

from __future__ import annotations

import pytest

from arena_cli.further import FurtherError, parse

ITEM = """## {title}
Paper: Some et al. 2024, section 3,
  figure 2.
Do: reuse add().
Plot: the sum against the inputs.
Expect: a straight line.
Done when: the line's slope is 1.
"""


def write_part(arena, titles=("Add more", "Add faster", "Add in place"), item=ITEM) -> None:
    text = "# Go further\n\nOpen-ended, unchecked.\n\n" + "\n".join(item.format(title=t) for t in titles)
    (arena.root / "exercises" / "1_basics" / "go_further.md").write_text(text, encoding="utf-8")


def test_further_shows_each_item_with_its_fields(arena):
    write_part(arena)
    out = arena.ok("further", "basics")
    assert "Go further" in out and "Open-ended, unchecked." in out
    for number, title in enumerate(("Add more", "Add faster", "Add in place"), 1):
        assert f"{number}. {title}" in out
    assert "Some et al. 2024, section 3, figure 2." in " ".join(out.split())  # a field's lines are one paragraph
    assert "done when" in out and "the line's slope is 1." in out
    assert "exercises/1_basics/go_further.md" in out
    assert arena.ok("further") == out  # the current exercise's chapter by default


def test_a_chapter_without_one_says_so(arena):
    assert "no go-further part" in arena.ok("further", "basics")


def test_the_last_pass_of_a_chapter_points_to_it(arena):
    write_part(arena)
    for exercise_id in arena.ids[:-1]:
        arena.solve(exercise_id)
        assert "arena further" not in arena.ok("run", exercise_id)  # the chapter isn't done yet
    arena.solve(arena.ids[-1])
    assert "arena further basics" in arena.ok("run", arena.ids[-1])


def test_dev_check_holds_the_format(arena):
    write_part(arena)
    assert arena("dev", "check", "--no-tests")[0] == 0
    write_part(arena, titles=("Only one",))
    code, out, _ = arena("dev", "check", "--no-tests")
    assert code == 1 and "exercises/1_basics/go_further.md: 1 items" in out
    write_part(arena, item=ITEM.replace("Expect: a straight line.\n", ""))
    code, out, _ = arena("dev", "check", "--no-tests")
    assert code == 1 and "exercises/1_basics/go_further.md:5: 'Add more' has no 'Expect:'" in out


def test_text_before_a_field_is_refused(tmp_path):
    path = tmp_path / "go_further.md"
    path.write_text("# Go further\n\n## A\nJust prose.\nPaper: p\n", encoding="utf-8")
    with pytest.raises(FurtherError, match=":4: text before the first field of 'A'"):
        parse(path)
