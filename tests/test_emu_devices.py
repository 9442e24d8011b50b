"""The emulator's devices and run control (src/dynapps/emulator/devices.py, machine.py): the
UART and exit codes, time and instruction limits, exact instruction counts and marks, watches,
and the SHA-256 engine. Test programs: tests/emu_fw/."""

from __future__ import annotations

import hashlib
import re

import pytest

from dynapps import chips, emulator
from emu_support import ALL_CHIPS, APP_SLOT, build, build_dir, flash_image, machine_for  # noqa: F401

# ---------------------------------------------------------------- UART, exit code, limits


@pytest.mark.parametrize("chip", ALL_CHIPS)
def test_uart_and_exit_code(build_dir, chip):
    result = machine_for(chip, build(build_dir, chip, "hello.c")).run()
    assert result.uart_text == "hello -42 emu 2.500 00c0ffee\n"
    assert (result.reason, result.exit_code, result.faults) == ("exit", 7, [])
    assert result.instructions is None


def test_negative_exit_code_and_exit_function(build_dir):
    result = machine_for("esp32c6", build(build_dir, "esp32c6", "exit_function.c")).run()
    assert (result.exit_code, result.uart_text) == (-3, "bye\n")


def test_timeout_and_instruction_limit(build_dir):
    elf = build(build_dir, "esp32h2", "spin.c")
    result = machine_for("esp32h2", elf).run(timeout_s=0.2)
    assert (result.reason, result.exit_code) == ("timeout", None)
    counted = machine_for("esp32h2", elf, count_instructions=True).run(max_instructions=5000, timeout_s=20)
    assert (counted.reason, counted.instructions) == ("instruction_limit", 5000)


# ---------------------------------------------------------------- instruction counting


@pytest.mark.parametrize("chip", ALL_CHIPS)
def test_instruction_counting_is_exact_and_repeatable(build_dir, chip):
    elf = build(build_dir, chip, "count.c")
    first = machine_for(chip, elf, count_instructions=True).run()
    second = machine_for(chip, elf, count_instructions=True).run()
    # after mark 1's store: 100 addi, li, 50 x (addi, bnez), li, mark 2's store
    assert first.between_marks(1, 2) == 100 + 1 + 100 + 1 + 1
    assert [m.value for m in first.marks] == [1, 2]
    assert first.instructions == second.instructions and first.marks == second.marks
    assert first.uart_text == second.uart_text
    counter = int(re.search(r"counter (\d+)", first.uart_text).group(1))
    assert 203 < counter < 203 + 20  # the firmware reads the same counter around the block
    uncounted = machine_for(chip, elf).run()
    assert uncounted.instructions is None and "counter 0\n" in uncounted.uart_text
    assert [m.instructions for m in uncounted.marks] == [None, None]


# ---------------------------------------------------------------- watches


def test_watch_exec_and_data(build_dir):
    chip = "esp32c3"
    profile = chips.profile(chip)
    buf = profile.emulator.heap.start
    machine = machine_for(chip, build(build_dir, chip, "watch.c", defines={"BUF": hex(buf)}))
    add3 = machine.symbol("add3")
    watch = machine.watch_exec(add3, add3 + 4)  # first instruction(s) of add3
    data = machine.watch_data(buf, buf + 16)
    result = machine.run()
    assert (result.exit_code, result.faults) == (0, [])
    assert watch.count >= 10 and watch.count % 10 == 0
    assert [(a.write, a.address, a.size, a.value) for a in data.accesses] == [
        (True, buf + 1, 1, 0x5A), (False, buf, 4, 0x5A00)]
    assert all(a.pc for a in data.accesses)


# ---------------------------------------------------------------- SHA-256 engine


