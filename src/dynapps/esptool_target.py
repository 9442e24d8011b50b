"""Writing flash regions to a board with esptool's Python API (esptool >= 5.6, `esptool.cmds`).

`write_regions` is the board side of `flash-apps`: the caller (flash.Record) decides which
regions changed; this module opens ONE connection to the chip, checks the chip is the project's,
uploads esptool's flasher stub (unless no_stub), raises the baud rate, attaches the flash, writes
every given region with one `write_flash` call (esptool's own progress output, compression and
MD5 verification of each region), resets as `after` says and closes the port.

`full_flash` is `flash-all`: the ESP-IDF firmware, every file `idf.py flash` would write, as the
build folder's `flasher_args.json` lists them (bootloader, partition table, app, ota_data_initial.bin
and whatever else a component adds) with its flash mode, frequency and size, plus every app region,
in the same single connection and `write_flash`.

The sequence is the one the esptool CLI follows for `write-flash` (esptool/__init__.py,
prepare_esp_object + write_flash_cli): detect_chip -> run_stub -> change_baud -> attach_flash ->
write_flash -> reset_chip. Every error a user can cause (port missing or busy, no answer, another
chip, region past the end of the flash, ...) becomes a one-line DynappsError; the port is always
closed. On an error the chip is not reset: it stays in its loader, so a retry needs no reset.

Both return a `Flashed`: the regions written, and the regions known to be on the chip afterwards
(written and verified by esptool's MD5 check, or found there by `skip_flashed`), which is what
flash-apps records; in Secure Download Mode nothing can be verified, so nothing is known.

`skip_flashed=True` first asks the chip for the MD5 of each region (SPI_FLASH_MD5, what esptool's
own `--skip-flashed` does) and leaves out the regions already there. The chip reads and hashes
the region, which costs far less than erasing and writing it, so it is cheap; it is what makes a
rewrite safe when the record in build/flash-record.json may not describe the board (another board
on the same port, or the board written by other tools). It is done here rather than by passing
`skip_flashed` to esptool's write_flash so the number of bytes written stays exact. Not available
in Secure Download Mode (the ROM then has no MD5 command): everything given is written.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from . import chips, console, flash
from .errors import DynappsError
from .partitions import read_binary

ESPTOOL_MINIMUM = (5, 6)
BEFORE_MODES = ("default-reset", "usb-reset", "no-reset", "no-reset-no-sync")
AFTER_MODES = ("hard-reset", "soft-reset", "no-reset", "no-reset-stub", "watchdog-reset")
ROM_BAUD = 115200  # the ROM loaders sync at this rate; esptool switches to `baud` afterwards


# Inside an ESP-IDF build folder (what `idf.py build` writes, and `idf.py flash` reads):
# components/esptool_py/flasher_args.json.in, the same keys in ESP-IDF 5.1 .. 6.1.
IDF_FLASHER_ARGS = "flasher_args.json"
TABLE_LABEL = "partition-table"  # ESP-IDF's name of the table's entry (partition_table/CMakeLists.txt)
KEEP = "keep"  # esptool: leave the bootloader header's flash settings as they are


@dataclass(frozen=True)
class FlashSettings:
    """esptool's --flash-mode/--flash-freq/--flash-size for the bootloader header."""
    mode: str = KEEP
    freq: str = KEEP
    size: str = KEEP


@dataclass(frozen=True)
class IdfFlash:
    """What `idf.py flash` writes: every file at its offset, and the flash settings."""
    regions: tuple[flash.Region, ...]
    settings: FlashSettings


@dataclass(frozen=True)
class Flashed:
    written: tuple[flash.Region, ...] = ()  # what this connection wrote, in flash order
    on_chip: tuple[flash.Region, ...] = ()  # verified on the chip by MD5: written, or already there

    @property
    def byte_count(self) -> int:
        return sum(len(region.data) for region in self.written)


def write_regions(port: str, baud: int, chip: str, regions: list[flash.Region], *, before: str = "default-reset",
                  after: str = "hard-reset", flash_size: int | None = None, skip_flashed: bool = False,
                  no_stub: bool = False, connect_attempts: int | None = None,
                  settings: FlashSettings = FlashSettings()) -> Flashed:
    """Write `regions` to the board on `port` in one esptool connection.

    chip: the project's chip ("esp32c3", ...); the board must be that chip.
    before/after: esptool's reset modes (hyphenated or underscored).
    flash_size: the project's flash size in bytes: every region must fit, and a board whose flash
      chip reports less is refused.
    skip_flashed: leave out regions whose MD5 on the chip already matches (see the module doc).
    no_stub: talk to the ROM loader only (slower: no compression, 1 KiB blocks).
    connect_attempts: esptool's connection attempts (default 7, each with a reset).
    settings: flash mode/freq/size esptool writes into a bootloader image's header (default: keep).

    No region: nothing to write, no connection is opened, nothing is returned as written.
    """
    before, after = _mode(before, BEFORE_MODES, "before"), _mode(after, AFTER_MODES, "after")
    if after == "soft-reset" and not no_stub:  # esptool: "Soft resetting is currently only supported on ESP8266"
        raise DynappsError("after reset mode 'soft-reset' works only without esptool's stub (no_stub); "
                           "use 'hard-reset' or 'watchdog-reset'")
    _check_chip(chip)
    baud = _baud(baud)
    regions = _check_layout(list(regions), flash_size)
    if not regions:
        return Flashed()
    return _Session(port, baud, chip, before, after, flash_size, skip_flashed, no_stub, connect_attempts,
                    settings).run(regions)


