"""The firmware's ESP-IDF configuration (sdkconfig), read once: the stage every firmware fact the
app build needs comes from (chip, flash size, data arena, partition table offset).

Which file, in this order (the first that exists wins, nothing is merged across them):
  1. `<project>/sdkconfig`: what `idf.py build` reads and rewrites; it holds every option.
  2. `<project>/build/config/sdkconfig.json`: the build's own copy (keys without CONFIG_, hex
     options as numbers), for a build folder whose sdkconfig is elsewhere.
  3. `<project>/sdkconfig.defaults`, then `sdkconfig.defaults.<chip>` over it: what ESP-IDF
     starts a new sdkconfig from. Options they leave out get the Kconfig defaults of the few
     options read here (CONFIG_PARTITION_TABLE_OFFSET 0x8000, CONFIG_ESPTOOLPY_FLASHSIZE 2MB,
     the dynapps arena of the chip profile), as ESP-IDF's own build would.
A `sdkconfig` that exists is what ESP-IDF builds with, so it wins over a build folder that may be
older and over the defaults it was made from (ESP-IDF applies the defaults only to options the
sdkconfig lacks, and a generated sdkconfig lacks none).

`load(project_dir, chip)` returns a `FirmwareConfig` or None when the folder has none of them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import chips
from .errors import DynappsError

SDKCONFIG = "sdkconfig"
SDKCONFIG_JSON = "build/config/sdkconfig.json"
SDKCONFIG_DEFAULTS = "sdkconfig.defaults"

# ESP-IDF's Kconfig defaults of what is read here (partition_table/Kconfig.projbuild,
# esptool_py/Kconfig.projbuild; the same in 5.1 .. 6.1) and the dynapps component's.
DEFAULT_TABLE_OFFSET = 0x8000
DEFAULT_FLASH_SIZE = 2 * 1024 * 1024
DEFAULT_ARENA_SIZE = 32 * 1024

_LINE = re.compile(r"CONFIG_(?P<name>[A-Za-z0-9_]+)=(?P<value>.*)")
_UNSET = re.compile(r"#\s*CONFIG_(?P<name>[A-Za-z0-9_]+) is not set\s*")
_FLASH_SIZE = re.compile(r"(\d+)MB")
# The first line ESP-IDF's build writes into every sdkconfig (kconfgen's header, rewritten on each
# build, unlike CONFIG_IDF_INIT_VERSION, which keeps the version the file was first made with).
_IDF_HEADER = re.compile(r"#\s*Espressif IoT Development Framework \(ESP-IDF\)\s+v?(?P<version>\S+)\s+Project Configuration")
# The key under which read() keeps that version among the options (no option can be named so).
IDF_VERSION = "(ESP-IDF version)"


@dataclass(frozen=True)
class Setting:
    """One option's value and where it was read (file, line; line 0 for JSON)."""
    value: str | int | bool
    path: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True)
class FirmwareConfig:
    """What the app build takes from the firmware's configuration. `sources` names the files read
    (for messages); each fact says where it came from through `where(option)`."""
    sources: tuple[str, ...]
    chip: str | None  # CONFIG_IDF_TARGET; None when only defaults without it were found
    flash_size: int  # bytes (CONFIG_ESPTOOLPY_FLASHSIZE)
    flash_size_source: str  # where it was read, for messages
    partition_table_offset: int  # CONFIG_PARTITION_TABLE_OFFSET
    arena_address: int | None  # CONFIG_DYNAPPS_DATA_ARENA_ADDRESS; None: the chip's Kconfig default
    arena_size: int  # CONFIG_DYNAPPS_DATA_ARENA_SIZE
    idf_version: str | None  # from sdkconfig's header line ("5.5.1"); None: not written by ESP-IDF's build
    settings: dict = field(repr=False, compare=False)  # option name (no CONFIG_) -> Setting, as read

    def arena(self, profile: chips.ChipProfile) -> chips.MemoryRegion:
        """The data arena this firmware reserves on `profile`'s chip."""
        address = self.arena_address
        if address is None:
            options = {name: setting.value for name, setting in self.settings.items()}
            address = profile.default_data_arena(options).start
        return chips.MemoryRegion(address, address + self.arena_size)

    @property
    def trust_marks(self) -> bool:
        """CONFIG_DYNAPPS_TRUST_MARKS (Kconfig default y; off with required signing)."""
        if self.settings.get("DYNAPPS_REQUIRE_SIGNED_IMAGES", Setting(False, "", 0)).value is True:
            return False
        return self.settings.get("DYNAPPS_TRUST_MARKS", Setting(True, "", 0)).value is not False

    def where(self, option: str) -> str:
        """The file (and line) an option was read from, or the Kconfig default it fell back to."""
        setting = self.settings.get(option)
        return setting.where if setting else f"the Kconfig default (not in {' + '.join(self.sources)})"


