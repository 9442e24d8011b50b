"""The firmware's sdkconfig is the source of truth (issue 11 items 3 and 4): XIP apps' data arena,
chip, flash size and partition table offset come from it, never from a firmware ELF; the real
scons build, the real loader in the emulator."""

from __future__ import annotations

import re
import shutil

import pytest

from conftest import REPO, Project
from test_manifest_errors import single_error_line
from dynapps import chips, emulator, image, sdkconfig
from dynapps.errors import DynappsError

FIRMWARE = "build/emulator/firmware.elf"
FLASH = "build/emulator/flash.bin"
KCONFIG = REPO / "firmware/components/dynapps/Kconfig"


def real_sdkconfig(chip: str = "esp32c3", **options: str) -> str:
    """An excerpt of the sdkconfig `idf.py build` writes (its format, its option names), with the
    dynapps options at their defaults unless `options` says otherwise."""
    arena = chips.profile(chip).data_arena_default
    values = {"IDF_TARGET": f'"{chip}"', "ESPTOOLPY_FLASHSIZE_4MB": "y", "ESPTOOLPY_FLASHSIZE": '"4MB"',
              "PARTITION_TABLE_CUSTOM": "y", "PARTITION_TABLE_CUSTOM_FILENAME": '"../partitions.csv"',
              "PARTITION_TABLE_OFFSET": "0x8000", "DYNAPPS_DATA_ARENA_ADDRESS": f"{arena.start:#x}",
              "DYNAPPS_DATA_ARENA_SIZE": str(arena.size), "DYNAPPS_MAX_LOADED_APPS": "32", **options}
    lines = ["#", "# Automatically generated file. DO NOT EDIT.", "# Espressif IoT Development Framework (ESP-IDF) "
             "5.5.5 Project Configuration", "#", "# CONFIG_DYNAPPS_DEBUG_LOG is not set"]
    return "\n".join(lines + [f"CONFIG_{name}={value}" for name, value in values.items()]) + "\n"


def _xip_data(project: Project) -> dict[str, tuple[int, int]]:
    """app -> (data address, data + bss) of every XIP image built."""
    result = {}
    for path in sorted((project.root / "build/apps").glob("*.dapp")):
        img = image.read(path.read_bytes(), path.name)
        if img.strategy == "xip":
            result[path.stem] = (img.data_vaddr, len(img.data) + img.bss_size)
    return result


# --- (a) a fresh clone builds apps for a real board, without any firmware ELF ----------------------


def test_fresh_clone_builds_xip_apps_from_the_sdkconfig_alone(example_project):
    example_project.write("firmware/sdkconfig", real_sdkconfig(DYNAPPS_DATA_ARENA_ADDRESS="0x3fcc0000",
                                                               DYNAPPS_DATA_ARENA_SIZE="24576"))
    result = example_project.scons("apps")
    assert not (example_project.root / "firmware/build").exists()  # no firmware was ever built
    placed = _xip_data(example_project)
    assert placed, result.stdout  # the example has XIP apps
    for app, (address, size) in placed.items():
        assert 0x3FCC0000 <= address and address + size <= 0x3FCC0000 + 24576, app


def test_image_for_another_arena_is_refused_with_both_ranges(example_project):
    """The emulator firmware's arena (0x3fcd0000..0x3fce0000) does not hold an arena of
    0x3fcc0000: the loader refuses those XIP images, and the port prints both ranges."""
    example_project.write("firmware/sdkconfig", real_sdkconfig(DYNAPPS_DATA_ARENA_ADDRESS="0x3fcc0000",
                                                               DYNAPPS_DATA_ARENA_SIZE="24576"))
    example_project.scons("apps", "flash-apps", FIRMWARE)
    machine = emulator.Machine(chips.profile("esp32c3"), (example_project.root / FLASH).read_bytes())
    machine.load_firmware(example_project.root / FIRMWARE)
    text = machine.run(timeout_s=60).uart_text
    arena = chips.profile("esp32c3").emulator.data_arena
    with_data = {app: placed for app, placed in _xip_data(example_project).items() if placed[1]}
    assert with_data  # (an XIP app without data or bss needs no arena: abi loads)
    for app, (address, size) in with_data.items():
        assert f"LOAD-ERROR {app} DYNAPPS_ERR_ADDRESS_UNAVAILABLE" in text, text
        assert (f"dynapps: XIP image's data and bss {address:#010x}..{address + size:#010x} are not inside the "
                f"data arena {arena.start:#010x}..{arena.end:#010x}") in text, text


