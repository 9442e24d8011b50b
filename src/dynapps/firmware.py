"""Firmware facts the app build needs: the export table (firmware/exports.yaml) and its id,
and the data arena (from the firmware's sdkconfig or the project file, else the emulator
firmware's). Never from the firmware ELF: apps build before the firmware does, and stay valid when
a firmware rebuild moves its own RAM."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from . import yamlfile
from .errors import DynappsError
from .project import DataArena, Project
from .schema import Section

MAX_EXPORTS = 0xFFFF  # the image header's exports_count is a u16


@dataclass(frozen=True)
class ExportTable:
    path: str
    symbols: tuple[str, ...]  # in table order: an app's import records index into it
    headers: tuple[str, ...]  # C headers declaring them, for the generated table

    @property
    def id(self) -> int:
        return table_id(self.symbols)

    @property
    def prefix_ids(self) -> tuple[int, ...]:
        """prefix_ids[k]: the id of the table's first k + 1 entries (the last is `id`). An image
        records the shortest prefix holding its imports, so appending an export keeps it valid."""
        return tuple(table_id(self.symbols[:count]) for count in range(1, len(self.symbols) + 1))

    def index(self, name: str) -> int | None:
        try:
            return self.symbols.index(name)
        except ValueError:
            return None


def table_id(symbols) -> int:
    """First 4 bytes (little-endian) of the SHA-256 of the names joined by newlines."""
    digest = hashlib.sha256("\n".join(symbols).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def load_exports(project: Project) -> ExportTable:
    path = project.exports_file
    top = Section(yamlfile.load(project.root / path, path), path)
    top.check_keys({"symbols", "headers"})
    entries = top.strings("symbols", required=True, pattern=r"[A-Za-z_]\w*", expected="a C symbol name")
    seen: dict[str, int] = {}
    for name, line in entries:
        if name in seen:
            raise DynappsError(f"symbols: '{name}' listed twice (first on line {seen[name]})", path, line)
        seen[name] = line
    if len(seen) > MAX_EXPORTS:
        raise DynappsError(f"symbols: {len(seen)} symbols, at most {MAX_EXPORTS} (an image records a prefix "
                           "length in 16 bits)", path)
    headers = top.strings("headers", default=[], pattern=r"[\w./-]+\.h", expected="a header such as stdio.h")
    return ExportTable(path, tuple(seen), tuple(h for h, _ in headers))


def data_arena(project: Project) -> DataArena:
    if project.data_arena:
        return project.data_arena
    region = project.profile.emulator.data_arena
    return DataArena(region.start, region.size, f"the {project.profile.name} emulator firmware")
