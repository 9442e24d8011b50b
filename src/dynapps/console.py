"""The one way dynapps talks to the user: the `dynapps` logger. Progress and results (a summary
table, "flash-apps: wrote ...") go to stdout; `error:` lines go to stderr. Messages are printed
as given, without a level prefix: the text already says what it is.
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("dynapps")


class _ConsoleHandler(logging.Handler):
    """Writes to the sys.stdout/sys.stderr of the moment, so a caller that swaps them (pytest's
    capture, a test redirecting output) receives the message."""

    def emit(self, record: logging.LogRecord) -> None:
        stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
        stream.write(record.getMessage() + "\n")
        stream.flush()


if not logger.handlers:
    logger.addHandler(_ConsoleHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False  # an application's root logger configuration must not print them twice


def say(text: str) -> None:
    logger.info(text)


def error(text: str) -> None:
    """`text` is the whole line, `error: ` included."""
    logger.error(text)
