"""The entry point's plain path (entry.py): `next`, `list`, `hint` and `progress` called plainly start
without Typer, and do exactly what the Typer app does with the same arguments."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer.main

from arena_cli.cli import app
from arena_cli.entry import PLAIN_FLAGS, TAKES_ID, plain_call

TYPER_MAIN = "import sys; from arena_cli.entry import main; sys.argv[0] = 'arena'; main(plain=False)"


def test_each_plain_flag_is_a_boolean_option_of_that_command():
    group = typer.main.get_command(app)
    for name, flags in PLAIN_FLAGS.items():
        params = group.commands[name].params
        for flag, keyword in flags.items():
            (param,) = [p for p in params if flag in p.opts]
            assert param.name == keyword and param.is_flag, (name, flag)
        arguments = [p for p in params if p.param_type_name == "argument"]
        assert len(arguments) == (1 if name in TAKES_ID else 0), name


def test_only_plain_calls_take_the_plain_path():
    assert plain_call(["list", "--pending", "--static"]) == (
        "list", {"pending": True, "static": True, "as_json": False, "no_color": False, "edit": False}, None)
    assert plain_call(["hint", "add_numbers", "--all"]) == ("hint", {"show_all": True, "no_color": False}, "add_numbers")
    for argv in ([], ["run"], ["list", "--chapter", "1"], ["next", "--edit-cmd", "vi"], ["hint", "a", "b"],
                 ["progress", "--help"], ["list", "-h"], ["next", "x"], ["--no-color", "list"]):
        assert plain_call(argv) is None, argv


@pytest.mark.parametrize("args", [["progress"], ["list"], ["list", "--pending", "--json"], ["next", "--json"],
                                  ["next"], ["hint"], ["hint", "say_hello", "--all"], ["hint", "no_such_id"]])
def test_the_plain_path_does_what_the_typer_app_does(arena, args):
    results = []
    for how in (["-m", "arena_cli"], ["-c", TYPER_MAIN]):
        arena.set_progress({"add_numbers": {"attempts": 2, "hints": 1}}, current="add_numbers")
        proc = subprocess.run([sys.executable, *how, *args], cwd=arena.root, env=arena.env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60)
        results.append((proc.returncode, proc.stdout, proc.stderr, arena.progress()))
    assert results[0] == results[1]
    assert "Traceback" not in results[0][2]


def test_a_plain_call_imports_neither_typer_nor_pydantic(arena):
    probe = ("import json, sys; sys.argv = ['arena', 'progress']\n"
             "from arena_cli.entry import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print(json.dumps([m for m in ('typer', 'pydantic', 'click', 'torch') if m in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=arena.root, env=arena.env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [], proc.stdout + proc.stderr