def test_firmware_elf_key_is_refused_with_the_reason(example_project):
    text = (example_project.root / "dynapps.yaml").read_text()
    example_project.write("dynapps.yaml", text.replace("firmware:\n", "firmware:\n  elf: firmware/build/x.elf\n"))
    result = example_project.scons("apps", check=False)
    assert result.returncode == 2
    assert re.fullmatch(r"error: dynapps\.yaml:\d+: firmware\.elf: the firmware ELF is no longer read: .*"
                        r"CONFIG_DYNAPPS_DATA_ARENA_ADDRESS.*\n", result.stderr), result.stderr


# --- (b) the default arena holds the example apps --------------------------------------------------


def _kconfig_default(option: str) -> list[str]:
    text = KCONFIG.read_text()
    block = text[text.index(f"config {option}\n"):]
    block = block[:block.index("help")]
    return re.findall(r"^\s+default (.+)$", block, re.M)


def test_kconfig_defaults_are_the_chip_profiles():
    defaults = _kconfig_default("DYNAPPS_DATA_ARENA_ADDRESS")
    size = int(_kconfig_default("DYNAPPS_DATA_ARENA_SIZE")[0], 0)
    assert size == sdkconfig.DEFAULT_ARENA_SIZE
    for name in chips.names():
        profile = chips.profile(name)
        plain = next(d for d in defaults if d.endswith(f"if IDF_TARGET_{name.upper()}"))
        assert int(plain.split()[0], 0) == profile.data_arena_default.start and profile.data_arena_default.size == size
        for _option, region in profile.data_arena_default_if:
            conditional = [d for d in defaults if f"IDF_TARGET_{name.upper()} &&" in d]
            assert [int(d.split()[0], 0) for d in conditional] == [region.start]
        # the emulator firmware's arena holds it: apps built for a default firmware run there too
        assert profile.emulator.data_arena.start <= profile.data_arena_default.start
        assert profile.data_arena_default.end <= profile.emulator.data_arena.end


def test_the_example_apps_need_less_than_the_kconfig_default():
    """What the layout gives the example's XIP apps (limits.ram, apps.default_ram), from the
    manifests, against the Kconfig default of the arena size (16 KB before: 17,408 B did not fit)."""
    from dynapps import layout, manifest, project
    proj = project.load(REPO)
    plan = layout.plan(proj, manifest.load_all(REPO), project.DataArena(proj.profile.dram.start, 1 << 20, "all"))
    needed = sum(slot.ram_size for slot in plan.slots if slot.xip_capable)
    assert needed == 17408
    assert needed <= int(_kconfig_default("DYNAPPS_DATA_ARENA_SIZE")[0], 0)


def test_example_apps_fit_the_default_arena(example_project):
    for name in ("sdkconfig.defaults", "sdkconfig.defaults.esp32c3"):
        shutil.copy(REPO / "firmware" / name, example_project.root / "firmware" / name)
    example_project.scons("apps")
    arena = chips.profile("esp32c3").data_arena_default
    size = int(_kconfig_default("DYNAPPS_DATA_ARENA_SIZE")[0], 0)
    placed = _xip_data(example_project)
    assert placed
    for app, (address, used) in placed.items():
        assert arena.start <= address and address + used <= arena.start + size, app


# --- the acceptance: XIP images stay valid after a firmware rebuild that moves its RAM ------------


BIG_STATIC = """#include <stdint.h>
#include <string.h>
/* 40 KB more of static RAM in the firmware, written at start-up (a constructor, which the linker
 * keeps): everything the linker places after it moves. */
uint8_t firmware_grew[40 * 1024];
__attribute__((constructor)) static void firmware_grew_touch(void) { memset(firmware_grew, 1, sizeof firmware_grew); }
"""


