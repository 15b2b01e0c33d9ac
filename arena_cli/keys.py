"""Keys: the one table of key bindings for `arena watch` and the interactive list (each screen's footer,
its dispatch and its --help text come from it), what the terminal sends decoded into keys, and the
cbreak input both screens read.
"""

from __future__ import annotations

import os
import select
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Binding:
    keys: tuple[str, ...]  # what is pressed: characters, or the names decode_keys gives ("up", "enter", ...)
    action: str  # what the screen does (its dispatch is by this name)
    label: str = ""  # in the footer, after the key; "" leaves the binding out of footer and help
    shown: str = ""  # how the footer writes the key (default: the first key)
    help: str = ""  # how --help says it (default: the key)

    @property
    def key(self) -> str:
        return self.shown or self.keys[0]


class Keymap:
    def __init__(self, *bindings: Binding):
        self.bindings = bindings
        self._actions = {key: b.action for b in bindings for key in b.keys}

    def action(self, key: str) -> str | None:
        """The action of a key press (None: not bound)."""
        return self._actions.get(key)

    def key_for(self, action: str) -> str:
        """The key the footer shows for an action."""
        return next(b.key for b in self.bindings if b.action == action)

    def footer(self) -> str:
        return " · ".join(f"{b.key} {b.label}" for b in self.bindings if b.label)

    def help(self, separator: str) -> str:
        return separator.join(b.help or b.key for b in self.bindings if b.label)


WATCH_KEYS = Keymap(
    Binding(("h",), "hint", "hint"),
    Binding(("l",), "list", "list"),
    Binding(("r",), "rerun", "rerun"),
    Binding(("n",), "next", "next"),
    Binding(("q", "Q"), "quit", "quit"),
)
LIST_KEYS = Keymap(
    Binding(("down", "j"), "down", "move", shown="↑↓/jk", help="move with ↑↓/jk"),
    Binding(("up", "k"), "up"),
    Binding(("pgdn", " ", "right"), "page_down"),
    Binding(("pgup", "left"), "page_up"),
    Binding(("home", "g"), "first"),
    Binding(("end", "G"), "last"),
    Binding(("enter",), "choose", "make current", shown="⏎", help="Enter makes one current"),
    Binding(("f", "tab"), "filter", "filter", help="f filters"),
    Binding(("/",), "search", "search", help="/ searches"),
    Binding(("r",), "reset", "reset", help="r resets"),
    Binding(("q", "Q", "esc"), "quit", "quit", help="q leaves"),
)
# While the list's search line is open (other printable keys are typed into it).
SEARCH_KEYS = Keymap(
    Binding(("enter",), "keep", "keeps it", shown="Enter"),
    Binding(("esc",), "clear", "clears", shown="Esc"),
    Binding(("backspace",), "erase"),
)
# While the list asks before a reset (any other key is no).
CONFIRM_KEYS = Keymap(Binding(("y", "Y"), "yes", "yes", shown="y"))

# Escape sequences of the keys the list understands, as terminals send them.
_SEQUENCES = {
    "\x1b[A": "up",
    "\x1b[B": "down",
    "\x1b[C": "right",
    "\x1b[D": "left",
    "\x1bOA": "up",
    "\x1bOB": "down",
    "\x1b[5~": "pgup",
    "\x1b[6~": "pgdn",
    "\x1b[H": "home",
    "\x1b[F": "end",
    "\x1bOH": "home",
    "\x1bOF": "end",
    "\x1b[1~": "home",
    "\x1b[4~": "end",
}
_SINGLE = {"\r": "enter", "\n": "enter", "\t": "tab", "\x7f": "backspace", "\x08": "backspace", "\x1b": "esc"}


def decode_keys(data: str) -> list[str]:
    """Split what the terminal sent into keys: named keys ("up", "enter", "esc", ...) or characters.
    A lone ESC (nothing after it in the same read) is the Escape key; unknown sequences are dropped."""
    keys: list[str] = []
    i = 0
    while i < len(data):
        if data[i] == "\x1b" and i + 1 < len(data):
            for seq, name in _SEQUENCES.items():
                if data.startswith(seq, i):
                    keys.append(name)
                    i += len(seq)
                    break
            else:
                if data[i + 1] in "[O":  # an escape sequence we don't use: skip to its final byte
                    j = i + 2
                    while j < len(data) and not ("@" <= data[j] <= "~"):
                        j += 1
                    i = j + 1
                else:  # ESC then another key (Alt-key, or Esc typed quickly before a key)
                    keys.append("esc")
                    i += 1
            continue
        keys.append(_SINGLE.get(data[i], data[i]))
        i += 1
    return keys


class CbreakInput:
    """cbreak mode on stdin (keys without Enter, no echo; Ctrl-C still interrupts) for the block's life."""

    def __init__(self) -> None:
        import termios  # POSIX terminals only; the key tables above need neither

        self.fd = sys.stdin.fileno()
        self.saved = termios.tcgetattr(self.fd)

    def __enter__(self) -> CbreakInput:
        import tty

        tty.setcbreak(self.fd)
        return self

    def read(self, timeout: float) -> str | None:
        """What the terminal sent within `timeout` s ("" on end of input), or None."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return None
        data = os.read(self.fd, 1024)
        # An escape sequence can arrive in two reads; give its tail a moment.
        if data.endswith(b"\x1b") or (data.startswith(b"\x1b") and len(data) < 3):
            more, _, _ = select.select([self.fd], [], [], 0.03)
            if more:
                data += os.read(self.fd, 1024)
        return data.decode(errors="ignore")

    def __exit__(self, *exc) -> None:
        import termios

        termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
