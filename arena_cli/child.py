"""The test child: pytest with arena's plugin, run so that the run ends as one thing.

`run_pytest` is what every test child does, cold or forked by the warm worker: open the report channel
(`protocol.Channel`, handed over in memory, never through the environment), run pytest, end every
process the run started, flush, and leave with `os._exit` (a thread the student's code left running
neither keeps the process alive nor changes the verdict; cold and warm runs behave the same).

`python -m arena_cli.child ARGS...` is the cold child (see `runner.py`). It reads the channel from one
line on stdin, then supervises: it marks itself a child subreaper and forks the pytest process, so that
every process the student's code starts, even one that left the process group, stays below it; when
pytest is done it kills what is left and exits with pytest's status (or dies of the same signal).
"""

from __future__ import annotations

import json
import os
import signal
import sys

from arena_cli import processes, protocol


def run_pytest(args: list[str], channel: protocol.Channel, before_exit=None) -> None:
    """Run pytest in this process and exit with its status (after `before_exit(status)`). Never
    returns."""
    code = 70
    try:
        protocol.use_channel(channel)
        import pytest

        sys.argv = ["pytest", *args]
        code = int(pytest.main(args))
    except BaseException:  # noqa: BLE001 - report anything, then exit without running cleanup
        try:
            import traceback

            traceback.print_exc()
        finally:
            code = 70
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
        processes.kill(processes.descendants(os.getpid()))
        if before_exit is not None:
            before_exit(code)
        os._exit(code)


def _read_channel() -> protocol.Channel:
    """The channel the runner wrote on stdin; stdin is then /dev/null for the student's code."""
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(0, 4096)
        if not chunk:
            break
        line += chunk
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return protocol.Channel.from_json(json.loads(line))


def _supervise(args: list[str]) -> None:
    channel = _read_channel()
    processes.die_with_parent()
    processes.become_subreaper()
    pid = os.fork()
    if pid == 0:
        processes.die_with_parent()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        run_pytest(args, channel)
    channel.close()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: processes.kill_tree(pid))
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            status = 70 << 8
            break
        except InterruptedError:
            continue
    processes.kill(processes.descendants(os.getpid()))
    for p in processes.children(os.getpid()):
        try:
            os.waitpid(p, 0)
        except ChildProcessError:
            pass
    code = os.waitstatus_to_exitcode(status)
    if code < 0:  # die of the same signal, so that the runner reads a crash as a crash
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


if __name__ == "__main__":
    _supervise(sys.argv[1:])
