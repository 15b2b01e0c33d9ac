"""A result's prints wrapped at words to the terminal's width (`arena results` in a terminal)."""

from __future__ import annotations

import io
import subprocess
import sys

from arena_course.result_main import WrappedLines


def test_long_lines_wrap_at_words_keeping_their_indentation():
    out = io.StringIO()
    stream = WrappedLines(out, width=30)
    stream.write("  superposition " * 5 + "\nshort\n")
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 30 for line in lines)
    assert all(line.startswith("  superposition") for line in lines[:-1])  # no word broken, indent kept
    assert lines[-1] == "short"


def test_progress_bars_pass_through_as_they_come():
    out = io.StringIO()
    stream = WrappedLines(out, width=10)
    stream.write("\r step 1 of a long training run")
    assert out.getvalue() == "\r step 1 of a long training run"  # not held back, not wrapped
    stream.write("\x1b[2K" + "x " * 20 + "\n")
    assert "x " * 20 in out.getvalue()


def test_the_script_runs_as_python_script_would(tmp_path):
    script = tmp_path / "result.py"
    script.write_text("import sys\nprint(sys.argv[1:], __name__)\nprint('word ' * 30)\nsys.exit(3)\n")
    proc = subprocess.run([sys.executable, "-m", "arena_course.result_main", str(script), "--tiny"],
                          capture_output=True, text=True, env={"COLUMNS": "40", "PATH": ""}, timeout=60)
    assert proc.returncode == 3
    lines = proc.stdout.splitlines()
    assert lines[0] == "['--tiny'] __main__"
    assert len(lines) > 2 and all(len(line) <= 40 for line in lines)