def files(project_dir: Path) -> list[Path]:
    """The one file `load` reads first, by the precedence in the module docstring: sdkconfig,
    else build/config/sdkconfig.json, else sdkconfig.defaults (empty: none of them is there)."""
    for name in (SDKCONFIG, SDKCONFIG_JSON, SDKCONFIG_DEFAULTS):
        if (project_dir / name).is_file():
            return [project_dir / name]
    return []


def candidates(project_dir: Path) -> list[Path]:
    """Every file `load` may read in `project_dir`, whether it is there or not: one that appears
    can change the configuration."""
    names = [SDKCONFIG, SDKCONFIG_JSON, SDKCONFIG_DEFAULTS] + [f"{SDKCONFIG_DEFAULTS}.{chip}" for chip in chips.names()]
    return [project_dir / name for name in names]


def load(project_dir: Path, chip: str | None = None, display_root: Path | None = None) -> FirmwareConfig | None:
    """The configuration of the ESP-IDF project in `project_dir`, or None if it has none.
    From defaults, sdkconfig.defaults.<target> is read over sdkconfig.defaults, the target being
    their CONFIG_IDF_TARGET, else `chip`. Paths in messages are relative to `display_root` (the
    dynapps project) when given."""
    found = files(project_dir)
    if not found:
        return None
    settings = read(found[0], _display(found[0], display_root))
    if found[0].name == SDKCONFIG_DEFAULTS:
        target = _string(settings, "IDF_TARGET") or chip
        chip_defaults = project_dir / f"{SDKCONFIG_DEFAULTS}.{target}"
        if target and chip_defaults.is_file():
            found.append(chip_defaults)
            settings.update(read(chip_defaults, _display(chip_defaults, display_root)))
    return _config(tuple(_display(path, display_root) for path in found), settings)


def load_file(path: Path, display_root: Path | None = None) -> FirmwareConfig:
    """The configuration in one given sdkconfig (or sdkconfig.json) file: SDKCONFIG=, which the
    ESP-IDF build passes (docs/idf-integration.md)."""
    display = _display(path, display_root)
    if not path.is_file():
        raise DynappsError(f"SDKCONFIG={path}: no such file (the firmware's sdkconfig)")
    return _config((display,), read(path, display))