def _run(project: Project, chip: str) -> str:
    machine = emulator.Machine(chips.profile(chip), (project.root / FLASH).read_bytes())
    machine.load_firmware(project.root / FIRMWARE)
    result = machine.run(timeout_s=60)
    assert result.faults == [] and result.reason == "exit" and result.exit_code == 0, result.uart_text
    assert "DEMO OK: 0 failure(s)" in result.uart_text
    return result.uart_text


def test_xip_apps_stay_valid_when_the_firmware_ram_changes(example_project):
    project = example_project
    project.write("firmware/sdkconfig", real_sdkconfig())
    project.scons("apps", "flash-apps", FIRMWARE)
    images = {p.name: p.read_bytes() for p in (project.root / "build/apps").glob("*.dapp")}
    first = _run(project, "esp32c3")
    assert re.search(r"^LOADED \w+ xip ", first, re.M), first
    size_before = (project.root / FIRMWARE).stat().st_size

    project.write("firmware/main/grew.c", BIG_STATIC)
    text = (project.root / "dynapps.yaml").read_text()
    project.write("dynapps.yaml", text.replace("    - firmware/main/demo_calls.c\n",
                                               "    - firmware/main/demo_calls.c\n    - firmware/main/grew.c\n"))
    project.scons("apps", "flash-apps", FIRMWARE)
    from elftools.elf.elffile import ELFFile
    with (project.root / FIRMWARE).open("rb") as stream:
        assert ELFFile(stream).get_section_by_name(".symtab").get_symbol_by_name("firmware_grew")
    assert (project.root / FIRMWARE).stat().st_size != size_before  # the firmware was rebuilt
    assert {p.name: p.read_bytes() for p in (project.root / "build/apps").glob("*.dapp")} == images
    second = _run(project, "esp32c3")
    loaded = lambda text: sorted(re.findall(r"^LOADED (\w+) (\w+) ", text, re.M))  # noqa: E731
    assert loaded(second) == loaded(first)


# --- (c) the partition table offset comes from the sdkconfig ---------------------------------------


def _table_at_0x10000(project: Project, nvs_offset: str = "0x11000") -> None:
    """The firmware's sdkconfig moves the partition table to 0x10000; nvs at `nvs_offset`; an app `one`."""
    project.write("firmware/partitions-base.csv", f"nvs, data, nvs, {nvs_offset}, 0x6000,\n"
                                                  "factory, app, factory, 0x20000, 0x1E0000,\n")
    project.write("firmware/sdkconfig", real_sdkconfig(PARTITION_TABLE_OFFSET="0x10000"))
    project.write("apps/one/one.c", "int one(void) { return 1; }\n")
    project.write("apps/one/app.yaml", "exports:\n  - int one(void)\n")


def test_partition_table_offset_from_the_sdkconfig(empty_project):
    project = empty_project
    _table_at_0x10000(project)
    project.write("firmware/main/one_demo.c", ONE_DEMO)
    text = (project.root / "dynapps.yaml").read_text()
    project.write("dynapps.yaml", re.sub(r"  emulator_sources:.*\n(    - .*\n)+", "  emulator_sources: [firmware/main/one_demo.c]\n", text))
    project.scons("apps", "flash-apps", FIRMWARE)
    flash = (project.root / FLASH).read_bytes()
    table = (project.root / "build/partition-table.bin").read_bytes()
    assert flash[0x10000:0x10000 + len(table)] == table
    assert flash[0x8000:0x8002] != b"\xaa\x50"  # nothing at ESP-IDF's default offset
    # the emulator firmware, built for the same sdkconfig, finds the slot through that table
    machine = emulator.Machine(chips.profile("esp32c3"), flash)
    machine.load_firmware(project.root / FIRMWARE)
    result = machine.run(timeout_s=60)
    assert "ONE 1 DYNAPPS_OK" in result.uart_text, result.uart_text


def test_a_partition_below_a_moved_table_is_refused(empty_project):
    """With the table moved to 0x10000, 0x9000 is the bootloader's: ESP-IDF's gen_esp32part.py
    refuses a partition there, and so does dynapps, naming the first free offset."""
    project = empty_project
    _table_at_0x10000(project, nvs_offset="0x9000")
    error = single_error_line(project.scons("generate", check=False))
    assert error == ("partition 'nvs' (firmware/partitions-base.csv:1) at 0x9000 overlaps the bootloader or the "
                     "partition table (partitions start at 0x11000)"), error


