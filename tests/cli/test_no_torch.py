"""Commands that run no test answer at once: they never import torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
sys.argv = ["arena", *sys.argv[1:]]
from arena_cli.cli import app
code = None
try:
    app()
except SystemExit as e:
    code = e.code
heavy = {m: m in sys.modules for m in ("torch", "numpy", "pytest", "watchdog")}
sys.stderr.write("\\nPROBE " + json.dumps({"code": code, "heavy": heavy}) + "\\n")
"""


@pytest.mark.parametrize("command", [["next"], ["list"], ["hint"], ["progress"]])
def test_command_does_not_import_torch(arena, command):
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *command],
        cwd=arena.root,
        env=arena.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = next(line for line in proc.stderr.splitlines() if line.startswith("PROBE "))
    result = json.loads(line.removeprefix("PROBE "))
    assert result["code"] in (0, None), proc.stdout + proc.stderr
    assert proc.stdout.strip()  # the command did its work
    assert result["heavy"]["torch"] is False, result