@pytest.mark.parametrize("chip", ALL_CHIPS)
def test_sha_engine_digest_equals_hashlib(build_dir, chip):
    elf = build(build_dir, chip, "sha.c", defines={"APP_SLOT": hex(APP_SLOT)})
    machine = machine_for(chip, elf, flash_image(), count_instructions=True)
    profile = chips.profile(chip)  # the two slots, mapped for reading as the apps window would be
    assert machine.mmu.map(profile.flash_dbus.start + APP_SLOT, APP_SLOT, 0x20000, executable=False) == 0
    result = machine.run(timeout_s=60)
    assert (result.exit_code, result.faults) == (0, []), result.uart_text
    lines = re.findall(r"^sha ([0-9a-f]+) (\d+) (\d+) ([0-9a-f]{64})$", result.uart_text, re.M)
    assert len(lines) == 10, result.uart_text
    for address, size, _, digest in lines:
        address, size = int(address, 16), int(size)
        assert digest == hashlib.sha256(machine.read(address, size) if size else b"").hexdigest(), (address, size)
    assert machine.sha.log == [(int(a, 16), int(n)) for a, n, _, _ in lines]
    # a fixed cost per digest whatever the length: one for each alignment of the digest buffer
    costs = {index % 2: set() for index in range(2)}
    for index, (_, _, cost, _) in enumerate(lines):
        costs[index % 2].add(int(cost))
    assert all(len(c) == 1 for c in costs.values()) and max(max(c) for c in costs.values()) < 150, costs


def _sha_fault_cases(chip: str) -> dict:
    p, e = chips.profile(chip), chips.profile(chip).emulator
    cases = {
        "unmapped": (0x10000000, 64),
        "past 4 GiB": (0xFFFFFF00, 0x200),
        "runs off the end of SRAM": (p.dram.end - 16, 32),
        "control block": (e.control, 16),
        "flash data-bus window past the 4 MiB flash": (p.flash_dbus.start + 0x600000, 64),
    }
    if not p.unified_flash_window:
        cases["instruction-bus flash window"] = (p.flash_ibus.start + APP_SLOT, 64)
    if p.i_d_offset and not p.iram_byte_access:
        cases["IRAM alias"] = (e.heap.start + p.i_d_offset, 64)
    return cases


@pytest.mark.parametrize("chip", ALL_CHIPS)
def test_sha_engine_bad_address_is_a_fault(build_dir, chip):
    elf = build(build_dir, chip, "sha_fault.c")
    for name, (address, size) in _sha_fault_cases(chip).items():
        machine = machine_for(chip, elf, b"\xff" * 0x300000)
        machine.write(machine.symbol("sha_source"), address.to_bytes(4, "little"))
        machine.write(machine.symbol("sha_size"), size.to_bytes(4, "little"))
        result = machine.run(timeout_s=20)
        assert result.uart_text == "before\n", (name, result.uart_text)
        assert result.reason == "fault", name
        [fault] = result.faults
        assert (fault.kind, fault.address, fault.size) == ("sha_read", address, size), (name, str(fault))
        assert "SHA-256" in fault.detail and f"{address:#010x}" in str(fault)
        assert machine.sha.log == [(address, size)]
    # the same firmware with a good range runs to the end
    machine = machine_for(chip, elf)
    machine.write(machine.symbol("sha_source"), chips.profile(chip).emulator.heap.start.to_bytes(4, "little"))
    result = machine.run(timeout_s=20)
    assert (result.uart_text, result.exit_code, result.faults) == ("before\nafter\n", 0, [])


def test_sha_refusal_reasons():
    machine = emulator.Machine(chips.profile("esp32c3"), b"")
    p = machine.profile
    assert machine.sha.refusal(p.dram.start, 0x1000) is None
    assert machine.sha.refusal(0x12345678, 0) is None  # nothing to read
    assert "fetches only" in machine.sha.refusal(p.flash_ibus.start, 4)
    assert "IRAM alias" in machine.sha.refusal(p.iram.start, 4)
    assert "nothing is mapped at 0x3fce0000" in machine.sha.refusal(p.dram.end - 4, 8)
    assert "4 GiB" in machine.sha.refusal(0xFFFFFFFC, 8)
    assert "control block" in machine.sha.refusal(machine.emu.control + 0x40, 4)
