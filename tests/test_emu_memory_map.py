"""The emulator's memory map (src/dynapps/emulator/machine.py, devices.py Mmu): flash windows are
read-only, esp32c3's IRAM alias takes words only and its DRAM alias does not execute, the MMU maps
and refuses as the firmware asks and as each ESP-IDF release's esp_mm allocates, firmware outside
the map is refused.
Test programs: tests/emu_fw/."""

from __future__ import annotations

import re

import pytest

from dynapps import chips, emulator
from emu_support import (ALIASED_CHIPS, ALL_CHIPS, APP_SLOT, build, build_dir, flash_image,  # noqa: F401
                         machine_for)

# ---------------------------------------------------------------- flash is read-only


@pytest.mark.parametrize("chip", ALL_CHIPS)
@pytest.mark.parametrize("target", [0, 1, 2, 3], ids=["text", "rodata", "mapped_flash", "unmapped_ibus"])
def test_store_into_flash_window_is_caught(build_dir, chip, target):
    elf = build(build_dir, chip, "store_flash.c", defines={"TARGET": target})
    machine = machine_for(chip, elf, flash_image())
    if target == 2:  # flash the MMU maps for reading at the target
        profile = chips.profile(chip)
        assert machine.mmu.map(profile.flash_dbus.start + 0x200000, 0x200000, 4, executable=False) == 0
    result = machine.run()
    assert result.reason == "fault" and result.exit_code is None
    assert "store went through" not in result.uart_text
    address = int(re.search(r"target ([0-9a-f]+)", result.uart_text).group(1), 16)
    [fault] = result.faults
    assert fault.kind == "flash_write"
    assert (fault.address, fault.size, fault.value) == (address, 4, 0x1234)
    assert fault.pc == machine.symbol("store_site")
    assert f"{address:#010x}" in str(fault) and f"{fault.pc:#010x}" in str(fault)


def test_no_flash_is_visible_until_mapped(build_dir):
    for chip in ALL_CHIPS:
        profile = chips.profile(chip)
        machine = machine_for(chip, build(build_dir, chip, "exit_zero.c"), flash_image())
        with pytest.raises(Exception):  # like a chip: no identity view of the flash
            machine.read(profile.flash_dbus.start + APP_SLOT + 8, 10)
        assert [m.kind for m in machine.mappings] == ["firmware"] * len(machine.mappings)


# ---------------------------------------------------------------- esp_mm of each ESP-IDF release


def esp_mm_machine(build_dir, chip: str, idf: str) -> emulator.Machine:
    return machine_for(chip, build(build_dir, chip, "exit_zero.c"), flash_image(), idf=idf)


