"""The trust mark of an XIP slot, host side (firmware/components/dynapps/include/dynapps_trust_mark.h
is the reference; docs/image-format.md, "Trust mark"; docs/design.md, "Trust marks").

After verifying an XIP image in full, the loader writes a 52-byte mark at the start of the flash
sector right after the image; later loads with a valid mark do not rehash the image's body. The
build leaves that sector inside the slot (`slot_bytes_needed`), and flash-apps writes it erased
with the image (`erased_sector`), so rewriting the image destroys the mark.
"""

from __future__ import annotations

import struct
import zlib

from .chips import FLASH_SECTOR as SECTOR  # the flash erase unit the mark owns (DYNAPPS_TRUST_MARK_SECTOR)

MAGIC = 0x4D525444  # b"DTRM"
MARK = struct.Struct("<IIII32sI")
STRATEGY_XIP = 2  # dynapps_image.h: only XIP images get a mark
_STRATEGY_OFFSET = 10  # dynapps_image_header_t.strategy
assert MARK.size == 52


def sector_offset(image_size: int) -> int:
    """Where the mark lies, from the slot's start: the image rounded up to a sector."""
    return -(-image_size // SECTOR) * SECTOR


def slot_bytes_needed(image_size: int) -> int:
    """What an XIP image needs of its slot: itself, rounded up to a sector, and the mark's sector."""
    return sector_offset(image_size) + SECTOR


def is_xip(image: bytes) -> bool:
    return len(image) > _STRATEGY_OFFSET and image[_STRATEGY_OFFSET] == STRATEGY_XIP


def erased_sector(image: bytes) -> bytes:
    """What flash-apps writes after an image, sector padded: for an XIP image, its mark's sector
    erased (so a rewritten image never keeps an old mark); nothing for other images."""
    return b"\xff" * SECTOR if is_xip(image) else b""


def encode(flash_offset: int, image_size: int, image_hash: bytes) -> bytes:
    """The 52 bytes the loader writes for an image of `image_size` carrying `image_hash`, in the
    slot at `flash_offset`."""
    fields = MARK.pack(MAGIC, flash_offset, image_size, 0, image_hash, 0)[:-4]
    return fields + struct.pack("<I", zlib.crc32(fields))


def decode(raw: bytes) -> dict | None:
    """The mark's fields, or None when the bytes are not a mark with a good CRC (erased: None)."""
    magic, flash_offset, image_size, reserved, image_hash, crc = MARK.unpack_from(raw)
    if magic != MAGIC or reserved or crc != zlib.crc32(raw[:MARK.size - 4]):
        return None
    return {"flash_offset": flash_offset, "image_size": image_size, "image_hash": image_hash}