def test_the_layout_picture_shows_a_moved_table(empty_project):
    project = empty_project
    _table_at_0x10000(project)
    project.scons("apps")
    picture = (project.root / "build/layout.svg").read_text()
    assert "0x10000, 4 KB" in picture and "0x0, 64 KB" in picture, picture  # the table and the bootloader before it
    assert "0x8000, 4 KB" not in picture, picture


ONE_DEMO = """#include <stdio.h>
#include "dynapps.h"
#include "dynapps_one.h"
int dynapps_demo(void)
{
    dynapps_err_t err = one_load();
    printf("ONE %d %s\\n", err == DYNAPPS_OK ? one() : -1, dynapps_err_name(err));
    return err != DYNAPPS_OK;
}
"""


# --- mismatches: one line naming both values and both files ----------------------------------------


@pytest.mark.parametrize("yaml_edit, sdk_options, expected", [
    (("chip: esp32c3", "chip: esp32c6"), {},
     r"error: dynapps\.yaml:2: chip: esp32c6, but firmware/sdkconfig:\d+ has CONFIG_IDF_TARGET=\"esp32c3\": .*"),
    (("flash_size: 4M", "flash_size: 8M"), {},
     r"error: dynapps\.yaml:5: flash_size: 8 MB, but firmware/sdkconfig:\d+ has CONFIG_ESPTOOLPY_FLASHSIZE 4 MB: .*"),
    (("firmware:\n", "firmware:\n  data_arena: {address: 0x3fcc0000, size: 16K}\n"), {},
     r"error: dynapps\.yaml:\d+: firmware\.data_arena: 0x3fcc0000 \+ 16384 bytes, but firmware/sdkconfig:\d+ gives "
     r"CONFIG_DYNAPPS_DATA_ARENA_ADDRESS 0x3fcd4000 \+ _SIZE 32768: .*"),
    (None, {"DYNAPPS_DATA_ARENA_ADDRESS": "0x42000000"},
     r"error: firmware/sdkconfig:\d+: CONFIG_DYNAPPS_DATA_ARENA_ADDRESS / _SIZE: 0x42000000\.\.0x42008000 is in the "
     r"flash instruction window.*"),
])
def test_mismatch_is_one_line_naming_both(example_project, yaml_edit, sdk_options, expected):
    example_project.write("firmware/sdkconfig", real_sdkconfig(**sdk_options))
    if yaml_edit:
        text = (example_project.root / "dynapps.yaml").read_text()
        assert yaml_edit[0] in text
        example_project.write("dynapps.yaml", text.replace(yaml_edit[0], yaml_edit[1], 1))
    result = example_project.scons("apps", check=False)
    assert result.returncode == 2
    assert re.fullmatch(expected + r"\n", result.stderr), result.stderr


def test_command_line_chip_against_the_sdkconfig(example_project):
    example_project.write("firmware/sdkconfig", real_sdkconfig())
    result = example_project.scons("apps", "CHIP=esp32p4", check=False)
    assert result.returncode == 2
    assert re.fullmatch(r"error: CHIP=esp32p4 \(command line\), but firmware/sdkconfig:\d+ has "
                        r"CONFIG_IDF_TARGET=\"esp32c3\": .*\n", result.stderr), result.stderr


# --- the reader itself -------------------------------------------------------------------------------


