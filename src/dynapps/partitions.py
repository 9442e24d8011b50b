"""The partition table: the firmware's base partitions plus one data partition per app slot.

Reads ESP-IDF's CSV format, computes every missing offset the way ESP-IDF's gen_esp32part does
(after the previous partition, aligned: app 64 KB, data 4 KB), checks the rules, and writes the
CSV (templates/partitions.csv.j2) and the binary table (32-byte entries, MD5 entry, 0xFF padding).
Offsets are computed here only; everything else reads them from `Table`.
"""

from __future__ import annotations

import csv
import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

from . import textfile
from .errors import DynappsError
from .layout import Layout
from .schema import parse_size

TABLE_OFFSET = 0x8000
TABLE_MAX_SIZE = 0xC00
FIRST_PARTITION = TABLE_OFFSET + 0x1000
ENTRY = struct.Struct("<2sBBII16sI")
# ESP-IDF's gen_esp32part.py refuses a table whose entries plus the MD5 entry reach 0xC00 bytes:
# the bootloader reads up to an end marker (32 bytes of 0xFF), which must fit too. So 94 entries.
MAX_ENTRIES = TABLE_MAX_SIZE // ENTRY.size - 2  # the MD5 entry and the end marker take the last two places
ENTRY_MAGIC = b"\xaa\x50"
MD5_MAGIC = b"\xeb\xeb"
APP_SLOT_SUBTYPE = 0x40
LABEL_MAX = 15

TYPES = {"app": 0x00, "data": 0x01}
SUBTYPES = {
    "app": {"factory": 0x00, "test": 0x20, **{f"ota_{n}": 0x10 + n for n in range(16)}},
    "data": {"ota": 0x00, "phy": 0x01, "nvs": 0x02, "coredump": 0x03, "nvs_keys": 0x04, "efuse": 0x05,
             "undefined": 0x06, "esphttpd": 0x80, "fat": 0x81, "spiffs": 0x82, "littlefs": 0x83},
}
ALIGNMENT = {0x00: 0x10000, 0x01: 0x1000}
FLAGS = {"encrypted": 0x1, "readonly": 0x2}


@dataclass(frozen=True)
class Partition:
    name: str
    type: int
    subtype: int
    offset: int
    size: int
    flags: int = 0
    source: str = ""  # "file:line" or "app <name>", for messages

    @property
    def end(self) -> int:
        return self.offset + self.size

    def type_name(self) -> str:
        return next((k for k, v in TYPES.items() if v == self.type), f"{self.type:#04x}")

    def subtype_name(self) -> str:
        names = SUBTYPES.get(self.type_name(), {})
        return next((k for k, v in names.items() if v == self.subtype), f"{self.subtype:#04x}")

    def flag_names(self) -> str:
        return ":".join(k for k, v in FLAGS.items() if self.flags & v)

    def csv_row(self) -> str:
        """One line of ESP-IDF's CSV format (numeric subtype for app slots: IDF has no name for it)."""
        cells = [self.name, self.type_name(), self.subtype_name(), f"{self.offset:#x}", f"{self.size:#x}"]
        widths = [16, 6, 9, 10, 10]
        return "".join(f"{cell},".ljust(width) for cell, width in zip(cells, widths)) + self.flag_names()


@dataclass(frozen=True)
class Table:
    partitions: tuple[Partition, ...]
    flash_size: int

    def find(self, name: str) -> Partition | None:
        return next((p for p in self.partitions if p.name == name), None)

    def to_binary(self) -> bytes:
        entries = b"".join(ENTRY.pack(ENTRY_MAGIC, p.type, p.subtype, p.offset, p.size,
                                      p.name.encode().ljust(16, b"\0"), p.flags) for p in self.partitions)
        md5 = MD5_MAGIC + b"\xff" * 14 + hashlib.md5(entries).digest()
        table = entries + md5
        if len(table) + ENTRY.size > TABLE_MAX_SIZE:  # no room left for the end marker
            raise DynappsError(f"partition table: {len(self.partitions)} partitions do not fit in {TABLE_MAX_SIZE:#x} "
                               f"bytes with the MD5 entry and the end marker (at most {MAX_ENTRIES})")
        return table + b"\xff" * (TABLE_MAX_SIZE - len(table))


def _number(text: str, where: tuple[str, int], what: str) -> int:
    value = parse_size(text)
    if value is None:
        raise DynappsError(f"{what}: expected a number such as 0x9000 or 24K, got '{text}'", *where)
    return value


def _type_byte(text: str, where: tuple[str, int], what: str) -> int:
    """A numeric Type or SubType: one byte of the binary entry; 0xFF means "any" to ESP-IDF."""
    value = _number(text, where, what)
    if not 0 <= value <= 0xFE:
        raise DynappsError(f"{what}: expected 0x00..0xfe, got {value:#x}", *where)
    return value


def _parse_type(text: str, where) -> int:
    if text in TYPES:
        return TYPES[text]
    return _type_byte(text, where, "Type")


def _parse_subtype(type_value: int, text: str, where) -> int:
    names = SUBTYPES.get(next((k for k, v in TYPES.items() if v == type_value), ""), {})
    if text in names:
        return names[text]
    return _type_byte(text, where, "SubType")


