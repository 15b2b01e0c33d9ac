"""Every path arena prints, in one form: `path:line:col` relative to the course root.

That text is what VSCode's integrated terminal makes clickable (and what the .vscode task's problem
matcher reads). In terminals that support OSC 8 hyperlinks the same text also carries a `file://` link
to the absolute path, so a click opens the file there too. Links are written only when they are likely
to work: stdout is a terminal, colours/markup are on (no NO_COLOR, no --no-color), the terminal is not
dumb (or the Linux console, which prints the escape as text), and we are NOT inside VSCode's terminal,
where an OSC 8 link replaces VSCode's own `path:line:col` link and breaks it. ARENA_HYPERLINKS=1 or 0
overrides that guess either way; output that is not a terminal (pipes, files, `--json`) never gets an
escape code.

`link()` always attaches the link; a `LinkConsole` (what `render.make_console` makes) strips links when
they are not wanted, so callers need not know.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from arena_cli.layout import COURSE_FOLDERS

HYPERLINKS_ENV = "ARENA_HYPERLINKS"
# Terminals that print an OSC 8 escape as text.
_NO_OSC8_TERMS = ("dumb", "linux")


def hyperlinks_wanted(is_terminal: bool, no_color: bool, env: Mapping[str, str] | None = None) -> bool:
    """Whether output to this stream should carry OSC 8 hyperlinks."""
    env = os.environ if env is None else env
    if not is_terminal:
        return False  # pipes, files, --json: plain text, always
    override = env.get(HYPERLINKS_ENV, "").strip().lower()
    if override in ("1", "yes", "true", "on"):
        return True
    if override in ("0", "no", "false", "off"):
        return False
    if no_color or "NO_COLOR" in env and env["NO_COLOR"] != "":
        return False
    if env.get("TERM_PROGRAM") == "vscode":
        return False
    return env.get("TERM", "") not in _NO_OSC8_TERMS


def location(path: str | Path, line: int | None = None, col: int | None = None, *, root: Path | None = None) -> str:
    """`path[:line[:col]]`, the path relative to `root` when it lies inside it."""
    path = Path(path)
    text = str(path)
    if root is not None and path.is_absolute():
        try:
            text = str(path.relative_to(root))
        except ValueError:
            pass
    if line is not None:
        text += f":{line}"
        if col is not None:
            text += f":{col}"
    return text


def uri(path: str | Path, root: Path | None = None) -> str:
    """The file:// URI of `path` (a relative path is taken relative to `root`, else the working folder)."""
    path = Path(path)
    if not path.is_absolute():
        path = (root or Path.cwd()) / path
    return Path(os.path.abspath(path)).as_uri()


def link(
    path: str | Path,
    line: int | None = None,
    col: int | None = None,
    *,
    root: Path | None = None,
    style: str | Style = "",
) -> Text:
    """The one way arena shows a path: `path:line:col` text carrying a link to the file."""
    base = Style.parse(style) if isinstance(style, str) else style
    return Text(location(path, line, col, root=root), style=base + Style(link=uri(path, root)))


def link_location(text: str, root: Path | None = None, style: str | Style = "") -> Text:
    """A `path:line:col` string (as the test process writes it) as a link."""
    path, line, col = text, None, None
    parts = text.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        path, line, col = parts[0], int(parts[1]), int(parts[2])
    elif len(parts) >= 2 and parts[-1].isdigit():
        path, line = text.rsplit(":", 1)[0], int(parts[-1])
    return link(path, line, col, root=root, style=style)


# Paths inside free text that came from the test process (messages, tracebacks): course-relative paths
# with an optional `:line:col`, and Python's `File "path", line N`.
_PATH_RE = re.compile(
    rf"""(?P<path>(?:{"|".join(COURSE_FOLDERS)})/[^\s:"'`()\[\]]+\.[A-Za-z0-9]+)"""
    r"""(?::(?P<line>\d+)(?::(?P<col>\d+))?)?"""
)
_TRACEBACK_RE = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)')


def linkify(text: str | Text, root: Path, style: str = "") -> Text:
    """`text` with every course path in it (and every `File "...", line N`) linked to its file."""
    out = Text(text, style=style) if isinstance(text, str) else text.copy()
    plain = out.plain
    linked: list[tuple[int, int]] = []
    for m in _TRACEBACK_RE.finditer(plain):
        out.stylize(Style(link=uri(m.group("path"), root)), m.start("path"), m.end("path"))
        linked.append((m.start("path"), m.end("path")))
    for m in _PATH_RE.finditer(plain):
        if not any(start <= m.start() < end for start, end in linked):
            out.stylize(Style(link=uri(m.group("path"), root)), m.start(), m.end())
    return out


class LinkConsole(Console):
    """A rich Console that drops hyperlinks from what it renders unless they are wanted (see above).

    `hyperlinks=None` decides from the stream, the colour settings and the environment."""

    def __init__(self, *args, hyperlinks: bool | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if hyperlinks is None:
            hyperlinks = hyperlinks_wanted(self.is_terminal and not self.is_dumb_terminal, self.no_color)
        self.hyperlinks = hyperlinks

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        segments = super().render(renderable, options)
        return segments if self.hyperlinks else Segment.strip_links(segments)
