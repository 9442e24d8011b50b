"""The partition table: the firmware's base partitions plus one data partition per app slot.

Reads ESP-IDF's CSV format by the rules of ESP-IDF's gen_esp32part.py (v1.5, ESP-IDF 5.5): types
and subtypes by name in any letter case or as numbers, sizes with K/M suffixes, an empty data
subtype meaning `undefined`, missing offsets computed after the previous row (aligned: app 64 KB,
others 4 KB), the primary bootloader and partition table placed by the chip and the table offset;
checks the same rules (alignment, overlaps, otadata, NVS minimum size, read-only flags), and
writes the CSV (templates/partitions.csv.j2) and the binary table (32-byte entries, MD5 entry,
0xFF padding) byte for byte as gen_esp32part.py does. Offsets are computed here only; everything
else reads them from `Table`.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

from . import sdkconfig, textfile
from .errors import DynappsError
from .layout import Layout

# ESP-IDF's default CONFIG_PARTITION_TABLE_OFFSET; a project's own is Project.partition_table_offset
TABLE_OFFSET = sdkconfig.DEFAULT_TABLE_OFFSET
TABLE_SECTOR = 0x1000  # the table owns its whole flash sector
TABLE_MAX_SIZE = 0xC00
ENTRY = struct.Struct("<2sBBII16sI")
# ESP-IDF's gen_esp32part.py refuses a table whose entries plus the MD5 entry reach 0xC00 bytes:
# the bootloader reads up to an end marker (32 bytes of 0xFF), which must fit too. So 94 entries.
MAX_ENTRIES = TABLE_MAX_SIZE // ENTRY.size - 2  # the MD5 entry and the end marker take the last two places
ENTRY_MAGIC = b"\xaa\x50"
MD5_MAGIC = b"\xeb\xeb"
APP_SLOT_SUBTYPE = 0x40
LABEL_MAX = 15

TYPES = {"app": 0x00, "data": 0x01, "bootloader": 0x02, "partition_table": 0x03}
SUBTYPES = {  # ESP-IDF's esp_partition_subtype_t, by type name
    "app": {"factory": 0x00, "test": 0x20, **{f"ota_{n}": 0x10 + n for n in range(16)},
            **{f"tee_{n}": 0x30 + n for n in range(2)}},
    "data": {"ota": 0x00, "phy": 0x01, "nvs": 0x02, "coredump": 0x03, "nvs_keys": 0x04, "efuse": 0x05,
             "undefined": 0x06, "esphttpd": 0x80, "fat": 0x81, "spiffs": 0x82, "littlefs": 0x83, "tee_ota": 0x90},
    "bootloader": {"primary": 0x00, "ota": 0x01, "recovery": 0x02},
    "partition_table": {"primary": 0x00, "ota": 0x01},
}
ALIGNMENT = {TYPES["app"]: 0x10000}  # offset alignment; every other type: DEFAULT_ALIGNMENT
DEFAULT_ALIGNMENT = 0x1000
APP_SIZE_ALIGNMENT = 0x1000  # flash erase size (gen_esp32part without secure boot v1)
NVS_READ_WRITE_MIN_SIZE = 0x3000  # a smaller NVS partition must be flagged readonly
OTADATA_SIZE = 0x2000  # data/ota and data/tee_ota: exactly two sectors, at most one of each
ALWAYS_READ_WRITE = ("ota", "coredump")  # data subtypes that refuse the readonly flag
FLAGS = {"encrypted": 0x1, "readonly": 0x2}
SUFFIXES = {"k": 1024, "m": 1024 * 1024}


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

    def is_(self, type_name: str, subtype_name: str) -> bool:
        return self.type == TYPES[type_name] and self.subtype == SUBTYPES[type_name][subtype_name]

    @property
    def placed_by_chip(self) -> bool:
        """The primary bootloader and partition table: where the ROM and the table offset put them,
        before the first partition; offsets of the rows after them are computed without them."""
        return self.is_("bootloader", "primary") or self.is_("partition_table", "primary")

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
    table_offset: int = TABLE_OFFSET  # CONFIG_PARTITION_TABLE_OFFSET: the bootloader's flash ends there

    @property
    def first_partition(self) -> int:
        """Where partitions may start: after the table's sector (ESP-IDF's gen_esp32part.py rule)."""
        return self.table_offset + TABLE_SECTOR

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


def _idf_number(text: str) -> int | None:
    """gen_esp32part's numbers: Python's int(text, 0) after any K/M suffixes (either case)."""
    multiplier = 1
    while text[-1:].lower() in SUFFIXES:
        multiplier *= SUFFIXES[text[-1].lower()]
        text = text[:-1]
    try:
        return int(text, 0) * multiplier
    except ValueError:
        return None


def _number(text: str, where: tuple[str, int], what: str) -> int:
    value = _idf_number(text)
    if value is None:
        raise DynappsError(f"{what}: expected a number such as 0x9000 or 24K, got '{text}'", *where)
    return value


def _keyword_or_byte(text: str, keywords: dict[str, int], where: tuple[str, int], what: str) -> int:
    """A Type or SubType: a number, else a keyword in any letter case. One byte of the entry;
    0xFF means "any" to ESP-IDF's partition API, so no partition has it."""
    value = _idf_number(text)
    if value is None:
        value = keywords.get(text.lower())
    if value is None:
        names = f"one of {', '.join(keywords)}" if keywords else "0x00..0xfe (this type has no subtype names)"
        raise DynappsError(f"{what}: expected a number or {names}, got '{text}'", *where)
    if not 0 <= value <= 0xFE:
        raise DynappsError(f"{what}: expected 0x00..0xfe, got {value:#x}", *where)
    return value


