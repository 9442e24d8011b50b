"""YAML loading that remembers the line of every key and list item, for file:line errors."""

from __future__ import annotations

from pathlib import Path

import yaml

from . import textfile
from .errors import DynappsError


class Mapping(dict):
    """A dict that knows the line of each key (`line_of`) and its own line."""

    line: int = 0
    key_lines: dict

    def line_of(self, key) -> int:
        return self.key_lines.get(key, self.line)


class Sequence(list):
    """A list that knows the line of each item."""

    line: int = 0
    item_lines: list

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _Loader(yaml.SafeLoader):
    """PyYAML's own parser: the reference, and the one whose messages errors quote."""


# libyaml's parser (in PyYAML's wheels), 7x faster on a project's manifests. The same Python
# constructors build the same Mapping and Sequence from its nodes; a document it refuses is parsed
# again by _Loader, so that an error reads the same with or without libyaml.
_FastLoader = type("_FastLoader", (yaml.CSafeLoader,), {}) if hasattr(yaml, "CSafeLoader") else None


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Mapping:
    result = Mapping()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (Mapping, Sequence)):  # `[a, b]: 1`, `{a: 1}: 1`, `? - a`
            kind = "a mapping" if isinstance(key, Mapping) else "a list"
            raise DynappsError(f"a key must be a name, got {kind}", loader.name, key_node.start_mark.line + 1)
        if key in result:
            raise DynappsError(f"duplicate key '{key}'", loader.name, key_node.start_mark.line + 1)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> Sequence:
    result = Sequence(loader.construct_object(item, deep=True) for item in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [item.start_mark.line + 1 for item in node.value]
    return result


for loader_class in filter(None, (_Loader, _FastLoader)):
    loader_class.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    loader_class.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _parse(loader_class, text: str, display: str):
    loader = loader_class(text)
    loader.name = display
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load(path: Path, display: str) -> Mapping:
    """Parse `path`; errors name it as `display`. The document must be a mapping."""
    text = textfile.read(path, display)
    try:
        try:
            document = _parse(_FastLoader or _Loader, text, display)
        except yaml.YAMLError:
            document = _parse(_Loader, text, display)
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else None
        raise DynappsError(f"invalid YAML: {error.problem}", display, line) from None
    except yaml.YAMLError as error:  # e.g. a character YAML does not allow (U+FFFE)
        raise DynappsError(f"invalid YAML: {error}".splitlines()[0], display) from None
    if not isinstance(document, Mapping):
        raise DynappsError("expected a mapping of keys at the top level", display, 1)
    _check_values(document, display)
    return document


def _check_values(node, display: str) -> None:
    """Refuse control characters that YAML escapes ("\\x1b") put into string values."""
    items = node.items() if isinstance(node, Mapping) else enumerate(node)
    for key, value in items:
        if isinstance(value, (Mapping, Sequence)):
            _check_values(value, display)
        elif isinstance(value, str) and textfile.control_character(value):
            character = textfile.control_character(value).group()
            label = f"{key}: " if isinstance(node, Mapping) else ""
            raise DynappsError(f"{label}{textfile.describe_control(character)} in the value; remove it",
                               display, node.line_of(key))
