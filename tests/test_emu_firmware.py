"""The emulator firmware (src/dynapps/emulator/firmware_build.py, firmware/emulator/, the emulator
port): its build spec and generated linker script, the device header against the Python side, the
port on its own, the loader core loading built apps, and the command line. Test programs:
tests/emu_fw/."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, TOOLS
from dynapps import chips, emulator, image, project
from dynapps.emulator import devices
from emu_support import (ALIASED_CHIPS, ALL_CHIPS, APP_SLOT, FPU_CHIPS, build, build_dir,  # noqa: F401
                         flash_image, machine_for)

# ---------------------------------------------------------------- the port, in the emulator


@pytest.mark.parametrize("chip", ALL_CHIPS)
def test_port_in_emulator(build_dir, chip):
    profile = chips.profile(chip)
    machine = machine_for(chip, build(build_dir, chip, "port_test.c", port=True), flash_image(),
                          count_instructions=True)
    result = machine.run(timeout_s=60)
    assert "FAIL" not in result.uart_text, result.uart_text
    assert re.search(r"checks \d+ failures 0", result.uart_text), result.uart_text
    assert (result.exit_code, result.faults) == (0, []), result.uart_text
    assert f"arena {profile.emulator.data_arena.start:08x} {profile.emulator.data_arena.size:08x}" \
        in result.uart_text
    assert f"heap total {profile.emulator.heap.size}" in result.uart_text
    assert f"slot alpha offset {APP_SLOT:08x} size 00010000 bytes 0x{profile.flash_dbus.start + APP_SLOT:x}" \
        in result.uart_text
    # the partition table was read through a one-page mapping esp_mm put first fit, after the
    # firmware's own pages
    first_free = profile.flash_dbus.start + machine.mmu.free_head()
    assert (emulator.MMU_ESP_MAP, first_free, 0, profile.mmu_page_size, 0) in machine.mmu.log
    assert machine.symbol("dynapps_data_arena") == profile.emulator.data_arena.start
    # what stays mapped: the apps window, at its identity address, over both app slots
    assert [(b.laddr, b.paddr, b.size) for b in machine.mmu.blocks] == [(APP_SLOT, APP_SLOT, 0x20000)]
    assert [m.kind for m in machine.mappings if m.kind != "firmware" and m.kind != "esp_mm"] == []


def test_arena_symbol_is_sized_for_the_app_build(build_dir):
    from elftools.elf.elffile import ELFFile

    profile = chips.profile("esp32c3")
    elf = build(build_dir, "esp32c3", "port_test.c", port=True)
    with open(elf, "rb") as stream:
        [symbol] = ELFFile(stream).get_section_by_name(".symtab").get_symbol_by_name("dynapps_data_arena")
        assert (symbol["st_value"], symbol["st_size"]) == (profile.emulator.data_arena.start,
                                                         profile.emulator.data_arena.size)


# ---------------------------------------------------------------- build spec, header, command line


def test_header_registers_match_python():
    header = (REPO / "firmware" / "emulator" / "include" / "dynapps_emu.h").read_text()
    values = {name: int(value, 0) for name, value in
              re.findall(r"#define DYNAPPS_EMU_(\w+) (0x[0-9A-Fa-f]+|\d+)u?\b", header)}
    python = {"REG_" + n[4:]: getattr(devices, n) for n in dir(devices) if n.startswith("REG_")}
    python.update({n: getattr(devices, n) for n in dir(devices) if n.startswith("MMU_") and n != "MMU_"})
    python.update({"ID": devices.EMU_ID, "EXIT_TRAP_BASE": devices.EXIT_TRAP_BASE,
                   "EXIT_PANIC": devices.EXIT_PANIC, "EXIT_SIGNAL_BASE": devices.EXIT_SIGNAL_BASE,
                   "SHA_DIGEST_WORDS": devices.SHA_DIGEST_WORDS})
    assert len(python) > 25
    for name, value in python.items():
        assert values.get(name) == value, name


def test_build_spec_contract(tmp_path):
    for chip in ALL_CHIPS:
        profile = chips.profile(chip)
        spec = emulator.build_spec(profile, ["firmware/main/demo.c", "firmware/main/demo_calls.c"], "build/generated")
        path = spec.write_linker_script(tmp_path / f"{chip}.ld")
        assert path.read_text() == spec.linker_script
        assert spec.link_flags(path)[-1] == f"-T{path}"
        assert all(Path(s).is_file() for s in spec.dynapps_sources)
        assert [s.name for s in spec.core_sources] == sorted(s.name for s in spec.core_sources)
        assert f"-DDYNAPPS_EMU_I_D_OFFSET={profile.i_d_offset:#x}" in spec.cflags
        assert f"-mabi={profile.mabi}" in spec.cflags and "-Werror" in spec.ccflags and "-Werror" not in spec.cflags
        assert spec.project_include_dirs == ("build/generated", "firmware/main")
        assert spec.compiler_prefix == "riscv64-unknown-elf"


def test_scons_builds_the_firmware_the_spec_describes(example_project):
    """scons_tool only wires the spec: the firmware's objects are the spec's sources, the
    project's emulator sources and the generated C files, and its linker script is the spec's."""
    example_project.scons("build/emulator/firmware.elf")
    root = example_project.root
    proj = project.load(root)
    spec = emulator.build_spec(proj.profile, proj.emulator_sources, "build/generated")
    objects = {path.stem for path in (root / "build/emulator/obj").rglob("*.o")}
    expected = {source.stem for source in spec.dynapps_sources} | {Path(s).stem for s in spec.project_sources}
    expected |= {path.stem for path in (root / "build/generated").glob("*.c")}
    assert objects == expected
    assert (root / "build/emulator/firmware.ld").read_text() == spec.linker_script


def test_linker_script_is_rendered_from_its_template():
    """The script comes from templates/emulator_firmware.ld.j2 with the generated-file header, and
    holds the chip's addresses: rodata in its own memory region only where the windows differ."""
    for chip in ALL_CHIPS:
        profile = chips.profile(chip)
        script = emulator.firmware_linker_script(profile)
        assert script.startswith(f"/* Generated by dynapps from the {chip} chip profile")
        assert f"ORIGIN = {profile.flash_ibus.start:#010x}" in script
        assert f"dynapps_emu_heap_start = {profile.emulator.heap.start:#010x};" in script
        assert f"__stack_size = {32 * 1024:#x};" in script
        rodata_region = f"fw_rodata (r)  : ORIGIN = {profile.flash_dbus.start:#010x}"
        assert (rodata_region in script) is not profile.unified_flash_window
        assert "{{" not in script and "{%" not in script