def _type_name(type_value: int) -> str:
    return next((k for k, v in TYPES.items() if v == type_value), "")


def _parse_subtype(type_value: int, text: str, where) -> int:
    if not text:
        if type_value == TYPES["app"]:
            raise DynappsError("SubType: an app partition needs a subtype (only other types default to "
                               "undefined, 0x06)", *where)
        return SUBTYPES["data"]["undefined"]
    return _keyword_or_byte(text, SUBTYPES.get(_type_name(type_value), {}), where, "SubType")


@dataclass(frozen=True)
class _Fixed:
    """Where the chip and the table offset put the bootloader and partition table rows."""
    bootloader_offset: int
    table_offset: int

    def offset(self, type_value: int, subtype: int, where) -> int | None:
        """The row's offset when ESP-IDF ignores the Offset field, else None."""
        if type_value == TYPES["bootloader"] and subtype == SUBTYPES["bootloader"]["primary"]:
            return self.bootloader_offset
        if type_value == TYPES["bootloader"] and subtype == SUBTYPES["bootloader"]["recovery"]:
            raise DynappsError("SubType: a recovery bootloader's offset comes from ESP-IDF's "
                               "CONFIG_BOOTLOADER_RECOVERY_OFFSET, which dynapps does not read: leave this row "
                               "out of the base table", *where)
        if type_value == TYPES["partition_table"] and subtype == SUBTYPES["partition_table"]["primary"]:
            return self.table_offset
        return None

    def size(self, type_value: int) -> int | None:
        """The row's size when ESP-IDF ignores the Size field, else None."""
        if type_value == TYPES["bootloader"]:
            return self.table_offset - self.bootloader_offset
        if type_value == TYPES["partition_table"]:
            return TABLE_SECTOR
        return None


def _parse_row(fields: list[str], where: tuple[str, int], fixed: _Fixed, cursor: int,
               previous: Partition | None) -> Partition:
    name, type_text, subtype_text, offset_text, size_text, flags_text = fields[:6]
    if not name:
        raise DynappsError("Name: expected a partition name in the first column", *where)
    type_value = _keyword_or_byte(type_text, TYPES, where, "Type")
    subtype = _parse_subtype(type_value, subtype_text, where)
    offset = fixed.offset(type_value, subtype, where)
    if offset is None:
        offset = _number(offset_text, where, "Offset") if offset_text else \
            _align(cursor, ALIGNMENT.get(type_value, DEFAULT_ALIGNMENT))
    size = fixed.size(type_value)
    if size is None:
        size = _number(size_text, where, "Size")
        if size < 0:  # gen_esp32part: a negative size names the partition's end address
            size = -size - offset
    partition = Partition(name, type_value, subtype, offset, size, _flags(flags_text, where), f"{where[0]}:{where[1]}")
    if previous is not None and not partition.placed_by_chip and offset < cursor:
        raise _order_error(partition, previous)
    return partition


def _order_error(partition: Partition, previous: Partition) -> DynappsError:
    """gen_esp32part wants each row after the end of the row before it."""
    if partition.end > previous.offset:
        return _overlap_error(partition, previous)
    return DynappsError(f"partition '{partition.name}' ({partition.source}) at {partition.offset:#x} comes before "
                        f"'{previous.name}' ({previous.source}) in flash but after it in the file: ESP-IDF wants "
                        "the rows in flash order")


def _overlap_error(after: Partition, before: Partition) -> DynappsError:
    return DynappsError(f"partition '{after.name}' ({after.source}) at {after.offset:#x} overlaps "
                        f"'{before.name}' ({before.source}), which ends at {before.end:#x}")


