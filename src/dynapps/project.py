"""The project file (dynapps.yaml): target chip, toolchain, hybrid threshold, apps region, firmware.

The firmware's ESP-IDF configuration (sdkconfig.py) is the source of truth for the chip, the flash
size, the data arena and the partition table offset: dynapps.yaml need not restate them, and a
value it states that differs is one error naming both values and both files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import chips, sdkconfig, yamlfile
from .errors import DynappsError
from .schema import Section

PROJECT_FILE = "dynapps.yaml"
TOOLCHAINS = ("auto", "esp-idf", "riscv64-unknown-elf")
AUTO_COPY_PLACES = ("iram", "psram")  # apps.auto_copy: where strategy auto copies a small app
_IDENT = r"[a-z][a-z0-9_]{0,14}"


@dataclass(frozen=True)
class DataArena:
    address: int
    size: int
    source: str  # where the numbers came from, for messages and the summary


@dataclass(frozen=True)
class Project:
    root: Path
    path: str  # as shown in messages
    chip: str
    toolchain: str
    hybrid_threshold: int
    flash_size: int
    region_offset: int
    region_size: int
    default_flash: int
    default_ram: int
    auto_copy: str  # apps.auto_copy: iram | psram, where `auto` puts an app under the threshold
    order: tuple[str, ...]
    exports_file: str  # relative to root
    base_partitions: str  # relative to root
    data_arena: DataArena | None  # None: the emulator firmware's arena for the chip
    cflags: tuple[str, ...]
    emulator_sources: tuple[str, ...]  # the firmware's own code run in the emulator (defines dynapps_demo)
    signing_key: str | None = None  # signing.key as written: the private key images are signed with
    require_signed: bool = False  # signing.require: the emulator firmware refuses unsigned images
    partition_table_offset: int = sdkconfig.DEFAULT_TABLE_OFFSET  # CONFIG_PARTITION_TABLE_OFFSET
    firmware_config: sdkconfig.FirmwareConfig | None = None  # the firmware's sdkconfig, when found
    idf_project: str = "firmware"  # firmware.idf_project: the ESP-IDF project, relative to root

    @property
    def trust_marks(self) -> bool:
        """The loader trusts an XIP slot's mark after one full verification: CONFIG_DYNAPPS_TRUST_MARKS
        of the firmware's sdkconfig (default on), never with required signing (docs/design.md)."""
        return not self.require_signed and (self.firmware_config is None or self.firmware_config.trust_marks)

    @property
    def profile(self) -> chips.ChipProfile:
        return chips.profile(self.chip)

    def signing_key_path(self, override: str = "") -> Path | None:
        """The private key file (`~` expanded, relative to the project root), or None: images are
        not signed. `override`: the SIGNING_KEY build variable, which wins over signing.key."""
        written = override or self.signing_key
        return self.root / Path(written).expanduser() if written else None