def full_flash(port: str, baud: int, chip: str, idf_build: Path, regions: list[flash.Region], *,
               table_offset: int, before: str = "default-reset", after: str = "hard-reset",
               flash_size: int | None = None, skip_flashed: bool = False, no_stub: bool = False,
               connect_attempts: int | None = None) -> Flashed:
    """Write every file of the ESP-IDF build in `idf_build` (flasher_args.json) and every region
    in `regions` in one connection and one esptool write, with the build's flash settings.
    `table_offset`: CONFIG_PARTITION_TABLE_OFFSET, where `regions` has the apps' partition table."""
    firmware = firmware_flash(Path(idf_build), chip, table_offset)
    everything = merge(list(firmware.regions), list(regions), table_offset)
    return write_regions(port, baud, chip, everything, before=before, after=after, flash_size=flash_size,
                         skip_flashed=skip_flashed, no_stub=no_stub, connect_attempts=connect_attempts,
                         settings=firmware.settings)


def firmware_flash(idf_build: Path, chip: str, table_offset: int) -> IdfFlash:
    """Every file ESP-IDF's `flash` target writes, from `idf_build`/flasher_args.json: the
    `flash_files` map (offset -> file, relative to the build folder), labelled by the named
    entries ("bootloader", "partition-table", "app", "otadata", ...), and `flash_settings`.
    The build must be for `chip` and put its partition table at `table_offset`."""
    _check_chip(chip)
    path = idf_build / IDF_FLASHER_ARGS
    args = _read_flasher_args(path, idf_build)
    target = args.get("extra_esptool_args", {}).get("chip")
    if target and target != chip:
        raise DynappsError(f"{path}: the firmware is built for {target}, the project is for {chip} "
                           f"(idf.py set-target {chip}, then idf.py build)")
    names = {entry["file"]: name for name, entry in args.items()
             if isinstance(entry, dict) and {"offset", "file"} <= entry.keys()}
    if any(str(entry.get("encrypted", "false")).lower() == "true" for entry in args.values()
           if isinstance(entry, dict) and "file" in entry):
        raise DynappsError(f"{path}: the build encrypts some files (flash encryption, development mode): "
                           "flash the firmware with idf.py flash, then the apps with flash-apps")
    regions = []
    for offset_text, file in args["flash_files"].items():
        offset = _offset(offset_text, path)
        file_path = Path(file) if Path(file).is_absolute() else idf_build / file
        regions.append(flash.Region(names.get(file, Path(file).name), offset,
                                    flash.pad_to_sector(_read_build_file(file_path))))
    tables = [r for r in regions if r.label == TABLE_LABEL]
    if tables and tables[0].offset != table_offset:
        raise DynappsError(f"{path}: the firmware's partition table is at {tables[0].offset:#x}, the sdkconfig's "
                           f"CONFIG_PARTITION_TABLE_OFFSET is {table_offset:#x}: rebuild the firmware (idf.py build)")
    settings = args.get("flash_settings", {})
    return IdfFlash(tuple(sorted(regions, key=lambda r: r.offset)),
                    FlashSettings(settings.get("flash_mode", KEEP), settings.get("flash_freq", KEEP),
                                  settings.get("flash_size", KEEP)))


def _read_flasher_args(path: Path, idf_build: Path) -> dict:
    if not path.is_file():
        raise DynappsError(f"{idf_build}: no ESP-IDF build here ({IDF_FLASHER_ARGS} is missing); "
                           "run `idf.py build` in the firmware first")
    try:
        args = json.loads(path.read_text())
    except (ValueError, OSError) as error:
        raise DynappsError(f"{path}: {_one_line(error)}") from None
    if not isinstance(args, dict) or not isinstance(args.get("flash_files"), dict):
        raise DynappsError(f"{path}: expected ESP-IDF's flasher_args.json, an object with \"flash_files\"")
    return args