def test_precedence_sdkconfig_then_json_then_defaults(tmp_path):
    (tmp_path / "sdkconfig.defaults").write_text("CONFIG_ESPTOOLPY_FLASHSIZE_8MB=y\n")
    (tmp_path / "sdkconfig.defaults.esp32c6").write_text("CONFIG_PARTITION_TABLE_OFFSET=0xA000\n")
    config = sdkconfig.load(tmp_path, "esp32c6", tmp_path)
    assert config.sources == ("sdkconfig.defaults", "sdkconfig.defaults.esp32c6")
    assert (config.chip, config.flash_size, config.partition_table_offset) == (None, 8 << 20, 0xA000)
    assert config.arena(chips.profile("esp32c6")) == chips.profile("esp32c6").data_arena_default
    (tmp_path / "build/config").mkdir(parents=True)
    (tmp_path / "build/config/sdkconfig.json").write_text(
        '{"IDF_TARGET": "esp32h2", "ESPTOOLPY_FLASHSIZE": "2MB", "PARTITION_TABLE_OFFSET": 36864, '
        '"DYNAPPS_DATA_ARENA_ADDRESS": 1082408960, "DYNAPPS_DATA_ARENA_SIZE": 8192, "DYNAPPS_DEBUG_LOG": false}')
    config = sdkconfig.load(tmp_path, None, tmp_path)
    assert config.sources == ("build/config/sdkconfig.json",)
    assert (config.chip, config.flash_size, config.partition_table_offset) == ("esp32h2", 2 << 20, 0x9000)
    assert config.arena(chips.profile("esp32h2")) == chips.MemoryRegion(0x40844000, 0x40846000)
    (tmp_path / "sdkconfig").write_text(real_sdkconfig("esp32p4", ESP32P4_SELECTS_REV_LESS_V3="y"))
    config = sdkconfig.load(tmp_path, None, tmp_path)
    assert (config.sources, config.chip) == (("sdkconfig",), "esp32p4")


def test_p4_revision_picks_the_default_arena(tmp_path):
    (tmp_path / "sdkconfig.defaults").write_text('CONFIG_IDF_TARGET="esp32p4"\nCONFIG_ESP32P4_SELECTS_REV_LESS_V3=y\n')
    config = sdkconfig.load(tmp_path, None, tmp_path)
    assert config.arena(chips.profile("esp32p4")) == chips.MemoryRegion(0x4FF32000, 0x4FF3A000)


@pytest.mark.parametrize("text, message", [
    ("CONFIG_A=1\nTHIS IS NOT\n", "sdkconfig:2: expected CONFIG_NAME=value or '# CONFIG_NAME is not set', got 'THIS IS NOT'"),
    ('CONFIG_IDF_TARGET="esp32s3"\n', 'sdkconfig:1: CONFIG_IDF_TARGET="esp32s3": dynapps supports esp32c3, esp32c6, esp32h2, esp32p4'),
    ("CONFIG_PARTITION_TABLE_OFFSET=eight\n", "sdkconfig:1: CONFIG_PARTITION_TABLE_OFFSET: expected a number, got 'eight'"),
    ("CONFIG_PARTITION_TABLE_OFFSET=0x8800\n", "sdkconfig:1: CONFIG_PARTITION_TABLE_OFFSET=0x8800: expected a multiple of 0x1000 (a flash sector)"),
    ('CONFIG_ESPTOOLPY_FLASHSIZE="big"\n', "sdkconfig:1: CONFIG_ESPTOOLPY_FLASHSIZE: expected a size such as \"4MB\", got 'big'"),
])
def test_bad_sdkconfig_is_one_line(tmp_path, text, message):
    (tmp_path / "sdkconfig").write_text(text)
    with pytest.raises(DynappsError) as error:
        sdkconfig.load(tmp_path, None, tmp_path)
    assert str(error.value) == message


# --- the ESP-IDF release: the sdkconfig's header line, IDF= only when there is none ----------------


def test_the_idf_release_comes_from_the_sdkconfig(example_project):
    """The summary says how each XIP app's slot is mapped on the release that wrote the sdkconfig
    (5.5: fillers then first fit), not on IDF='s default (6.0); IDF= naming another release is one
    error line naming both."""
    example_project.write("firmware/sdkconfig", real_sdkconfig())  # "ESP-IDF 5.5.5 Project Configuration"
    text = example_project.scons("apps").stdout
    assert "firmware on ESP-IDF 5.5" in text and "esp_mmu_map first fit (IDF<6.1)" in text, text
    result = example_project.scons("apps", "IDF=6.1", check=False)
    assert result.returncode == 2
    assert re.fullmatch(r"error: IDF=6\.1, but the firmware's sdkconfig was written by ESP-IDF 5\.5\.5 "
                        r"\(firmware/sdkconfig:3\): drop IDF= or make them agree\n", result.stderr), result.stderr
    example_project.write("firmware/sdkconfig", real_sdkconfig().replace("5.5.5 Project", "v6.1.0 Project"))
    text = example_project.scons("apps").stdout
    assert "firmware on ESP-IDF 6.1" in text and "esp_mmu_map_virt" in text, text
