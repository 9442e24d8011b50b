"""`python -m dynapps ARGS` = the `dynapps` command (cli.py)."""

from .cli import entry

entry()
