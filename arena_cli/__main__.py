"""`python -m arena_cli` is the `arena` command."""

from arena_cli.cli import main

main()
