"""`python -m arena_cli` is the `arena` command."""

import sys

try:
    from arena_cli.entry import main

    main()
except ModuleNotFoundError as e:  # a Python without arena's dependencies (not the project's .venv)
    if (e.name or "").startswith("arena"):
        raise
    sys.exit(
        f"arena: {e.name} is not installed for {sys.executable}. Set up with the README's first command, "
        "then use .venv/bin/arena (or .venv/bin/python -m arena_cli)."
    )