def read_csv(path: Path, display: str, bootloader_offset: int = 0, table_offset: int = TABLE_OFFSET) -> list[Partition]:
    """The rows of a base table. `bootloader_offset`: where the chip's ROM reads the second-stage
    bootloader (chips.ChipProfile.bootloader_offset); both place the primary bootloader and table rows."""
    fixed = _Fixed(bootloader_offset, table_offset)
    partitions: list[Partition] = []
    cursor, previous = table_offset + TABLE_SECTOR, None
    for line_number, line in enumerate(textfile.read(path, display).splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):  # only whole lines are comments, as in ESP-IDF
            continue
        fields = [f.strip() for f in (stripped + ",,,,,").split(",")]  # missing trailing fields are empty
        partition = _parse_row(fields, (display, line_number), fixed, cursor, previous)
        partitions.append(partition)
        if not partition.placed_by_chip:
            cursor, previous = partition.end, partition
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


def build(base: list[Partition], layout: Layout, flash_size: int, table_offset: int = TABLE_OFFSET) -> Table:
    """The firmware's partitions followed by one slot partition per app, checked."""
    slots = [Partition(s.app, TYPES["data"], APP_SLOT_SUBTYPE, s.flash_offset, s.size, 0, f"app {s.app}")
             for s in layout.slots]
    if len(base) + len(slots) > MAX_ENTRIES:
        raise DynappsError(f"{len(slots)} apps and {len(base)} firmware partitions need {len(base) + len(slots)} "
                           f"partition table entries; ESP-IDF's table holds at most {MAX_ENTRIES} "
                           f"({TABLE_MAX_SIZE:#x} bytes: the entries, the MD5 entry and the end marker), so at most "
                           f"{MAX_ENTRIES - len(base)} apps fit with this firmware")
    table = Table(tuple(base) + tuple(slots), flash_size, table_offset)
    check(table)
    return table


def check(table: Table) -> None:
    seen: dict[str, Partition] = {}
    for partition in table.partitions:
        _check_one(partition, table)
        if partition.name in seen:
            raise DynappsError(f"partition '{partition.name}' ({partition.source}) has the same name as "
                               f"{seen[partition.name].source}")
        seen[partition.name] = partition
    ordered = sorted(table.partitions, key=lambda p: p.offset)
    for before, after in zip(ordered, ordered[1:]):
        if after.offset < before.end:
            raise _overlap_error(after, before)
    for subtype in ("ota", "tee_ota"):
        _check_otadata([p for p in table.partitions if p.is_("data", subtype)])


def _check_otadata(otadata: list[Partition]) -> None:
    """gen_esp32part: at most one data/ota (and one data/tee_ota) partition, of exactly 0x2000 bytes."""
    for partition in otadata:
        if partition.size != OTADATA_SIZE:
            raise DynappsError(f"partition '{partition.name}' ({partition.source}): {partition.subtype_name()} "
                               f"partitions are {OTADATA_SIZE:#x} bytes, not {partition.size:#x}")
    if len(otadata) > 1:
        first, second = otadata[:2]
        raise DynappsError(f"partition '{second.name}' ({second.source}): a second {second.subtype_name()} partition "
                           f"(the first is '{first.name}', {first.source}); ESP-IDF allows one")


def _check_one(partition: Partition, table: Table) -> None:
    label = f"partition '{partition.name}' ({partition.source})"
    if len(partition.name.encode()) > LABEL_MAX:
        raise DynappsError(f"{label}: names hold at most {LABEL_MAX} characters")
    alignment = ALIGNMENT.get(partition.type, DEFAULT_ALIGNMENT)
    if partition.offset % alignment:
        raise DynappsError(f"{label} at {partition.offset:#x} is not aligned to {alignment:#x} "
                           f"({partition.type_name()} partitions)")
    if partition.offset < table.first_partition and not partition.placed_by_chip:
        raise DynappsError(f"{label} at {partition.offset:#x} overlaps the bootloader or the partition table "
                           f"(partitions start at {table.first_partition:#x})")
    if partition.size <= 0:
        raise DynappsError(f"{label}: size {partition.size:#x} is not positive")
    if partition.type == TYPES["app"] and partition.size % APP_SIZE_ALIGNMENT:
        raise DynappsError(f"{label}: an app partition's size must be a multiple of {APP_SIZE_ALIGNMENT:#x}, "
                           f"not {partition.size:#x}")
    if partition.end > table.flash_size:
        raise DynappsError(f"{label} ends at {partition.end:#x}, past the end of the "
                           f"{table.flash_size // 0x100000} MB flash")
    _check_read_only(partition, label)


def _check_read_only(partition: Partition, label: str) -> None:
    read_only = bool(partition.flags & FLAGS["readonly"])
    if read_only and any(partition.is_("data", name) for name in ALWAYS_READ_WRITE):
        raise DynappsError(f"{label}: {partition.subtype_name()} partitions are always read-write: remove the "
                           "readonly flag")
    if not read_only and partition.is_("data", "nvs") and partition.size < NVS_READ_WRITE_MIN_SIZE:
        raise DynappsError(f"{label}: a read-write NVS partition needs at least {NVS_READ_WRITE_MIN_SIZE:#x} bytes, "
                           f"it has {partition.size:#x}; make it bigger or flag it readonly")


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
