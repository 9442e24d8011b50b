"""The one exception type for user mistakes: printed as a single line, never a traceback."""

from __future__ import annotations


class DynappsError(Exception):
    """A user-facing error. `str()` gives `file:line: message` (or just the message)."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        if self.path and self.line:
            return f"{self.path}:{self.line}: {self.message}"
        if self.path:
            return f"{self.path}: {self.message}"
        return self.message
