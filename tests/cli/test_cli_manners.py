"""The command line's manners, as Typer/click, rustlings and git users expect them: -h, --version, a
global --no-color, bare `arena` watching, EXERCISE in usage, the current exercise by default, close
matches for misspelt ids and chapters, chapters by number, completion, the offline result's one line."""

from __future__ import annotations

import subprocess
import sys


def test_dash_h_and_version(arena):
    out = arena.ok("-h")
    assert out.startswith("Usage: arena [OPTIONS] COMMAND") and "--version" in out
    assert arena.ok("run", "-h").startswith("Usage: arena run [OPTIONS] [EXERCISE]")
    assert arena.ok("--version").startswith("arena ")


def test_usage_lines_say_what_to_type(arena):
    for command in ("run", "watch", "hint", "reset", "solution"):
        assert f"arena {command} [OPTIONS] [EXERCISE]" in arena.ok(command, "--help")
    assert "[SECTION]" in arena.ok("results", "--help")
    assert "--chapter CHAPTER" in arena.ok("list", "--help")


def test_no_color_before_the_command(arena):
    del arena.env["NO_COLOR"]
    arena.env["FORCE_COLOR"] = "1"  # as a terminal would have it
    arena.set_progress({"add_numbers": {"status": "done"}})  # "done" is green
    coloured = arena.ok("list", "--static")
    plain = arena.ok("--no-color", "list", "--static")
    assert plain == arena.ok("list", "--static", "--no-color") != coloured


def test_results_help_documents_tiny(arena):
    assert "--tiny" in arena.ok("results", "--help")


def test_solution_and_reset_default_to_the_current_exercise(arena):
    arena.set_progress({}, current="say_hello")
    out = arena.ok("solution", "--force")
    assert "solutions/1_basics/03_say_hello.py" in out
    arena.write("say_hello", "changed\n")
    out = arena.ok("reset", "--yes")
    assert "03_say_hello.py" in out and arena.read("say_hello") == arena.original("say_hello")


def test_misspelt_ids_and_chapters_get_close_matches(arena):
    code, out, err = arena("run", "add_numbrs")
    assert code == 2 and "Did you mean: add_numbers?" in err
    code, out, err = arena("list", "--chapter", "basis", "--static")
    assert code == 2 and "Did you mean basics?" in err


def test_chapters_by_number_or_name(arena):
    by_number = arena.ok("list", "--chapter", "1", "--static")
    assert "add_numbers" in by_number and by_number == arena.ok("list", "--chapter", "basics", "--static")
    code, out, err = arena("list", "--chapter", "7", "--static")
    assert code == 2 and "Chapters: 1 basics" in err


def complete(arena, words: str) -> list[str]:
    env = dict(arena.env, _ARENA_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=str(len(words.split()) - 1))
    return subprocess.run(
        [sys.executable, "-c", "from arena_cli.entry import main; main()"],
        cwd=arena.root, env=env, capture_output=True, text=True, timeout=60,
    ).stdout.split()


def test_completion_for_chapters_and_sections(arena):
    assert complete(arena, "arena list --chapter 1") == ["1_basics"]
    assert complete(arena, "arena results s") == ["say_hello"]  # the section that has a result to run


def test_bare_arena_watches_the_current_exercise(arena):
    arena.set_progress({}, current="say_hello")
    log = arena.root.parent / "bare.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "arena_cli"], cwd=arena.root, env=arena.env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        arena.wait_for(lambda: "watching for saves" in log.read_text(), 60, "bare arena to watch")
        assert "Say hello" in log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_bare_arena_says_what_to_do_when_all_is_done(arena):
    arena.set_progress({i: {"status": "done"} for i in arena.ids})
    out = arena.ok()
    assert "Every exercise is done" in out and "arena list" in out


def test_an_offline_result_says_why_first_then_the_way_out_in_one_line(arena):
    arena.give_result(
        'import sys\nprint("Needs GPT-2 small: it is not in the Hugging Face cache and HF_HUB_OFFLINE=1 '
        'forbids downloading; run once online.", file=sys.stderr)\nsys.exit(1)\n')
    arena.solve("add_numbers")
    assert arena("run", "add_numbers")[0] == 0
    code, out, err = arena("results", "add_numbers")
    assert code == 1
    assert err.strip().startswith("Needs GPT-2 small: it is not in the Hugging Face cache")
    said = " ".join(out[out.index("No model for this result here:"):].split())  # one sentence, wrapped at words
    assert said.startswith("No model for this result here: `arena results add_numbers --tiny` runs it offline")
    assert "exit code" not in out and "does `arena run" not in out
