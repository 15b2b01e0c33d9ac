"""Keys from the terminal, one press at a time: the input of `arena watch` and the interactive list."""

from __future__ import annotations

import os
import select
import sys
import termios
import tty


class CbreakInput:
    """cbreak mode on stdin (keys without Enter, no echo; Ctrl-C still interrupts) for the block's life."""

    def __init__(self) -> None:
        self.fd = sys.stdin.fileno()
        self.saved = termios.tcgetattr(self.fd)

    def __enter__(self) -> CbreakInput:
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
        termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
