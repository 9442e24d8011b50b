"""`flash-apps`: write only what changed — app slots and the partition table — to a board
(esptool, see esptool_target.py) or into the emulator's flash image.

What was last written to each target is recorded in the build folder (flash-record.json), per
target, as the SHA-256 of every region; a region is written again only when its bytes differ.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .partitions import TABLE_OFFSET

SECTOR = 0x1000
ERASED = 0xFF


@dataclass(frozen=True)
class Region:
    label: str  # "partition-table" or the app's name
    offset: int
    data: bytes  # padded with 0xFF to a whole number of sectors, as flash erases them

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def pad_to_sector(data: bytes) -> bytes:
    return data + bytes([ERASED]) * (-len(data) % SECTOR)


def regions(partition_table: bytes, images: dict[str, tuple[int, bytes]]) -> list[Region]:
    """The partition table and every app image at its slot offset."""
    result = [Region("partition-table", TABLE_OFFSET, pad_to_sector(partition_table))]
    result += [Region(name, offset, pad_to_sector(data)) for name, (offset, data) in sorted(images.items())]
    return result


class Record:
    """What was last flashed to each target: {target: {label: [offset, sha256]}}."""

    def __init__(self, path: Path):
        self.path = path
        self.targets = json.loads(path.read_text()) if path.exists() else {}

    def changed(self, target: str, all_regions: list[Region]) -> list[Region]:
        known = self.targets.get(target, {})
        return [r for r in all_regions if known.get(r.label) != [r.offset, r.digest]]

    def remember(self, target: str, written: list[Region]) -> None:
        known = self.targets.setdefault(target, {})
        for region in written:
            known[region.label] = [region.offset, region.digest]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.targets, indent=1, sort_keys=True))

    def forget(self, target: str) -> None:
        self.targets.pop(target, None)


def write_flash_image(path: Path, flash_size: int, changed: list[Region]) -> int:
    """Write `changed` into the emulator's flash image (created erased); returns bytes written."""
    if not path.exists() or path.stat().st_size != flash_size:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes([ERASED]) * flash_size)
    with path.open("r+b") as stream:
        for region in changed:
            stream.seek(region.offset)
            stream.write(region.data)
    return sum(len(region.data) for region in changed)