def test_command_line(build_dir, tmp_path):
    elf = build(build_dir, "esp32c6", "cli.c")
    flash = tmp_path / "flash.bin"
    flash.write_bytes(flash_image())
    env = dict(os.environ, PYTHONPATH=str(TOOLS) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-m", "dynapps.emulator", "--chip", "esp32c6", "--firmware", str(elf),
                             "--flash", str(flash)], capture_output=True, text=True, env=env)
    assert (result.stdout, result.returncode) == ("from cli\n", 5), result.stderr


# ---------------------------------------------------------------- loader core + port, real images


E2E_CHIPS = sorted({ALIASED_CHIPS[0], FPU_CHIPS[0]}) if ALIASED_CHIPS and FPU_CHIPS else ALL_CHIPS[:1]


@pytest.mark.parametrize("chip", E2E_CHIPS)
def test_loader_loads_built_apps_in_emulator(example_project, build_dir, chip):
    """scons apps + flash-apps, then the loader core with the emulator port loads an IRAM app
    (crc) and an XIP app (fir) from the flash image, twice, and gives every byte back."""
    root = example_project.root
    if not (root / "apps" / "crc").is_dir() or not (root / "apps" / "fir").is_dir():
        pytest.skip("example apps crc and fir are gone")
    example_project.scons(f"CHIP={chip}", "apps", "flash-apps")
    profile = chips.profile(chip)
    extra = (*emulator.build_spec(profile).core_sources, root / "build" / "generated" / "exports.c")
    elf = build(build_dir, chip, "load_apps.c", port=True, extra=extra)
    flash = (root / "build" / "emulator" / "flash.bin").read_bytes()
    machine = machine_for(chip, elf, flash, count_instructions=True)
    result = machine.run(timeout_s=120)
    assert (result.exit_code, result.faults) == (0, []), result.uart_text
    lines = result.uart_text.splitlines()
    iram_app = re.match(r"crc cbf43926 at ([0-9a-f]+), fir taps \d+ at ([0-9a-f]+)", lines[0])
    assert iram_app and lines[0] == lines[1]
    code, xip = int(iram_app.group(1), 16), int(iram_app.group(2), 16)
    assert profile.iram.contains(code) and profile.flash_ibus.contains(xip)
    assert lines[2] == "heap back 1 check 0"
    assert result.between_marks(1, 2) > 0 and result.between_marks(3, 4) > 0
    # Every load hashed its image, all but the trailing hash, with the SHA engine, straight from
    # the slot's data view: 2 rounds x (crc, fir), but for fir's second load, which finds the
    # trust mark its first one wrote (docs/design.md, "Trust marks").
    assert len(machine.sha.log) == 3 and machine.sha.log[0] == machine.sha.log[2]
    assert [command for command, *_ in machine.flash.log] == [1, 2]  # one erase, one write: fir's mark
    for address, size in machine.sha.log:
        assert profile.flash_dbus.contains(address, size + 32)
        assert machine.read(address, 4) == b"DAPP"
    hashed = machine.sha.log[0][1]

    # The same with the core's software SHA-256 (the port's compile-time switch): same results,
    # the engine unused, and the hash now costs tens of instructions per byte.
    soft_elf = build(build_dir, chip, "load_apps.c", port=True, cflags=("-DDYNAPPS_EMU_SOFTWARE_SHA=1",), extra=extra)
    soft = machine_for(chip, soft_elf, flash, count_instructions=True)
    soft_result = soft.run(timeout_s=120)
    assert (soft_result.exit_code, soft_result.faults) == (0, []), soft_result.uart_text
    assert soft_result.uart_text == result.uart_text and soft.sha.log == []
    assert soft_result.between_marks(1, 2) - result.between_marks(1, 2) > 50 * hashed


