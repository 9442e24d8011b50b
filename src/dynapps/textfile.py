"""Reading a file the user writes (manifests, the project file, the partition CSV): UTF-8 text
without control characters, or one file:line error that says which byte or character is wrong.

Control characters are refused because they end up in generated C, partition labels and
terminal output, where they are invisible or change what is shown; tab, newline and carriage
return are ordinary layout and allowed.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import DynappsError

# C0 controls except tab, newline and carriage return; DEL; C1 controls (U+0080..U+009F)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def control_character(text: str) -> re.Match | None:
    """The first control character of `text` that is not tab, newline or carriage return."""
    return _CONTROL.search(text)


def describe_control(character: str) -> str:
    return f"control character U+{ord(character):04X}"


def read(path: Path, display: str) -> str:
    """The file's text; errors name it as `display` with the line and column of the bad byte."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DynappsError(f"cannot read: {error.strerror}", display) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line, column = _position(data, error.start)
        raise DynappsError(f"not UTF-8 text: byte {data[error.start]:#04x} at column {column}; "
                           "save the file as UTF-8", display, line) from None
    found = control_character(text)
    if found:
        line, column = _position(text, found.start())
        raise DynappsError(f"{describe_control(found.group())} at column {column}; remove it "
                           "(only tab, newline and carriage return are allowed)", display, line)
    return text


def _position(content: bytes | str, offset: int) -> tuple[int, int]:
    """1-based line and column of `offset` (columns count bytes in undecodable data)."""
    newline = b"\n" if isinstance(content, bytes) else "\n"
    line_start = content.rfind(newline, 0, offset) + 1
    return content.count(newline, 0, offset) + 1, offset - line_start + 1
