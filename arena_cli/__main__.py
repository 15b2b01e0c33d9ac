"""`python -m arena_cli` is the `arena` command."""

import sys

try:
    from arena_cli.cli import main
except ModuleNotFoundError as e:  # a Python without arena's dependencies (not the project's .venv)
    sys.exit(
        f"arena: {e.name} is not installed for {sys.executable}. Set up with the README's first command, "
        "then use .venv/bin/arena (or .venv/bin/python -m arena_cli)."
    )

main()
