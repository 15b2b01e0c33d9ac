"""Splitting a line of Python code that is over the width into shorter ones, as a formatter would:
a trailing comment moved above; the last bracket pair whose head fits opened (`head(` / its items, one a
line if need be / `)tail`); a long string into adjacent pieces; `x = ...`, `return ...` and imports put
in brackets; a conditional or boolean expression cut before its keywords. It doesn't check that the code
means the same: its caller (rewrap.py) does, by parsing.
"""

from __future__ import annotations

import io
import re
import textwrap
import tokenize

_OPEN, _CLOSE = "([{", ")]}"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _tokens(line: str) -> list[tokenize.TokenInfo]:
    """The tokens of one physical line (a fragment of a longer statement is fine)."""
    found = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline):
            found.append(tok)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return found


def _split_string(literal: str, width: int, indent: str) -> list[str] | None:
    """A one-line string literal as adjacent literals of at most `width` columns (None: can't)."""
    m = re.match(r"^([rRfFuUbB]{0,2})('|\")(.*)\2$", literal)
    if not m or m.group(2) in m.group(3).replace("\\" + m.group(2), ""):
        return None
    prefix, quote, body = m.groups()
    room = width - len(indent) - len(prefix) - 2
    room = min(room, -(-len(body) // -(-len(body) // room)) + 12)  # pieces of even length, not one word left
    pieces, current, depth = [], "", 0
    for word in re.split(r"(?<= )", body):
        if current and depth == 0 and len(current) + len(word) > room:
            pieces.append(current)
            current = ""
        current += word
        depth += word.count("{") - word.count("}")
    pieces.append(current)
    if len(pieces) < 2:
        return None
    return [f"{indent}{prefix}{quote}{p}{quote}" for p in pieces]


def _split_strings(toks: list[tokenize.TokenInfo], indent: str, width: int) -> list[str] | None:
    """Adjacent string literals (and a trailing comma), each too long one split (None: not only strings)."""
    comma = toks[-1].type == tokenize.OP and toks[-1].string == ","
    strings = toks[:-1] if comma else toks
    if not strings or any(t.type != tokenize.STRING for t in strings):
        return None
    out: list[str] = []
    for tok in strings:
        line = indent + tok.string
        out += (_split_string(tok.string, width, indent) or [line]) if len(line) > width else [line]
    out[-1] += "," if comma else ""
    return out


def _top_level(tokens, kinds: str) -> list[tokenize.TokenInfo]:
    depth, found = 0, []
    for tok in tokens:
        if tok.type == tokenize.OP and tok.string in _OPEN:
            depth += 1
        elif tok.type == tokenize.OP and tok.string in _CLOSE:
            depth -= 1
        elif depth == 0 and tok.type == tokenize.OP and tok.string in kinds:
            found.append(tok)
    return found


def _nested(tokens, target: tokenize.TokenInfo) -> bool:
    """Whether `target` is inside a bracket pair of `tokens`."""
    depth = 0
    for tok in tokens:
        if tok is target:
            return depth > 0
        if tok.type == tokenize.OP and tok.string in _OPEN:
            depth += 1
        elif tok.type == tokenize.OP and tok.string in _CLOSE:
            depth -= 1
    return False


def _split_items(text: str, indent: str, width: int, depth: int) -> list[str]:
    """`a, b, c` as one item a line (each split further if still too long)."""
    code = text.strip()
    toks = _tokens(code)
    depth_zero = _top_level(toks, ",")
    bound = any(t.type == tokenize.NAME and t.string in ("for", "lambda") and not _nested(toks, t) for t in toks)
    commas = [] if bound else depth_zero  # `for a, b in`, `lambda a, b:`: their commas bind names
    cuts = [c.start[1] for c in commas]
    items = [code[a:b].strip(" ,") for a, b in zip([0] + [c + 1 for c in cuts], cuts + [len(code)])]
    items = [it for it in items if it]
    trailing = "," if len(items) > 1 or code.endswith(",") else ""
    out = []
    for it in items:
        line = f"{indent}{it}{trailing}"
        out += split_code(line, width, depth + 1) if len(line) > width else [line]
    return out


def split_code(line: str, width: int = 100, depth: int = 0) -> list[str]:
    """A code line over `width` as shorter ones (itself if it can't be split shorter)."""
    if depth > 3 or len(line) <= width:
        return [line]
    lines = _split(line, width, depth)
    return lines if max(map(len, lines)) < len(line) else [line]


def _split(line: str, width: int, depth: int) -> list[str]:
    indent = line[: _indent(line)]
    toks = [t for t in _tokens(line) if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)]
    if not toks:
        return [line]
    off = len(indent)
    if toks[-1].type == tokenize.COMMENT and len(toks) > 1:  # the comment goes above the code
        code = line[: off + toks[-1].start[1]].rstrip()
        comment = textwrap.wrap(toks[-1].string, width, initial_indent=indent, subsequent_indent=indent + "# ",
                                break_long_words=False, break_on_hyphens=False)
        return comment + split_code(code, width, depth)
    strings = _split_strings(toks, indent, width)
    if strings is not None:
        return strings
    pairs, level, opened = [], 0, 0
    for k, tok in enumerate(toks):
        if tok.type == tokenize.OP and tok.string in _OPEN:
            opened = k if level == 0 else opened
            level += 1
        elif tok.type == tokenize.OP and tok.string in _CLOSE:
            level = max(0, level - 1)
            if level == 0 and k > opened + 1 and toks[opened].string in _OPEN:
                pairs.append((opened, k))
    for a, b in reversed(pairs):  # the last pair whose head fits: `head(` / the items / `)tail`
        a, b = toks[a].start[1] + off, toks[b].start[1] + off
        head, body, tail = line[: a + 1], line[a + 1 : b], line[b:]
        if len(head) > width:
            continue
        inner = indent + "    " + body.strip()
        if len(inner) <= width:
            return [head, inner, indent + tail]
        return [head] + _split_items(body, indent + "    ", width, depth) + [indent + tail]
    last = _split_last_string(line, toks, off, width)
    if last is not None:
        return last
    opened = _split_open_bracket(line, toks, off, width)
    if opened is not None:
        return opened
    # `x = ...`, `return ...`, `from m import a, b`: the rest in brackets.
    m = re.match(r"^(\s*(?:return |[\w.]+ = |[\w.]+ [-+*/]= |from [\w.]+ import ))(.+)$", line)
    if m and not line.rstrip().endswith((":", "\\")):
        inner = indent + "    " + m.group(2).strip()
        if len(inner) <= width:
            return [f"{m.group(1)}(", inner, f"{indent})"]
        return [f"{m.group(1)}("] + _split_items(m.group(2), indent + "    ", width, depth) + [f"{indent})"]
    cuts = [t.start[1] for t in toks if t.type == tokenize.NAME and t.string in ("if", "else", "and", "or")
            and not _nested(toks, t) and t.start[1] > 0]
    if cuts and not any(t.type == tokenize.NAME and t.string in ("for", "lambda") for t in toks):
        code = line.strip()
        pieces = [code[a:b].strip() for a, b in zip([0] + cuts, cuts + [len(code)])]
        if all(len(indent) + len(piece) <= width for piece in pieces):  # inside brackets: checked by parsing
            return [indent + piece for piece in pieces]
    return [line]


def _split_open_bracket(line: str, toks: list[tokenize.TokenInfo], off: int, width: int) -> list[str] | None:
    """A line that opens a bracket it doesn't close (`f(a, b,` continued below): its items after that
    bracket one a line, under the bracket's first item, as the lines below it are."""
    level, at = 0, None
    for tok in toks:
        if tok.type == tokenize.OP and tok.string in _OPEN:
            level += 1
            at = tok if level == 1 else at
        elif tok.type == tokenize.OP and tok.string in _CLOSE:
            level -= 1
    if level != 1 or at is None:
        return None
    a = off + at.end[1]
    items = [t for t in toks if t.start[1] >= at.end[1]]
    commas = [t.start[1] + off for t in _top_level(items, ",")]
    if not commas:
        return None
    cuts = [a] + [c + 1 for c in commas]
    pieces = [line[x:y].strip() for x, y in zip(cuts, cuts[1:] + [len(line)])]
    pieces = [p for p in pieces if p]
    lines = [line[:a] + pieces[0]] + [" " * a + p for p in pieces[1:]]
    return lines if all(len(ln) <= width for ln in lines) else None


def _split_last_string(line: str, toks: list[tokenize.TokenInfo], off: int, width: int) -> list[str] | None:
    """A line ending in a long string (then only closing brackets or a comma), the string split in
    place into adjacent pieces under its start (the line must be inside brackets: checked by parsing)."""
    k = len(toks) - 1
    while k >= 0 and toks[k].type == tokenize.OP and toks[k].string in _CLOSE + ",":
        k -= 1
    if k < 0 or toks[k].type != tokenize.STRING:
        return None
    at = off + toks[k].start[1]
    after = line[off + toks[k].end[1]:]
    pieces = _split_string(toks[k].string, width - len(after), " " * at)
    if pieces is None:
        return None
    return [line[:at] + pieces[0].lstrip()] + pieces[1:-1] + [pieces[-1] + after]