def read(path: Path, display: str) -> dict[str, Setting]:
    """Every option of one sdkconfig-format or sdkconfig.json file."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise DynappsError(f"cannot read it ({error})", display) from None
    if path.suffix == ".json":
        return _read_json(text, display)
    settings: dict[str, Setting] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = _IDF_HEADER.fullmatch(line)
        if header:
            settings[IDF_VERSION] = Setting(header["version"], display, number)
            continue
        unset = _UNSET.fullmatch(line)
        if unset:
            settings[unset["name"]] = Setting(False, display, number)
            continue
        if not line or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if not match:
            raise DynappsError(f"expected CONFIG_NAME=value or '# CONFIG_NAME is not set', got '{line[:60]}'",
                               display, number)
        settings[match["name"]] = Setting(_value(match["value"], display, number), display, number)
    return settings


def _read_json(text: str, display: str) -> dict[str, Setting]:
    try:
        data = json.loads(text)
    except ValueError as error:
        raise DynappsError(f"not JSON ({error})", display) from None
    if not isinstance(data, dict):
        raise DynappsError("expected a JSON object of options", display)
    return {name: Setting(value, display, 0) for name, value in data.items()
            if isinstance(value, (str, int, bool))}


def _value(text: str, path: str, line: int) -> str | int | bool:
    text = text.strip()
    if text == "y":
        return True
    if text == "n":
        return False
    if text.startswith('"'):
        if len(text) < 2 or not text.endswith('"'):
            raise DynappsError(f"unterminated string {text}", path, line)
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    try:
        return int(text, 0)
    except ValueError:
        return text


def _display(path: Path, root: Path | None) -> str:
    if root is not None and path.is_relative_to(root):
        return path.relative_to(root).as_posix()
    return str(path)


def _string(settings: dict[str, Setting], name: str) -> str | None:
    setting = settings.get(name)
    return setting.value if setting and isinstance(setting.value, str) else None


def _number(settings: dict[str, Setting], name: str, default: int) -> int:
    setting = settings.get(name)
    if setting is None:
        return default
    value = setting.value
    if isinstance(value, str):
        try:
            value = int(value, 0)
        except ValueError:
            value = None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DynappsError(f"CONFIG_{name}: expected a number, got {setting.value!r}", setting.path, setting.line)
    return value


def _flash_size(settings: dict[str, Setting]) -> tuple[int, str]:
    """CONFIG_ESPTOOLPY_FLASHSIZE="4MB" (sdkconfig, sdkconfig.json) or the choice's
    CONFIG_ESPTOOLPY_FLASHSIZE_4MB=y (what a defaults file usually sets)."""
    named = settings.get("ESPTOOLPY_FLASHSIZE")
    if named is not None:
        match = _FLASH_SIZE.fullmatch(str(named.value))
        if not match:
            raise DynappsError(f"CONFIG_ESPTOOLPY_FLASHSIZE: expected a size such as \"4MB\", got {named.value!r}",
                               named.path, named.line)
        return int(match[1]) * 1024 * 1024, named.where
    chosen = [name for name, setting in settings.items()
              if setting.value is True and re.fullmatch(r"ESPTOOLPY_FLASHSIZE_\d+MB", name)]
    if chosen:
        return int(_FLASH_SIZE.search(chosen[-1])[1]) * 1024 * 1024, settings[chosen[-1]].where
    return DEFAULT_FLASH_SIZE, "the Kconfig default (2 MB)"


def _config(sources: tuple[str, ...], settings: dict[str, Setting]) -> FirmwareConfig:
    chip = _string(settings, "IDF_TARGET")
    if chip is not None and chip not in chips.names():
        where = settings["IDF_TARGET"]
        raise DynappsError(f"CONFIG_IDF_TARGET=\"{chip}\": dynapps supports {', '.join(chips.names())}",
                           where.path, where.line)
    arena_address = _number(settings, "DYNAPPS_DATA_ARENA_ADDRESS", 0) if "DYNAPPS_DATA_ARENA_ADDRESS" in settings \
        else None
    table_offset = _number(settings, "PARTITION_TABLE_OFFSET", DEFAULT_TABLE_OFFSET)
    if table_offset % chips.FLASH_SECTOR:
        setting = settings["PARTITION_TABLE_OFFSET"]
        raise DynappsError(f"CONFIG_PARTITION_TABLE_OFFSET={table_offset:#x}: expected a multiple of "
                           f"{chips.FLASH_SECTOR:#x} (a flash sector)", setting.path, setting.line)
    flash_size, flash_size_source = _flash_size(settings)
    return FirmwareConfig(
        sources=sources,
        chip=chip,
        flash_size=flash_size,
        flash_size_source=flash_size_source,
        partition_table_offset=table_offset,
        arena_address=arena_address,
        arena_size=_number(settings, "DYNAPPS_DATA_ARENA_SIZE", DEFAULT_ARENA_SIZE),
        idf_version=_string(settings, IDF_VERSION),
        settings=settings,
    )