def read_csv(path: Path, display: str) -> list[Partition]:
    partitions: list[Partition] = []
    cursor = FIRST_PARTITION
    for line_number, line in enumerate(textfile.read(path, display).splitlines(), start=1):
        stripped = line.split("#", 1)[0].strip()
        if not stripped:
            continue
        where = (display, line_number)
        fields = [f.strip() for f in next(csv.reader([stripped]))]
        if len(fields) < 5:
            raise DynappsError("expected Name, Type, SubType, Offset, Size[, Flags]", *where)
        name, type_text, subtype_text, offset_text, size_text = fields[:5]
        if not name:
            raise DynappsError("Name: expected a partition name in the first column", *where)
        type_value = _parse_type(type_text, where)
        alignment = ALIGNMENT.get(type_value, 0x1000)
        offset = _number(offset_text, where, "Offset") if offset_text else _align(cursor, alignment)
        size = _number(size_text, where, "Size")
        flags = _flags(fields[5] if len(fields) > 5 else "", where)
        partitions.append(Partition(name, type_value, _parse_subtype(type_value, subtype_text, where), offset, size,
                                    flags, f"{display}:{line_number}"))
        cursor = offset + size
    return partitions


def _flags(text: str, where) -> int:
    value = 0
    for flag in filter(None, (f.strip() for f in text.split(":"))):
        if flag not in FLAGS:
            raise DynappsError(f"Flags: unknown flag '{flag}' (expected {', '.join(FLAGS)})", *where)
        value |= FLAGS[flag]
    return value


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def build(base: list[Partition], layout: Layout, flash_size: int) -> Table:
    """The firmware's partitions followed by one slot partition per app, checked."""
    slots = [Partition(s.app, TYPES["data"], APP_SLOT_SUBTYPE, s.flash_offset, s.size, 0, f"app {s.app}")
             for s in layout.slots]
    if len(base) + len(slots) > MAX_ENTRIES:
        raise DynappsError(f"{len(slots)} apps and {len(base)} firmware partitions need {len(base) + len(slots)} "
                           f"partition table entries; ESP-IDF's table holds at most {MAX_ENTRIES} "
                           f"({TABLE_MAX_SIZE:#x} bytes: the entries, the MD5 entry and the end marker), so at most "
                           f"{MAX_ENTRIES - len(base)} apps fit with this firmware")
    table = Table(tuple(base) + tuple(slots), flash_size)
    check(table)
    return table


def check(table: Table) -> None:
    seen: dict[str, Partition] = {}
    for partition in table.partitions:
        _check_one(partition, table.flash_size)
        if partition.name in seen:
            raise DynappsError(f"partition '{partition.name}' ({partition.source}) has the same name as "
                               f"{seen[partition.name].source}")
        seen[partition.name] = partition
    ordered = sorted(table.partitions, key=lambda p: p.offset)
    for before, after in zip(ordered, ordered[1:]):
        if after.offset < before.end:
            raise DynappsError(f"partition '{after.name}' ({after.source}) at {after.offset:#x} overlaps "
                               f"'{before.name}' ({before.source}), which ends at {before.end:#x}")


def _check_one(partition: Partition, flash_size: int) -> None:
    if len(partition.name.encode()) > LABEL_MAX:
        raise DynappsError(f"partition '{partition.name}' ({partition.source}): names hold at most {LABEL_MAX} characters")
    alignment = ALIGNMENT.get(partition.type, 0x1000)
    if partition.offset % alignment:
        raise DynappsError(f"partition '{partition.name}' ({partition.source}) at {partition.offset:#x} is not "
                           f"aligned to {alignment:#x} ({partition.type_name()} partitions)")
    if partition.offset < FIRST_PARTITION:
        raise DynappsError(f"partition '{partition.name}' ({partition.source}) at {partition.offset:#x} overlaps "
                           f"the bootloader or the partition table (partitions start at {FIRST_PARTITION:#x})")
    if partition.size <= 0 or partition.size % 0x1000:
        raise DynappsError(f"partition '{partition.name}' ({partition.source}): size {partition.size:#x} is not a "
                           "positive multiple of 0x1000")
    if partition.end > flash_size:
        raise DynappsError(f"partition '{partition.name}' ({partition.source}) ends at {partition.end:#x}, past the "
                           f"end of the {flash_size // 0x100000} MB flash")


def read_binary(data: bytes) -> list[Partition]:
    """Parse a binary table (stops at the MD5 entry or 0xFF padding); checks the MD5."""
    partitions = []
    for position in range(0, TABLE_MAX_SIZE, ENTRY.size):
        chunk = data[position:position + ENTRY.size]
        if chunk[:2] == MD5_MAGIC:
            if hashlib.md5(data[:position]).digest() != chunk[16:32]:
                raise DynappsError("partition table: MD5 mismatch")
            return partitions
        if chunk[:2] != ENTRY_MAGIC:
            break
        _magic, type_value, subtype, offset, size, label, flags = ENTRY.unpack(chunk)
        partitions.append(Partition(label.rstrip(b"\0").decode(), type_value, subtype, offset, size, flags))
    raise DynappsError("partition table: no MD5 entry")
