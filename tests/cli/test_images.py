"""Figures drawn inline by `arena results` in kitty and iTerm2 (and only there): the detection, and the
escape sequences checked by decoding them back to the file's bytes."""

from __future__ import annotations

import base64
import re
import struct
import zlib

import pytest

from arena_cli.images import inline_image, iterm_sequence, kitty_sequence, protocol

from .test_links import in_terminal, terminal_env

KITTY = re.compile(r"\x1b_G([^;]*);([^\x1b]*)\x1b\\")
ITERM = re.compile(r"\x1b\]1337;File=([^:]*):([^\x07]*)\x07")


def png(width: int = 64, height: int = 48) -> bytes:
    """A valid PNG of noise (so it doesn't compress to nothing)."""
    rows = b"".join(b"\x00" + bytes((x * 7 + y * 13 + x * y) % 256 for x in range(width * 3)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 0)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "is_terminal, env, expected",
    [
        (True, {"TERM": "xterm-kitty"}, "kitty"),
        (True, {"TERM": "xterm-256color", "KITTY_WINDOW_ID": "1"}, "kitty"),
        (True, {"TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app"}, "iterm"),
        (True, {"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"}, "iterm"),
        (True, {"TERM": "xterm-256color"}, None),  # unknown terminals get the path only
        (True, {"TERM": "xterm-256color", "TERM_PROGRAM": "vscode"}, None),
        (False, {"TERM": "xterm-kitty"}, None),  # a pipe
        (True, {"TERM": "xterm-kitty", "TMUX": "/tmp/tmux-0/default,1,0"}, None),  # tmux swallows them
        (True, {"TERM": "screen-256color", "TERM_PROGRAM": "iTerm.app"}, None),
        (True, {"TERM": "xterm-kitty", "ARENA_IMAGES": "0"}, None),
        (True, {"TERM": "xterm-256color", "ARENA_IMAGES": "1"}, "kitty"),
        (False, {"TERM": "xterm-kitty", "ARENA_IMAGES": "1"}, None),
    ],
)
def test_which_terminals_get_images(is_terminal, env, expected):
    assert protocol(is_terminal, env) == expected


def test_kitty_sequence_is_chunked_and_decodes_to_the_png():
    data = png(96, 64)
    sequence = kitty_sequence(data, 70)
    parts = KITTY.findall(sequence)
    assert KITTY.sub("", sequence) == ""  # nothing but graphics escapes
    assert len(parts) > 2 and all(len(payload) <= 4096 for _, payload in parts)
    first, *rest = [dict(kv.split("=") for kv in keys.split(",")) for keys, _ in parts]
    assert first == {"a": "T", "f": "100", "q": "2", "c": "70", "m": "1"}  # PNG, shown, no reply, 70 cells wide
    assert [k["m"] for k in rest] == ["1"] * (len(rest) - 1) + ["0"]
    assert base64.standard_b64decode("".join(payload for _, payload in parts)) == data


def test_iterm_sequence_decodes_to_the_file():
    data = png()
    (args, payload), = ITERM.findall(iterm_sequence(data, "pentagon.png", 60))
    fields = dict(kv.split("=", 1) for kv in args.split(";"))
    assert fields["inline"] == "1" and fields["width"] == "60" and fields["size"] == str(len(data))
    assert base64.standard_b64decode(fields["name"]) == b"pentagon.png"
    assert base64.standard_b64decode(payload) == data


def test_kitty_draws_only_pngs(tmp_path):
    (tmp_path / "a.svg").write_text("<svg/>")
    (tmp_path / "b.png").write_bytes(png())
    assert inline_image(tmp_path / "a.svg", "kitty", 40) is None
    assert inline_image(tmp_path / "b.png", "kitty", 40).startswith("\x1b_G")
    assert inline_image(tmp_path / "a.svg", "iterm", 40).startswith("\x1b]1337;")
    assert inline_image(tmp_path / "missing.png", "iterm", 40) is None


@pytest.fixture
def figure_result(arena):
    """The fixture course's first section ends in a result that writes results/basics/sum.png."""
    (arena.root / "figure.png").write_bytes(png())
    arena.give_result(
        "import shutil\nfrom pathlib import Path\n"
        'Path("results/basics").mkdir(parents=True, exist_ok=True)\n'
        'shutil.copy("figure.png", "results/basics/sum.png")\n',
        "a figure",
    )
    return png()


def test_results_draws_its_figures_in_kitty_and_iterm(arena, figure_result):
    out = in_terminal(arena, "results", "add_numbers", "--reference", env=terminal_env(arena, TERM="xterm-kitty"))
    assert "results/basics/sum.png" in out
    parts = KITTY.findall(out)
    assert parts and base64.standard_b64decode("".join(p for _, p in parts)) == figure_result

    out = in_terminal(arena, "results", "add_numbers", "--reference", env=terminal_env(arena, TERM_PROGRAM="iTerm.app"))
    (args, payload), = ITERM.findall(out)
    assert base64.standard_b64decode(payload) == figure_result


def test_no_images_in_other_terminals_pipes_or_tmux(arena, figure_result):
    for env in (terminal_env(arena), terminal_env(arena, TERM="xterm-kitty", TMUX="/tmp/tmux-1/default,1,0")):
        out = in_terminal(arena, "results", "add_numbers", "--reference", env=env)
        assert "results/basics/sum.png" in out and "\x1b_G" not in out and "1337;File" not in out
    arena.env.update(TERM="xterm-kitty", TERM_PROGRAM="iTerm.app")
    code, out, err = arena("results", "add_numbers", "--reference")
    assert code == 0 and "results/basics/sum.png" in out and "\x1b" not in out
