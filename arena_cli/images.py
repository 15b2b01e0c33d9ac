"""Figures drawn inline in terminals that can show images: kitty's graphics protocol (kitty, and
Ghostty/WezTerm when they say they are kitty) and iTerm2's inline images (iTerm2, WezTerm). Off unless
the terminal is detected; ARENA_IMAGES=0/1 overrides the guess. Never inside tmux/screen (they swallow or
garble the escapes) and never when the output is not a terminal: everywhere else the printed path is
enough.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path

IMAGES_ENV = "ARENA_IMAGES"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_KITTY_CHUNK = 4096  # base64 characters per escape, as the protocol requires


def protocol(is_terminal: bool, env: Mapping[str, str] | None = None) -> str | None:
    """"kitty", "iterm" or None: how (whether) this terminal shows images."""
    env = os.environ if env is None else env
    override = env.get(IMAGES_ENV, "").strip().lower()
    if not is_terminal or override in ("0", "no", "false", "off"):
        return None
    if env.get("TMUX") or env.get("TERM", "").startswith("screen"):
        return None
    if env.get("TERM") == "xterm-kitty" or env.get("KITTY_WINDOW_ID") or env.get("TERM_PROGRAM") == "ghostty":
        return "kitty"
    if env.get("TERM_PROGRAM") in ("iTerm.app", "WezTerm"):
        return "iterm"
    if override in ("1", "yes", "true", "on"):
        return "iterm" if env.get("TERM_PROGRAM") == "iTerm.app" else "kitty"
    return None


def kitty_sequence(png: bytes, columns: int) -> str:
    """kitty graphics protocol: transmit and display a PNG `columns` cells wide (height keeps the
    aspect ratio), in 4096-character chunks; q=2 asks the terminal not to answer (an answer would
    arrive as key presses)."""
    data = base64.standard_b64encode(png).decode("ascii")
    chunks = [data[i : i + _KITTY_CHUNK] for i in range(0, len(data), _KITTY_CHUNK)] or [""]
    parts = []
    for i, chunk in enumerate(chunks):
        more = 1 if i < len(chunks) - 1 else 0
        keys = f"a=T,f=100,q=2,c={columns},m={more}" if i == 0 else f"m={more}"
        parts.append(f"\x1b_G{keys};{chunk}\x1b\\")
    return "".join(parts)


def iterm_sequence(image: bytes, name: str, columns: int) -> str:
    """iTerm2 inline image (OSC 1337 File=...), `columns` cells wide, aspect ratio kept."""
    encoded_name = base64.standard_b64encode(name.encode()).decode("ascii")
    data = base64.standard_b64encode(image).decode("ascii")
    return (
        f"\x1b]1337;File=name={encoded_name};size={len(image)};width={columns};"
        f"preserveAspectRatio=1;inline=1:{data}\x07"
    )


def inline_image(path: Path, how: str, columns: int) -> str | None:
    """The escape sequence that draws `path`, or None when it can't be drawn (unreadable, not a PNG
    for kitty)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if how == "kitty":
        return kitty_sequence(data, columns) if data.startswith(PNG_MAGIC) else None
    if how == "iterm":
        return iterm_sequence(data, path.name, columns)
    return None
