"""Typed, strict access to a YAML mapping: every mistake is a file:line error naming the key."""

from __future__ import annotations

import re

from .errors import DynappsError
from .yamlfile import Mapping, Sequence

_SIZE = re.compile(r"^\s*(0x[0-9a-fA-F]+|\d+)\s*([KkMm])?[Bb]?\s*$")
_MISSING = object()


def parse_size(text) -> int | None:
    """'64K' -> 65536, '1M' -> 1048576, '0x1000' -> 4096, 4096 -> 4096; None if not a size."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text
    if not isinstance(text, str):
        return None
    match = _SIZE.match(text)
    if not match:
        return None
    number = int(match.group(1), 0)
    unit = (match.group(2) or "").upper()
    return number * {"": 1, "K": 1024, "M": 1024 * 1024}[unit]


def _type_name(value) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, Sequence):
        return "a list"
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


class Section:
    """One mapping of a YAML file, with the key path used in messages (e.g. 'apps.region')."""

    def __init__(self, mapping: Mapping, path: str, prefix: str = ""):
        self.mapping = mapping
        self.path = path
        self.prefix = prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def error(self, key: str | None, message: str) -> DynappsError:
        line = self.mapping.line_of(key) if key is not None else self.mapping.line
        label = f"{self.name(key)}: " if key is not None else (f"{self.prefix[:-1]}: " if self.prefix else "")
        return DynappsError(f"{label}{message}", self.path, line)

    def check_keys(self, allowed) -> None:
        for key in self.mapping:
            if key not in allowed:
                expected = ", ".join(sorted(allowed))
                raise self.error(key, f"unknown key (expected one of: {expected})")

    def has(self, key: str) -> bool:
        return key in self.mapping

    def _get(self, key: str, default, required: bool):
        if key in self.mapping:
            return self.mapping[key]
        if required:
            raise DynappsError(f"missing required key '{self.name(key)}'", self.path, self.mapping.line)
        return default

    def string(self, key: str, default=None, required=False, pattern: str | None = None,
               expected: str = "a string"):
        value = self._get(key, _MISSING, required)
        if value is _MISSING:
            return default
        if not isinstance(value, str) or (pattern and not re.fullmatch(pattern, value)):
            raise self.error(key, f"expected {expected}, got {_type_name(value)}")
        return value

    def choice(self, key: str, choices, default=None, required=False):
        value = self._get(key, _MISSING, required)
        if value is _MISSING:
            return default
        if value not in choices:
            raise self.error(key, f"expected one of {', '.join(choices)}, got {_type_name(value)}")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        value = self._get(key, _MISSING, False)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {_type_name(value)}")
        return value

    def size(self, key: str, default=None, required=False, minimum: int = 0, multiple: int = 1):
        value = self._get(key, _MISSING, required)
        if value is _MISSING:
            return default
        number = parse_size(value)
        if number is None:
            raise self.error(key, f"expected a size such as 4096, 0x1000, 64K or 1M, got {_type_name(value)}")
        if number < minimum:
            raise self.error(key, f"expected at least {minimum} bytes, got {number}")
        if number % multiple:
            raise self.error(key, f"expected a multiple of {multiple:#x} bytes, got {number:#x}")
        return number

    def strings(self, key: str, default=None, required=False, pattern: str | None = None,
                expected: str = "a string"):
        """A list of strings; returns [(value, line)]."""
        value = self._get(key, _MISSING, required)
        if value is _MISSING:
            return default
        if not isinstance(value, Sequence):
            raise self.error(key, f"expected a list, got {_type_name(value)}")
        result = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or (pattern and not re.fullmatch(pattern, item)):
                raise DynappsError(f"{self.name(key)}[{index}]: expected {expected}, got {_type_name(item)}",
                                   self.path, value.line_of(index))
            result.append((item, value.line_of(index)))
        return result

    def section(self, key: str, required=False) -> "Section | None":
        value = self._get(key, _MISSING, required)
        if value is _MISSING:
            return Section(_empty_mapping(self.mapping.line_of(key)), self.path, f"{self.name(key)}.")
        if not isinstance(value, Mapping):
            raise self.error(key, f"expected a mapping, got {_type_name(value)}")
        return Section(value, self.path, f"{self.name(key)}.")


def _empty_mapping(line: int) -> Mapping:
    mapping = Mapping()
    mapping.line = line
    mapping.key_lines = {}
    return mapping