def load(root: Path, chip_override: str | None = None, toolchain_override: str | None = None,
         sdkconfig_file: Path | None = None) -> Project:
    """The project file at `root`; `sdkconfig_file` (SDKCONFIG=, what the ESP-IDF build passes) is
    the firmware's configuration, else it is looked for in firmware.idf_project."""
    path = root / PROJECT_FILE
    if not path.exists():
        raise DynappsError(f"no {PROJECT_FILE} here: every dynapps project has one at its root", str(path))
    top = Section(yamlfile.load(path, PROJECT_FILE), PROJECT_FILE)
    top.check_keys({"chip", "toolchain", "hybrid_threshold", "flash_size", "apps", "firmware", "cflags", "signing"})
    firmware = top.section("firmware")
    if firmware.has("elf"):
        raise firmware.error("elf", "the firmware ELF is no longer read: the data arena comes from the firmware's "
                                    "sdkconfig (CONFIG_DYNAPPS_DATA_ARENA_ADDRESS / _SIZE); remove this key")
    firmware.check_keys({"exports", "partitions", "idf_project", "data_arena", "emulator_sources"})
    if chip_override and chip_override not in chips.names():
        raise DynappsError(f"CHIP={chip_override}: expected one of {', '.join(chips.names())}")
    yaml_chip = top.choice("chip", chips.names())
    idf_project = firmware.string("idf_project", default="firmware")
    if sdkconfig_file is not None:
        config = sdkconfig.load_file(sdkconfig_file, root)
    else:
        config = sdkconfig.load(root / idf_project, chip_override or yaml_chip, root)
    chip = _chip(top, yaml_chip, chip_override, config)
    toolchain = top.choice("toolchain", TOOLCHAINS, default="auto")
    if toolchain_override:
        if toolchain_override not in TOOLCHAINS:
            raise DynappsError(f"TOOLCHAIN={toolchain_override}: expected one of {', '.join(TOOLCHAINS)}")
        toolchain = toolchain_override
    flash_size = _flash_size(top, config)
    apps = top.section("apps")
    apps.check_keys({"region_offset", "region_size", "default_flash", "default_ram", "order", "auto_copy"})
    profile = chips.profile(chip)
    region_offset = apps.size("region_offset", default=0x200000, multiple=profile.mmu_page_size)
    region_size = apps.size("region_size", default=0x100000, minimum=0x1000, multiple=0x1000)
    if region_offset + region_size > flash_size:
        raise apps.error("region_size", f"the apps region ends at {region_offset + region_size:#x}, "
                                        f"past the end of the {flash_size // 0x100000} MB flash")
    signing = top.section("signing")
    signing.check_keys({"key", "require"})
    return Project(
        root=root,
        path=PROJECT_FILE,
        chip=chip,
        toolchain=toolchain,
        hybrid_threshold=top.size("hybrid_threshold", default=16 * 1024, minimum=1),
        flash_size=flash_size,
        region_offset=region_offset,
        region_size=region_size,
        default_flash=apps.size("default_flash", default=0x10000, minimum=0x1000, multiple=0x1000),
        default_ram=apps.size("default_ram", default=0x1000, minimum=16, multiple=16),
        auto_copy=_auto_copy(apps, profile),
        order=_slot_order(apps),
        exports_file=_existing_file(root, firmware, "exports", "firmware/exports.yaml"),
        base_partitions=_existing_file(root, firmware, "partitions", "firmware/partitions-base.csv"),
        data_arena=_data_arena(firmware, profile, config),
        cflags=tuple(flag for flag, _ in top.strings("cflags", default=[("-O2", 0)])),
        emulator_sources=_existing_files(root, firmware, "emulator_sources"),
        signing_key=signing.string("key", pattern=r"\S.*", expected="the path of a PEM private key"),
        require_signed=signing.flag("require"),
        partition_table_offset=config.partition_table_offset if config else sdkconfig.DEFAULT_TABLE_OFFSET,
        firmware_config=config,
        idf_project=idf_project,
    )


def _chip(top: Section, yaml_chip: str | None, override: str | None, config) -> str:
    """The firmware's CONFIG_IDF_TARGET when its sdkconfig names one; CHIP= or dynapps.yaml's
    chip must then agree with it."""
    target = config.chip if config else None
    if target is None:
        if override or yaml_chip:
            return override or yaml_chip
        raise DynappsError(f"chip: required (no CONFIG_IDF_TARGET in the firmware's sdkconfig)", PROJECT_FILE)
    where = config.where("IDF_TARGET")
    if override and override != target:
        raise DynappsError(f"CHIP={override} (command line), but {where} has CONFIG_IDF_TARGET=\"{target}\": "
                           f"build for {target}, or idf.py set-target {override} in the firmware")
    if yaml_chip and yaml_chip != target and not override:
        raise top.error("chip", f"{yaml_chip}, but {where} has CONFIG_IDF_TARGET=\"{target}\": remove chip "
                                f"from {PROJECT_FILE} (the sdkconfig decides) or make them the same")
    return target


def _flash_size(top: Section, config) -> int:
    stated = top.size("flash_size", default=None, minimum=0x100000, multiple=0x100000)
    if config is None:
        return stated if stated is not None else 4 * 1024 * 1024
    if stated is not None and stated != config.flash_size:
        raise top.error("flash_size", f"{stated // 0x100000} MB, but {config.flash_size_source} has "
                                      f"CONFIG_ESPTOOLPY_FLASHSIZE {config.flash_size // 0x100000} MB: remove "
                                      f"flash_size from {PROJECT_FILE} (the sdkconfig decides) or make them the same")
    return config.flash_size


def relative_path(root: Path, folder: Path, name: str) -> str | None:
    """`name` (relative to `folder`, or absolute) as a path relative to the project root, or None
    if it is outside the project. Lexical: `..` is resolved, symbolic links are not (a link inside
    the project to a file elsewhere is the user's explicit choice)."""
    path = Path(os.path.normpath(folder / name))
    return path.relative_to(root).as_posix() if path.is_relative_to(root) and path != root else None


def outside_message(key: str, name: str, root: Path, folder: Path) -> str:
    return (f"{key}: '{name}' is outside the project ({root}): the build and the firmware read only "
            f"files inside it; copy it (or link it) into {folder.relative_to(root).as_posix() or '.'}/")


def _existing_files(root: Path, section: Section, key: str) -> tuple[str, ...]:
    entries = section.strings(key, default=[], pattern=r"[\w./-]+\.c", expected="a .c file")
    result = []
    for name, line in entries:
        relative = relative_path(root, root, name)
        if relative is None:
            raise DynappsError(outside_message(section.name(key), name, root, root), PROJECT_FILE, line)
        if not (root / relative).is_file():
            raise DynappsError(f"{section.name(key)}: '{name}' does not exist", PROJECT_FILE, line)
        result.append(relative)
    return tuple(result)


