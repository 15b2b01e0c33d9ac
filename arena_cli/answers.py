"""The checks of a question exercise (`kind = "question"`): the student's ANSWER against the right
one, each wrong option, number range or set member with its own diagnosis. Hidden tests import these
from `arena_cli.testing`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arena_cli.compare import CheckFailed



def _unanswered(name: str, how: str) -> CheckFailed:
    return CheckFailed(
        f"{name}: not answered yet",
        diagnosis=f"Set {name} in the file to your answer ({how}) and save.",
    )


def check_answer(answer: Any, correct: Any, *, wrong: Mapping[Any, str], name: str = "ANSWER") -> None:
    """A question's choice: `correct`, else the diagnosis of the wrong option chosen (why it is
    tempting, what it misses). Letters are compared without case or spaces."""

    def norm(value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    options = [correct, *wrong]
    how = "one of " + ", ".join(repr(o) for o in options)
    if answer is None:
        raise _unanswered(name, how)
    chosen = norm(answer)
    if chosen == norm(correct):
        return
    for option, why in wrong.items():
        if chosen == norm(option):
            raise CheckFailed(f"{name} = {answer!r} is not the answer", diagnosis=why)
    raise CheckFailed(f"{name} = {answer!r} is not one of the options", diagnosis=f"Answer with {how}.")


def check_number(
    answer: Any, correct: float, *, tolerance: float, too_low: str = "", too_high: str = "", name: str = "ANSWER"
) -> None:
    """A question's number: within `tolerance` of `correct`, else what an answer that low or that high
    probably missed."""
    if answer is None:
        raise _unanswered(name, "a number")
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise CheckFailed(f"{name} = {answer!r} is not a number", diagnosis="Answer with a number, e.g. 0.5.")
    if abs(answer - correct) <= tolerance:
        return
    low = answer < correct
    raise CheckFailed(
        f"{name} = {answer!r} is too {'low' if low else 'high'}",
        diagnosis=(too_low if low else too_high) or f"Think again about what sets the {'lower' if low else 'upper'} end.",
    )


def check_set(
    answer: Any, correct: set, *, missing: Mapping[Any, str] | None = None, extra: Mapping[Any, str] | None = None,
    name: str = "ANSWER",
) -> None:
    """A question's set (e.g. of heads): exactly `correct`; each missing or extra member can carry its
    own diagnosis."""
    if answer is None:
        raise _unanswered(name, "a set, e.g. {(9, 6), (9, 9)}")
    if not isinstance(answer, (set, frozenset, list, tuple)):
        raise CheckFailed(f"{name} = {answer!r} is not a set", diagnosis="Answer with a set of members: {a, b}.")
    chosen = set(answer)
    if chosen == set(correct):
        return
    lacking, surplus = set(correct) - chosen, chosen - set(correct)
    said = [(missing or {}).get(m) for m in sorted(lacking, key=repr)] + [(extra or {}).get(m) for m in sorted(surplus, key=repr)]
    parts = []
    if lacking:
        parts.append(f"{len(lacking)} missing")
    if surplus:
        parts.append(f"{', '.join(repr(m) for m in sorted(surplus, key=repr))} should not be in it")
    raise CheckFailed(f"{name}: {'; '.join(parts)}", diagnosis=" ".join(d for d in said if d))
