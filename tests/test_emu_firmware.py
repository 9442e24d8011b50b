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
from dynapps import chips, emulator, project
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
    # the partition table was read through the scratch page below the data view
    scratch = profile.flash_dbus.start + profile.emulator.flash_data_view_from - profile.mmu_page_size
    assert (emulator.MMU_MAP_DATA, scratch, 0, profile.mmu_page_size, 0) in machine.mmu.log
    assert machine.symbol("dynapps_data_arena") == profile.emulator.data_arena.start
    # every mapping the port made is gone again
    assert [m.kind for m in machine.mappings if m.kind.startswith("mmu_")] == []


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
    # the slot's data view: 2 rounds x (crc, fir).
    assert len(machine.sha.log) == 4
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