def _existing_file(root: Path, section: Section, key: str, default: str) -> str:
    relative = section.string(key, default=default)
    if not (root / relative).is_file():
        if section.has(key):
            raise section.error(key, f"expected an existing file, '{relative}' does not exist")
        raise DynappsError(f"missing {relative} (set {section.name(key)} in {PROJECT_FILE})", PROJECT_FILE)
    return relative


def _auto_copy(apps: Section, profile: chips.ChipProfile) -> str:
    """Where strategy auto copies an app under the hybrid threshold. PSRAM is the project's choice,
    not a consequence of the firmware having it: code there runs through the cache from an external
    chip, slower on a miss than internal RAM, but on esp32p4 with ESP-IDF >= 5.4 internal RAM may not
    be executable at all (docs/design.md, "PSRAM")."""
    place = apps.choice("auto_copy", AUTO_COPY_PLACES, default="iram")
    if place == "psram" and not profile.has_psram:
        raise apps.error("auto_copy", f"psram: the {profile.name} has no PSRAM ({psram_chips_text()})")
    return place


def psram_chips_text() -> str:
    """'chips with PSRAM: esp32p4', for messages that refuse PSRAM on a chip without it."""
    return "chips with PSRAM: " + ", ".join(name for name in chips.names() if chips.profile(name).has_psram)


def _slot_order(apps: Section) -> tuple[str, ...]:
    entries = apps.strings("order", default=[], pattern=_IDENT, expected="an app name")
    for index, (name, line) in enumerate(entries):
        if any(earlier == name for earlier, _ in entries[:index]):
            raise DynappsError(f"{apps.name('order')}[{index}]: '{name}' is listed twice", PROJECT_FILE, line)
    return tuple(name for name, _ in entries)


def _data_arena(firmware: Section, profile: chips.ChipProfile, config) -> DataArena | None:
    """The firmware's sdkconfig arena, or dynapps.yaml's firmware.data_arena, or None (the emulator
    firmware's); both given and different is an error naming both."""
    stated = _stated_arena(firmware, profile)
    if config is None:
        return stated
    region = config.arena(profile)
    source = config.where("DYNAPPS_DATA_ARENA_ADDRESS")
    if stated and (stated.address, stated.size) != (region.start, region.size):
        raise firmware.error("data_arena", f"{stated.address:#x} + {stated.size} bytes, but {source} gives "
                                           f"CONFIG_DYNAPPS_DATA_ARENA_ADDRESS {region.start:#x} + _SIZE "
                                           f"{region.size}: remove data_arena from {PROJECT_FILE} (the sdkconfig "
                                           f"decides) or make them the same")
    problem = arena_problem(profile, region.start, region.size) if region.size else None
    if problem:
        raise DynappsError(f"CONFIG_DYNAPPS_DATA_ARENA_ADDRESS / _SIZE: {problem}", source)
    return DataArena(region.start, region.size, f"CONFIG_DYNAPPS_DATA_ARENA_* of {' + '.join(config.sources)}")


def _stated_arena(firmware: Section, profile: chips.ChipProfile) -> DataArena | None:
    if not firmware.has("data_arena"):
        return None
    arena = firmware.section("data_arena")
    arena.check_keys({"address", "size"})
    address = arena.size("address", required=True, multiple=16)
    size = arena.size("size", required=True, minimum=16, multiple=16)
    problem = arena_problem(profile, address, size)
    if problem:
        raise arena.error("address", problem)
    return DataArena(address, size, f"{PROJECT_FILE} firmware.data_arena")


def arena_problem(profile: chips.ChipProfile, address: int, size: int) -> str | None:
    """Why [address, address + size) can't hold XIP apps' data and bss on this chip, or None.
    They are read and written through the data bus, so the arena must lie in the chip's data RAM."""
    if profile.dram.contains(address, size):
        return None
    span = f"{address:#x}..{address + size:#x}"
    if profile.flash_dbus.contains(address):
        return f"{span} is in the flash data window: flash is read-only, the arena must be in data RAM " \
               f"{profile.dram.start:#x}..{profile.dram.end:#x}"
    if profile.flash_ibus.contains(address):
        return f"{span} is in the flash instruction window: the arena must be in data RAM " \
               f"{profile.dram.start:#x}..{profile.dram.end:#x}"
    if profile.i_d_offset and profile.iram.contains(address):
        return f"{span} is the IRAM alias of {profile.dram_address(address):#x}: give the data-bus address " \
               f"(IRAM takes only 32-bit accesses)"
    return f"{span} is not in the {profile.name}'s data RAM {profile.dram.start:#x}..{profile.dram.end:#x}"
