"""`python -m arena_course.result_main SCRIPT [ARGS]`: run a section's result script as `python SCRIPT
ARGS` would, with its printed lines wrapped at word boundaries to the terminal's width.

`arena results` runs results this way when its output is a terminal (the width comes in COLUMNS): a
result's report is prose, and a terminal breaks a long line mid-word ("superpos|ition"). Lines holding
escape sequences or carriage returns (progress bars) pass through untouched.
"""

from __future__ import annotations

import io
import os
import runpy
import shutil
import sys
import textwrap


class WrappedLines(io.TextIOBase):
    """A text stream that writes whole lines to `target`, each longer than `width` wrapped at words
    (its indentation kept on the lines it continues on)."""

    def __init__(self, target, width: int):
        self.target, self.width, self.pending = target, width, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.target.write(self.wrap(line) + "\n")
        if self.pending and ("\r" in self.pending or "\x1b" in self.pending):
            self.target.write(self.pending)  # a progress bar redrawing its line: as it comes
            self.pending = ""
        return len(text)

    def wrap(self, line: str) -> str:
        if len(line) <= self.width or "\x1b" in line or "\r" in line:
            return line
        indent = line[: len(line) - len(line.lstrip(" "))]
        return textwrap.fill(line, self.width, subsequent_indent=indent, break_long_words=False,
                             break_on_hyphens=False)

    def flush(self) -> None:
        if self.pending:
            self.target.write(self.pending)
            self.pending = ""
        self.target.flush()

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:
        return self.target.encoding


def main(argv: list[str]) -> None:
    script, *args = argv
    width = shutil.get_terminal_size().columns
    sys.argv = [script, *args]
    sys.path[0] = os.path.dirname(os.path.abspath(script))  # as `python SCRIPT` sets it
    sys.stdout = WrappedLines(sys.stdout, width)
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