def _offset(text, path: Path) -> int:
    try:
        return int(str(text), 0)
    except ValueError:
        raise DynappsError(f"{path}: flash_files: '{text}' is not an offset such as 0x8000") from None


def merge(firmware: list[flash.Region], apps: list[flash.Region], table_offset: int) -> list[flash.Region]:
    """Firmware and app regions as one list. The partition table is in both (ESP-IDF's from
    partitions.csv, dynapps' build/partition-table.bin): when both describe the same partitions the
    apps' one is written, once; otherwise the firmware was built from another partitions.csv than
    the one `scons apps` wrote, an error. Any other region at the same offset must be identical."""
    result = {r.offset: r for r in apps}
    for region in firmware:
        other = result.get(region.offset)
        if other is None:
            result[region.offset] = region
        elif other.data != region.data and not (region.offset == table_offset and _same_table(region.data, other.data)):
            raise DynappsError(f"the firmware's {region.label} differs from the apps' {other.label} at "
                               f"{region.offset:#x}: rebuild the firmware (idf.py build) after `scons apps`")
    return sorted(result.values(), key=lambda r: r.offset)


def _same_table(first: bytes, second: bytes) -> bool:
    try:
        return read_binary(first) == read_binary(second)
    except DynappsError:
        return False


# --- the connection ------------------------------------------------------------------------------


class _Session:
    def __init__(self, port, baud, chip, before, after, flash_size, skip_flashed, no_stub, connect_attempts,
                 settings: FlashSettings = FlashSettings()):
        self.settings = settings
        self.port, self.baud, self.chip = port, baud, chip
        self.before, self.after = before, after
        self.flash_size, self.skip_flashed, self.no_stub = flash_size, skip_flashed, no_stub
        self.connect_attempts = connect_attempts
        self.step = "connecting"

    def run(self, regions: list[flash.Region]) -> Flashed:
        _esptool()  # installed, and new enough
        import serial

        from esptool import cmds
        from esptool.util import FatalError

        failures = (FatalError, serial.SerialException, OSError) + _pylib_errors()
        link = self._open(serial)
        try:
            return self._flash(cmds, regions)
        except failures as error:
            raise DynappsError(self._message(error)) from None
        finally:
            link.close()

    def _open(self, serial):
        """The serial port, opened here (as esptool's ESPLoader would) so it is always closed."""
        try:
            link = serial.serial_for_url(self.port, exclusive=True, do_not_open=True)
            if sys.platform == "win32":  # keep EN and IO0 released while opening (esptool does the same)
                link.rts = False
                link.dtr = False
            link.open()
        except (serial.SerialException, ValueError, OSError) as error:
            raise DynappsError(f"cannot open serial port {self.port}: {_one_line(error)}") from None
        self.link = link
        return link

    def _flash(self, cmds, regions: list[flash.Region]) -> Flashed:
        from esptool.loader import DEFAULT_CONNECT_ATTEMPTS
        from esptool.targets import CHIP_DEFS
        from esptool.util import NotImplementedInROMError, flash_size_bytes

        initial_baud = self.baud if self.before == "no-reset-no-sync" else min(ROM_BAUD, self.baud)
        attempts = DEFAULT_CONNECT_ATTEMPTS if self.connect_attempts is None else self.connect_attempts
        self.step = "connecting"
        esp = cmds.detect_chip(self.link, initial_baud, self.before, connect_attempts=attempts)
        expected = CHIP_DEFS[self.chip].CHIP_NAME
        if esp.CHIP_NAME != expected:
            raise DynappsError(f"the chip on {self.port} is an {esp.CHIP_NAME}, but the project is for {self.chip} "
                               f"(chip: in dynapps.yaml)")
        self.step = "reading the chip"
        description = esp.CHIP_NAME if esp.secure_download_mode else esp.get_chip_description()
        console.say(f"flash: {description} on {self.port}")
        if not self.no_stub:
            self.step = "starting esptool's flasher stub"
            esp = cmds.run_stub(esp)
        if self.baud > initial_baud:
            self.step = f"changing the baud rate to {self.baud}"
            try:
                esp.change_baud(self.baud)
            except NotImplementedInROMError:
                console.say(f"flash: the ROM cannot change the baud rate; staying at {initial_baud}")
        self.step = "attaching the flash"
        cmds.attach_flash(esp)
        if self.flash_size and not esp.secure_download_mode:
            detected = cmds.detect_flash_size(esp)
            if detected and flash_size_bytes(detected) < self.flash_size:
                raise DynappsError(f"the board on {self.port} has {detected} of flash, the project needs "
                                   f"{self.flash_size // 0x100000} MB (flash_size: in dynapps.yaml)")
        todo, present = regions, []
        if self.skip_flashed and not esp.secure_download_mode:
            todo, present = self._split_by_md5(esp, regions)
        if todo:
            self.step = "writing"
            # esptool reads back the MD5 of every region it wrote and raises on a mismatch;
            # the ROM in Secure Download Mode has no MD5 command, so nothing is verified there.
            cmds.write_flash(esp, [(r.offset, _named(r)) for r in todo],
                             flash_freq=self.settings.freq, flash_mode=self.settings.mode,
                             flash_size=self.settings.size)
        verified = present + ([] if esp.secure_download_mode else todo)
        self.step = f"resetting ({self.after})"
        cmds.reset_chip(esp, self.after)
        return Flashed(tuple(todo), tuple(sorted(verified, key=lambda r: r.offset)))

    def _split_by_md5(self, esp, regions: list[flash.Region]) -> tuple[list[flash.Region], list[flash.Region]]:
        """(regions to write, regions whose MD5 on the chip already matches)."""
        self.step = "comparing MD5s"
        todo, present = [], []
        for region in regions:
            if esp.flash_md5sum(region.offset, len(region.data)) == hashlib.md5(region.data).hexdigest():
                console.say(f"flash: {region.label} at {region.offset:#x} is already on the chip, skipped")
                present.append(region)
            else:
                todo.append(region)
        return todo, present

    def _message(self, error: Exception) -> str:
        cause = _one_line(error)
        if self.step == "connecting" and cause.startswith("Failed to connect"):
            return (f"no answer from a chip on {self.port}: {cause} (is the board connected and in download mode? "
                    "hold BOOT while pressing RESET, or try another before= reset mode)")
        return f"{self.port}: {self.step} failed: {cause}"