@pytest.mark.parametrize("chip", ["esp32c3", "esp32p4"])
def test_esp_mm_first_fit_after_the_firmware_pages(build_dir, chip):
    profile = chips.profile(chip)
    machine = esp_mm_machine(build_dir, chip, "5.5")
    mmu, page, dbus = machine.mmu, profile.mmu_page_size, profile.flash_dbus.start
    first = mmu.free_head()
    firmware_end = max(mmu.linear(m.end - 1) + 1 for m in machine.mappings if m.kind == "firmware")
    assert first == -(-firmware_end // page) * page and first > 0
    status, a = mmu.esp_map(APP_SLOT, 3 * page)
    assert (status, a) == (emulator.MMU_OK, dbus + first)
    # both buses see the slot at the same linear address
    assert machine.read(a + 8, 10) == b"alpha-slot"
    assert {m.start for m in machine.mappings if m.kind == "esp_mm"} == {a, profile.flash_ibus.start + first}
    status, b = mmu.esp_map(0, page, paddr_shared=True)
    assert (status, b) == (emulator.MMU_OK, dbus + first + 3 * page)
    # a hole: the next one-page mapping fills it, a larger one goes after the last block
    assert mmu.unmap(a) == emulator.MMU_OK
    assert mmu.esp_map(page, 4 * page, paddr_shared=True) == (emulator.MMU_OK, dbus + first + 4 * page)
    assert mmu.esp_map(5 * page, page, paddr_shared=True) == (emulator.MMU_OK, dbus + first)


def test_esp_mm_refuses_flash_mapped_already_and_chosen_addresses_before_6_1(build_dir):
    profile = chips.profile("esp32c3")
    machine = esp_mm_machine(build_dir, "esp32c3", "6.0")
    mmu, page = machine.mmu, profile.mmu_page_size
    assert mmu.esp_map(APP_SLOT, 4 * page)[0] == emulator.MMU_OK
    # inside a mapped block: refused even with the shared flag (esp_mm ESP_ERR_INVALID_STATE)
    assert mmu.esp_map(APP_SLOT + page, page, paddr_shared=True) == (emulator.MMU_PADDR_IN_USE, 0)
    # overlapping it: refused unless shared (ESP_ERR_INVALID_ARG)
    assert mmu.esp_map(APP_SLOT - page, 2 * page) == (emulator.MMU_PADDR_OVERLAP, 0)
    assert mmu.esp_map(APP_SLOT - page, 2 * page, paddr_shared=True)[0] == emulator.MMU_OK
    # no mapping at a chosen address before 6.1, neither esp_mmu_map_virt nor the plain requests
    target = profile.flash_dbus.start + 0x300000
    assert mmu.esp_map_at(target, 0x300000, page) == emulator.MMU_NO_MAP_VIRT
    assert mmu.command(emulator.MMU_MAP_EXEC, profile.flash_ibus.start + 0x300000, 0x300000, page) == \
        (emulator.MMU_NO_MAP_VIRT, profile.flash_ibus.start + 0x300000)
    newer = esp_mm_machine(build_dir, "esp32c3", "6.1")
    assert newer.mmu.esp_map_at(target, 0x300000, page) == emulator.MMU_OK
    assert newer.read(target, 4) == b"\xff" * 4
    assert newer.mmu.esp_map_at(target, 0x310000, page) == emulator.MMU_OVERLAP


# ---------------------------------------------------------------- IRAM / DRAM alias


def alias_defines(chip: str, access: str, offset: int) -> dict:
    return {"DRAM_BUF": hex(chips.profile(chip).emulator.heap.start), "ACCESS_INSN": f'"{access}"',
            "ACCESS_OFFSET": offset}


@pytest.mark.parametrize("chip", ALIASED_CHIPS)
@pytest.mark.parametrize("access,size,offset", [("lbu %0, 0(%1)", 1, 1), ("lhu %0, 0(%1)", 2, 2),
                                                ("sb %1, 0(%1)", 1, 1), ("sh %1, 0(%1)", 2, 0),
                                                ("lw %0, 0(%1)", 4, 2)],
                         ids=["lbu", "lhu", "sb", "sh", "misaligned_lw"])
def test_iram_alias_takes_words_only(build_dir, chip, access, size, offset):
    profile = chips.profile(chip)
    machine = machine_for(chip, build(build_dir, chip, "alias.c", defines=alias_defines(chip, access, offset)))
    result = machine.run()
    assert "call 55\n" in result.uart_text  # code written via DRAM runs at the IRAM alias
    assert "word 0000ab00\n" in result.uart_text  # byte store via DRAM, seen by a word load via IRAM
    assert "access went through" not in result.uart_text
    [fault] = result.faults
    assert fault.kind == "iram_access"
    assert (fault.address, fault.size) == (profile.emulator.heap.start + profile.i_d_offset + 16 + offset, size)
    assert fault.pc == machine.symbol("access_site")


@pytest.mark.parametrize("chip", ALIASED_CHIPS)
def test_iram_alias_word_access_works_and_dram_does_not_execute(build_dir, chip):
    profile = chips.profile(chip)
    elf = build(build_dir, chip, "alias.c", defines=alias_defines(chip, "lw %0, 0(%1)", 0))
    result = machine_for(chip, elf).run()
    assert "access went through ab00\n" in result.uart_text
    assert (result.exit_code, result.faults) == (0, [])

    dram_buf = profile.emulator.heap.start
    result = machine_for(chip, build(build_dir, chip, "dram_exec.c", defines={"DRAM_BUF": hex(dram_buf)})).run()
    [fault] = result.faults
    assert (fault.kind, fault.pc, fault.address) == ("fetch_protected", dram_buf, dram_buf)


def test_without_sync_unicorn_runs_stale_code(build_dir):
    """Why the port reports written code: Unicorn translates per alias (documents the hazard)."""
    chip = ALIASED_CHIPS[0]
    dram_buf = hex(chips.profile(chip).emulator.heap.start)
    synced = machine_for(chip, build(build_dir, chip, "stale_code.c", defines={"DRAM_BUF": dram_buf, "RESYNC": 1}))
    assert synced.run().uart_text == "1 2\n"
    stale = machine_for(chip, build(build_dir, chip, "stale_code.c", defines={"DRAM_BUF": dram_buf, "RESYNC": 0}))
    assert stale.run().uart_text in ("1 1\n", "1 2\n")  # "1 1" with Unicorn 2.1.4


# ---------------------------------------------------------------- MMU


def run_mmu_program(build_dir, chip: str, after_unmap: int):
    elf = build(build_dir, chip, "mmu.c", defines={"APP_SLOT": hex(APP_SLOT), "AFTER_UNMAP": after_unmap})
    machine = machine_for(chip, elf, flash_image(), idf="6.1")  # mapping at a chosen address
    return chips.profile(chip), machine, machine.run()


@pytest.mark.parametrize("chip", ALL_CHIPS)
def test_mmu_maps_flash_executable_and_refuses_bad_requests(build_dir, chip):
    profile, machine, result = run_mmu_program(build_dir, chip, after_unmap=0)
    expected = {"misaligned vaddr": emulator.MMU_MISALIGNED, "misaligned offset": emulator.MMU_MISALIGNED,
                "outside": emulator.MMU_OUT_OF_WINDOW, "beyond": emulator.MMU_BEYOND_FLASH,
                "map": emulator.MMU_OK, "overlap": emulator.MMU_OVERLAP, "call": 7,
                "unmap": emulator.MMU_OK, "unmap again": emulator.MMU_NOT_MAPPED}
    lines = dict(line.rsplit(" ", 1) for line in result.uart_text.splitlines())
    assert {k: int(v) for k, v in lines.items()} == expected
    assert (result.exit_code, result.faults) == (0, [])
    maps = [entry for entry in machine.mmu.log if entry[0] == emulator.MMU_MAP_EXEC and entry[4] == 0]
    assert maps == [(emulator.MMU_MAP_EXEC, profile.flash_ibus.start + APP_SLOT, APP_SLOT, 64, 0)]


@pytest.mark.parametrize("chip", ALL_CHIPS)
def test_fetch_from_unmapped_instruction_bus_faults(build_dir, chip):
    profile, machine, result = run_mmu_program(build_dir, chip, after_unmap=1)
    assert "unmap 0\n" in result.uart_text
    [fault] = result.faults
    vaddr = profile.flash_ibus.start + APP_SLOT
    assert fault.kind == "fetch_unmapped"
    assert (fault.address, fault.pc) == (vaddr, vaddr)
    assert fault.ra == machine.symbol("call_site") + 2 or fault.ra == machine.symbol("call_site") + 4


def test_python_mmu_api_and_data_mappings():
    for chip in ALL_CHIPS:
        profile = chips.profile(chip)
        machine = emulator.Machine(profile, flash_image())
        page = profile.mmu_page_size
        scratch = profile.flash_dbus.start + profile.emulator.flash_data_view_from - page
        assert machine.mmu.map(scratch, 0, page, executable=False) == emulator.MMU_OK
        assert machine.read(scratch + 0x8000, 2) == b"\xaa\x50"
        assert machine.mmu.map(scratch, 0, page, executable=False) == emulator.MMU_OVERLAP
        assert machine.mmu.unmap(scratch) == emulator.MMU_OK
        assert machine.mmu.map(profile.flash_ibus.start + APP_SLOT, APP_SLOT, 1) == emulator.MMU_OK
        assert machine.read(profile.flash_ibus.start + APP_SLOT + 8, 10) == b"alpha-slot"
        # another flash page right after it, from another offset: nothing else is mapped there
        assert machine.mmu.map(profile.flash_ibus.start + APP_SLOT + page, 0, page) == emulator.MMU_OK


def test_firmware_outside_the_memory_map_is_refused(build_dir):
    elf = build(build_dir, "esp32c6", "ram_data.c")
    with pytest.raises(emulator.EmulatorError, match="outside"):
        machine_for("esp32c3", elf)  # an esp32c6 image: its SRAM addresses are not esp32c3's


# ---------------------------------------------------------------- PSRAM


@pytest.mark.parametrize("chip", ALL_CHIPS)
def test_psram_at_the_chips_address_read_write_execute(chip):
    """The board's PSRAM at the chip's cached PSRAM address (esp32p4: SOC_EXTRAM_LOW), read, write
    and execute (what runs there: tests/test_psram.py); nothing there on a chip without PSRAM."""
    import unicorn

    profile = chips.profile(chip)
    machine = emulator.Machine(profile)
    regions = {(start, end + 1): prot for start, end, prot in machine.uc.mem_regions()}
    board = profile.emulator.psram
    if profile.psram is None:
        assert board is None
        return
    assert profile.psram.contains(board.start, board.size) and board.start == profile.psram.start
    assert regions[(board.start, board.end)] == unicorn.UC_PROT_ALL
    machine.write(board.end - 4, b"\x01\x02\x03\x04")
    assert machine.read(board.end - 4, 4) == b"\x01\x02\x03\x04"
    assert machine.region_name(board.start + 0x40) == "psram+0x40"
    assert not any(start < profile.psram.end and board.end < end for start, end in regions)
