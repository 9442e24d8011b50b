"""The emulator's CPU (src/dynapps/emulator/machine.py): the FPU where the chip has one, exceptions
delivered to the platform's trap handler, ebreak stopping the run. Test programs: tests/emu_fw/."""

from __future__ import annotations

import pytest

from dynapps import emulator
from emu_support import FPU_CHIPS, NO_FPU_CHIPS, build, build_dir, machine_for  # noqa: F401


@pytest.mark.parametrize("chip", FPU_CHIPS)
def test_fpu_code_runs(build_dir, chip):
    result = machine_for(chip, build(build_dir, chip, "fpu.c")).run()
    assert (result.uart_text, result.exit_code, result.faults) == ("product 3375\n", 0, [])


@pytest.mark.parametrize("chip", NO_FPU_CHIPS)
def test_trap_handler_reports_illegal_instruction(build_dir, chip):
    machine = machine_for(chip, build(build_dir, chip, "illegal.c"))
    result = machine.run()
    site = machine.symbol("bad_site")
    assert result.uart_text == f"before\n\nTRAP mcause=0x00000002 mepc=0x{site:08x} mtval=0xffffffff\n"
    assert result.exit_code == emulator.EXIT_TRAP_BASE | 2
    [fault] = result.faults
    assert (fault.kind, fault.cause, fault.pc, fault.value) == ("exception", 2, site, 0xFFFFFFFF)


@pytest.mark.parametrize("chip", NO_FPU_CHIPS)
def test_fpu_instruction_traps_without_fpu(build_dir, chip):
    machine = machine_for(chip, build(build_dir, chip, "fpu_without_fpu.c"))
    result = machine.run()
    assert result.exit_code == emulator.EXIT_TRAP_BASE | 2
    assert result.faults[0].pc == machine.symbol("fpu_site")


def test_ebreak_stops_the_run(build_dir):
    machine = machine_for("esp32c3", build(build_dir, "esp32c3", "ebreak.c"))
    result = machine.run()
    [fault] = result.faults
    assert (result.reason, fault.kind, fault.pc, fault.detail) == ("fault", "invalid_instruction",
                                                                   machine.symbol("brk"), "ebreak")
