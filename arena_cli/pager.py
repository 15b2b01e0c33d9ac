"""Long output through a pager, the way git does it: only when stdout is a terminal and the output is
longer than the screen, with $PAGER (else `less -FRX`: colours kept, the screen left as it was, and
quitting at once if it fits after all). `PAGER=cat` turns it off."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

DEFAULT_PAGER = "less -FRX"


@contextmanager
def paged(console: Console, enabled: bool = True) -> Iterator[None]:
    """What is printed on `console` inside the block goes through the pager when it needs one."""
    if not enabled or not console.is_terminal or console.is_dumb_terminal:
        yield
        return
    with console.capture() as captured:
        yield
    text = captured.get()
    command = os.environ.get("PAGER", DEFAULT_PAGER).strip()
    if text.count("\n") < console.height or command in ("", "cat"):
        console.file.write(text)
        console.file.flush()
        return
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")  # as git sets it: for `less` named in $PAGER without options
    try:
        subprocess.run(command, shell=True, input=text.encode("utf-8", errors="replace"), env=env, check=False)
    except KeyboardInterrupt:  # Ctrl-C in the pager ends the pager, not arena with a traceback
        pass
    except OSError:  # no such pager: the text, unpaged
        console.file.write(text)
        console.file.flush()
