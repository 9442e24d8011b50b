"""The flash stage's policy (flash.py has the regions, the record and the emulator's image;
esptool_target.py talks to the chip): which regions each flash target writes, and what the
record remembers afterwards. Each function returns the one summary line the build prints.
"""

from __future__ import annotations

from pathlib import Path

from . import esptool_target, flash
from .contracts import FlashOptions
from .errors import DynappsError


def wanted_regions(options: FlashOptions) -> list[flash.Region]:
    """The partition table and every app image at its slot, read from the files the options name."""
    images = {slot.app: (slot.flash_offset, Path(slot.image).read_bytes()) for slot in options.slots}
    return flash.regions(Path(options.partition_table).read_bytes(), options.partition_table_offset, images)


def board_key(port: str) -> str:
    """The record's name for a board: what is known about it is kept per serial port."""
    return f"serial:{port}"


def to_emulator(flash_image: Path, options: FlashOptions) -> str:
    """flash-apps without PORT: write the regions whose bytes in the emulator's flash image differ."""
    image = flash.FlashImage(flash_image, options.flash_size)
    changed = image.differing(wanted_regions(options))
    written = image.write(changed)
    return f"flash-apps: wrote {written} bytes into {image.path} ({flash.labels(changed)})"


def to_board(record_path: Path, options: FlashOptions) -> str:
    """flash-apps with PORT: write the regions that changed since the record. A region is forgotten
    before it is written and remembered once esptool verified it, so a cut-off write is redone."""
    record, key = flash.Record(record_path), board_key(options.port)
    if options.force or options.skip_flashed:
        record.forget(key)
    changed = record.changed(key, wanted_regions(options))
    record.forget_regions(key, changed)
    flashed = esptool_target.write_regions(options.port, options.baud, options.chip, changed,
                                           skip_flashed=options.skip_flashed, **options.esptool_options())
    record.remember(key, list(flashed.on_chip))
    return f"flash-apps: wrote {flashed.byte_count} bytes to {options.port} ({flash.labels(list(flashed.written))})"


def everything_to_board(record_path: Path, options: FlashOptions) -> str:
    """flash-all: the ESP-IDF firmware and every app region, in one esptool connection. The whole
    flash is rewritten, so nothing is known about the board until esptool verified it."""
    if not options.port:
        raise DynappsError("flash-all writes a board: give PORT=... (or set ESPTOOL_PORT)")
    record, key = flash.Record(record_path), board_key(options.port)
    record.forget(key)
    flashed = esptool_target.full_flash(options.port, options.baud, options.chip, Path(options.idf_build),
                                        wanted_regions(options), table_offset=options.partition_table_offset,
                                        skip_flashed=options.skip_flashed, **options.esptool_options())
    record.remember(key, list(flashed.on_chip))
    return f"flash-all: wrote {flashed.byte_count} bytes to {options.port} ({flash.labels(list(flashed.written))})"
