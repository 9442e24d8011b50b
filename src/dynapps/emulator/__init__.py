"""The emulator: a Unicorn RV32 machine with a chip's real memory map, for running the loader
without silicon. One module per piece:

    machine.py          the machine: Unicorn set-up, memory map from the chip profile, firmware
                        loading, run loop, faults, watches
    devices.py          its devices: UART, MMU, SHA-256 engine, control block (register map)
    results.py          what a run produced: RunResult, Fault, Mark, watches, mappings
    firmware_build.py   how the emulator firmware is built (FirmwareBuildSpec, linker script)
    demo_output.py      the demo's output read back: why a run failed, where the apps ran
    __main__.py         the command line, `python -m dynapps.emulator`

Nothing here imports SCons.
"""

from .demo_output import failure, where_apps_ran
from .devices import (EMU_ID, EXIT_PANIC, EXIT_SIGNAL_BASE, EXIT_TRAP_BASE, MMIO_SIZE, MMU_BAD_COMMAND,
                      MMU_BEYOND_FLASH, MMU_ESP_MAP, MMU_ESP_MAP_AT, MMU_MAP_DATA, MMU_MAP_EXEC, MMU_MISALIGNED,
                      MMU_NO_MAP_VIRT, MMU_NO_ROOM, MMU_NOT_MAPPED, MMU_OK, MMU_OUT_OF_WINDOW, MMU_OVERLAP,
                      MMU_PADDR_IN_USE, MMU_PADDR_OVERLAP, MMU_UNMAP, SHA_DIGEST_WORDS, EspMmBlock)
from .firmware_build import FirmwareBuildSpec, build_spec, firmware_linker_script
from .machine import Machine
from .results import DataAccess, DataWatch, EmulatorError, ExecWatch, Fault, Mapping, Mark, RunResult

__all__ = [
    "DataAccess", "DataWatch", "EMU_ID", "EXIT_PANIC", "EXIT_SIGNAL_BASE", "EXIT_TRAP_BASE", "EmulatorError",
    "EspMmBlock", "ExecWatch", "Fault", "FirmwareBuildSpec", "MMIO_SIZE", "MMU_BAD_COMMAND", "MMU_BEYOND_FLASH",
    "MMU_ESP_MAP", "MMU_ESP_MAP_AT", "MMU_MAP_DATA", "MMU_MAP_EXEC", "MMU_MISALIGNED", "MMU_NO_MAP_VIRT",
    "MMU_NO_ROOM", "MMU_NOT_MAPPED", "MMU_OK", "MMU_OUT_OF_WINDOW", "MMU_OVERLAP", "MMU_PADDR_IN_USE",
    "MMU_PADDR_OVERLAP", "MMU_UNMAP", "Machine", "Mapping", "Mark", "RunResult", "SHA_DIGEST_WORDS", "build_spec",
    "failure", "firmware_linker_script", "where_apps_ran",
]