@pytest.mark.parametrize("idf", ["5.5", "6.1"])
@pytest.mark.parametrize("chip", E2E_CHIPS)
def test_xip_refused_when_the_firmware_mapped_over_the_window_first(example_project, build_dir, chip, idf):
    """The firmware's own mapping covers the window's linear start: before 6.1 first fit puts the
    window after it, from 6.1 esp_mmu_map_virt finds the range taken. XIP loads are refused with
    the address the window needed (and where it landed), IRAM loads still work."""
    root = example_project.root
    example_project.scons(f"CHIP={chip}", "apps", "flash-apps")
    profile = chips.profile(chip)
    region = project.load(root, chip, None).region_offset
    slots = _slots(root)
    window_end = -(-max(offset + size for offset, size in slots.values()) // profile.mmu_page_size) * profile.mmu_page_size
    extra = (*emulator.build_spec(profile).core_sources, root / "build" / "generated" / "exports.c")
    taken_from = 0x400000  # a data partition past the 4 MB the example uses
    elf = build(build_dir, chip, "window_taken.c", port=True, extra=extra, idf=idf,
                defines={"TAKEN": hex(region), "TAKEN_FROM": hex(taken_from)})
    machine = machine_for(chip, elf, (root / "build" / "emulator" / "flash.bin").read_bytes(), idf=idf,
                          flash_size=8 << 20)
    result = machine.run(timeout_s=120)
    assert (result.exit_code, result.faults) == (0, []), result.uart_text
    first_free = machine.mmu.free_head()
    landed = profile.flash_ibus.start + first_free + region  # right after the firmware's mapping
    wanted = profile.flash_ibus.start + region
    window_line = {
        "5.5": f"dynapps: apps window (flash 0x{region:08x}..0x{window_end:08x}) must be mapped at 0x{wanted:08x}, "
               f"first fit put it at 0x{landed:08x}: something else is mapped there; XIP apps are refused",
        "6.1": f"dynapps: apps window (flash 0x{region:08x}..0x{window_end:08x}) not mapped at 0x{wanted:08x}: "
               "map the window at its own address failed (the MMU refused it); XIP apps are refused",
    }[idf]
    assert result.uart_text.splitlines() == [
        f"firmware mapped {region} bytes at {profile.flash_dbus.start + first_free:08x}: 0",
        window_line,
        "dynapps: XIP app in slot 'fir' (flash 0x{:08x}) refused: the apps window is not mapped at its own "
        "address".format(slots["fir"][0]),
        "crc DYNAPPS_OK fir DYNAPPS_ERR_ADDRESS_UNAVAILABLE",
        "heap back 1",
    ]
    # nothing of the loader's stays mapped: only the firmware's own block
    assert [(b.laddr, b.paddr, b.size) for b in machine.mmu.blocks] == [(first_free, taken_from, region)]
    if idf == "6.1":  # it asked for the window at its address, and got OVERLAP
        assert (emulator.MMU_ESP_MAP_AT, profile.flash_dbus.start + region, region, window_end - region,
                emulator.MMU_OVERLAP) in machine.mmu.log


def _slots(root) -> dict[str, tuple[int, int]]:
    """name: (offset, size) of every app slot in the project's partitions.csv."""
    rows = [line.split(",") for line in (root / "partitions.csv").read_text().splitlines()
            if line and not line.startswith("#")]
    return {r[0].strip(): (int(r[3], 16), int(r[4], 16)) for r in rows if r[2].strip() == "0x40"}


@pytest.mark.parametrize("chip", E2E_CHIPS)
def test_window_reserved_over_holes_left_by_the_firmware(example_project, build_dir, chip):
    """ESP-IDF 5.5 rules, a hole and a live mapping below the window: the fillers take the hole,
    the space around the live page and the rest up to the window; the XIP app runs at its address."""
    root = example_project.root
    example_project.scons(f"CHIP={chip}", "apps", "flash-apps")
    profile = chips.profile(chip)
    page = profile.mmu_page_size
    extra = (*emulator.build_spec(profile).core_sources, root / "build" / "generated" / "exports.c")
    elf = build(build_dir, chip, "window_holes.c", port=True, extra=extra, defines={"TAKEN_FROM": hex(0x300000)})
    machine = machine_for(chip, elf, (root / "build" / "emulator" / "flash.bin").read_bytes(), idf="5.5")
    result = machine.run(timeout_s=120)
    assert (result.exit_code, result.faults) == (0, []), result.uart_text
    first_free = machine.mmu.free_head()
    slots = _slots(root)
    assert result.uart_text.splitlines() == [
        f"kept {profile.flash_dbus.start + first_free + page:08x}",
        f"crc cbf43926 fir taps 63 at {profile.flash_ibus.start + slots['fir'][0] + image.HEADER_SIZE:08x}"]
    # the fillers: the hole (one page), then the rest below the window in one mapping after the probe
    esp_maps = [(vaddr - profile.flash_dbus.start, offset, size) for command, vaddr, offset, size, status
                in machine.mmu.log if command == emulator.MMU_ESP_MAP and status == 0]
    region = project.load(root, chip, None).region_offset
    assert (first_free, 0, page) in esp_maps  # the probe filling the hole, flash page 0
    assert (first_free + 2 * page, page, page) in esp_maps  # the next probe, after the live page
    assert (first_free + 3 * page, 2 * page, region - first_free - 3 * page) in esp_maps  # the rest
    assert [(b.laddr, b.paddr) for b in machine.mmu.blocks] == [(first_free + page, 0x300000 + page), (region, region)]