# --- checks --------------------------------------------------------------------------------------


def _mode(value: str, allowed: tuple[str, ...], what: str) -> str:
    normal = value.strip().lower().replace("_", "-")
    if normal not in allowed:
        raise DynappsError(f"unknown {what} reset mode '{value}' (expected one of {', '.join(allowed)})")
    return normal


def _baud(value) -> int:
    try:
        baud = int(value)
    except (TypeError, ValueError):
        baud = 0
    if baud <= 0:
        raise DynappsError(f"baud rate '{value}' is not a positive number (for example 460800)")
    return baud


def _check_chip(chip: str) -> None:
    if chip not in chips.PROFILES:
        raise DynappsError(f"flashing {chip} is not supported (chips: {', '.join(chips.names())})")


def _check_layout(regions: list[flash.Region], flash_size: int | None) -> list[flash.Region]:
    """Sorted by offset; sector aligned, not empty, not overlapping, inside the flash."""
    regions = sorted(regions, key=lambda r: r.offset)
    for region in regions:
        if region.offset % flash.SECTOR or region.offset < 0:
            raise DynappsError(f"{region.label}: flash offset {region.offset:#x} is not a multiple of {flash.SECTOR:#x}")
        if not region.data:
            raise DynappsError(f"{region.label}: nothing to write at {region.offset:#x}")
        if flash_size is not None and region.offset + len(region.data) > flash_size:
            raise DynappsError(f"{region.label}: {region.offset:#x}..{region.offset + len(region.data):#x} is past "
                               f"the end of the {flash_size // 0x100000} MB flash")
    for first, second in zip(regions, regions[1:]):
        if first.offset + len(first.data) > second.offset:
            raise DynappsError(f"{first.label} ({first.offset:#x}..{first.offset + len(first.data):#x}) overlaps "
                               f"{second.label} at {second.offset:#x}")
    return regions


def _read_build_file(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError:
        raise DynappsError(f"{path} is missing: run `idf.py build` in the firmware first") from None
    if not data:
        raise DynappsError(f"{path} is empty: run `idf.py build` in the firmware again")
    return data


# --- esptool -------------------------------------------------------------------------------------


def _esptool():
    try:
        import esptool
    except ImportError:
        raise DynappsError("esptool is not installed: pip install -r requirements.txt") from None
    version = tuple(int(part) for part in esptool.__version__.split(".")[:2] if part.isdigit())
    if version < ESPTOOL_MINIMUM:
        raise DynappsError(f"esptool {esptool.__version__} is too old, dynapps needs "
                           f"{'.'.join(map(str, ESPTOOL_MINIMUM))} or newer: pip install -r requirements.txt")
    return esptool


def _pylib_errors() -> tuple:
    """esp-pylib's FatalError, the base of esptool's, raised by its serial helpers."""
    try:
        from esp_pylib.errors import FatalError
    except ImportError:
        return ()
    return (FatalError,)


def _named(region: flash.Region) -> io.BytesIO:
    """The region's bytes as a file-like object named after it: esptool prints the name."""
    stream = io.BytesIO(region.data)
    stream.name = region.label
    return stream


def _one_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
