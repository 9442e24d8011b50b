"""`flash-apps`: write only what differs — app slots and the partition table — to a board
(esptool, see esptool_target.py) or into the emulator's flash image.

What is in the flash is decided per region (offset, size) and its content, never from app names:
a slot whose bytes differ is written whatever app it held before (an app removed and added back,
apps moved by `apps.order`).

- The emulator's flash image is a file here, so it is its own record: a region is written when
  the bytes at its offset differ, and read back after writing. A missing or resized image is
  created erased, so everything is written into it; a write killed half-way leaves bytes that
  differ, so the next run writes the region again.
- A board can't be read cheaply, so what is known to be on it is kept in the build folder
  (flash-record.json), per board: the SHA-256 of every region by (offset, size). A region is
  forgotten BEFORE it is written and recorded only once esptool verified it on the chip (MD5), so
  a write cut off half-way is redone next run even if the source went back to what the record
  held before.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import trustmark
from .chips import FLASH_SECTOR as SECTOR
from .errors import DynappsError

ERASED = 0xFF


@dataclass(frozen=True)
class Region:
    label: str  # "partition-table" or the app's name: for messages only, never a key
    offset: int
    data: bytes  # padded with 0xFF to a whole number of sectors, as flash erases them

    @property
    def end(self) -> int:
        return self.offset + len(self.data)

    @property
    def key(self) -> str:
        return f"{self.offset:#x}+{len(self.data):#x}"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def pad_to_sector(data: bytes) -> bytes:
    return data + bytes([ERASED]) * (-len(data) % SECTOR)


def regions(partition_table: bytes, table_offset: int, images: dict[str, tuple[int, bytes]]) -> list[Region]:
    """The partition table (at CONFIG_PARTITION_TABLE_OFFSET) and every app image at its slot offset;
    an XIP image's region ends with its trust mark's sector, erased (trustmark.py)."""
    result = [Region("partition-table", table_offset, pad_to_sector(partition_table))]
    result += [Region(name, offset, pad_to_sector(data) + trustmark.erased_sector(data))
               for name, (offset, data) in sorted(images.items())]
    return result


def labels(written: list[Region]) -> str:
    """What the summary line names: the regions written, nothing else."""
    return ", ".join(region.label for region in written) or "nothing changed"


def _span(key: str) -> tuple[int, int] | None:
    """(start, end) of a record key "0xOFFSET+0xSIZE"; None for anything else (an older record)."""
    offset, _, size = key.partition("+")
    try:
        return int(offset, 16), int(offset, 16) + int(size, 16)
    except ValueError:
        return None


class Record:
    """What is known to be on each board: {target: {"0xOFFSET+0xSIZE": sha256}}. Saved at every
    change (atomically), so a run killed at any point leaves a record that is never too optimistic."""

    def __init__(self, path: Path):
        self.path = path
        self.targets = self._load(path)

    @staticmethod
    def _load(path: Path) -> dict[str, dict[str, str]]:
        try:
            targets = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}  # missing or unreadable: nothing is known, everything is written
        if not isinstance(targets, dict):
            return {}
        return {target: {key: digest for key, digest in known.items() if _span(key) and isinstance(digest, str)}
                for target, known in targets.items() if isinstance(known, dict)}

    def changed(self, target: str, wanted: list[Region]) -> list[Region]:
        known = self.targets.get(target, {})
        return [region for region in wanted if known.get(region.key) != region.digest]

    def forget_regions(self, target: str, about_to_write: list[Region]) -> None:
        """Called before writing: until verified, these regions (and any recorded region they
        overlap) hold unknown bytes."""
        self._drop_overlapped(target, about_to_write)
        self._save()

    def remember(self, target: str, verified: list[Region]) -> None:
        """Called with the regions verified on the chip: they replace what they overlap."""
        self._drop_overlapped(target, verified).update({region.key: region.digest for region in verified})
        self._save()

    def _drop_overlapped(self, target: str, regions: list[Region]) -> dict[str, str]:
        known = self.targets.setdefault(target, {})
        for region in regions:
            for key in [key for key in known if _overlaps(_span(key), region)]:
                del known[key]
        return known

    def forget(self, target: str) -> None:
        self.targets.pop(target, None)
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(self.targets, indent=1, sort_keys=True))
        os.replace(temporary, self.path)


def _overlaps(span: tuple[int, int], region: Region) -> bool:
    start, end = span
    return start < region.end and region.offset < end


class FlashImage:
    """The emulator's flash image: a file of `flash_size` bytes, erased (0xFF) when created."""

    def __init__(self, path: Path, flash_size: int):
        self.path = path
        self.flash_size = flash_size

    def differing(self, wanted: list[Region]) -> list[Region]:
        """The regions whose bytes in the image differ; all of them when the image is missing or
        has another size (it is then created erased when written)."""
        current = self._read()
        if current is None:
            return list(wanted)
        return [region for region in wanted if current[region.offset:region.end] != region.data]

    def write(self, changed: list[Region]) -> int:
        """Write `changed`, then read every one back; returns the bytes written."""
        try:
            if self._read() is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.write_bytes(bytes([ERASED]) * self.flash_size)
            with self.path.open("r+b") as stream:
                for region in changed:
                    stream.seek(region.offset)
                    stream.write(region.data)
                stream.flush()
                os.fsync(stream.fileno())
        except OSError as error:
            raise DynappsError(f"cannot write the emulator's flash image {self.path}: {error.strerror}") from None
        self._verify(changed)
        return sum(len(region.data) for region in changed)

    def _verify(self, written: list[Region]) -> None:
        current = self._read() or b""
        for region in written:
            if current[region.offset:region.end] != region.data:
                raise DynappsError(f"{self.path}: {region.label} at {region.offset:#x} reads back different "
                                   "from what was written")

    def _read(self) -> bytes | None:
        """The image's bytes; None when it is missing, of another size or not readable."""
        try:
            data = self.path.read_bytes()
        except OSError:
            return None
        return data if len(data) == self.flash_size else None
