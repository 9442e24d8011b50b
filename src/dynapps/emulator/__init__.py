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

import importlib

# Each name from the module that defines it, imported on first use (PEP 562): the build only
# needs firmware_build, and importing the machine (Unicorn, its devices) costs every `scons` run
# about 30 ms.
_MODULES = {
    "demo_output": ("failure", "where_apps_ran"),
    "devices": ("EMU_ID", "EXIT_PANIC", "EXIT_SIGNAL_BASE", "EXIT_TRAP_BASE", "MMIO_SIZE", "MMU_BAD_COMMAND",
                "MMU_BEYOND_FLASH", "MMU_ESP_MAP", "MMU_ESP_MAP_AT", "MMU_MAP_DATA", "MMU_MAP_EXEC", "MMU_MISALIGNED",
                "MMU_NO_MAP_VIRT", "MMU_NO_ROOM", "MMU_NOT_MAPPED", "MMU_OK", "MMU_OUT_OF_WINDOW", "MMU_OVERLAP",
                "MMU_PADDR_IN_USE", "MMU_PADDR_OVERLAP", "MMU_UNMAP", "SHA_DIGEST_WORDS", "EspMmBlock"),
    "firmware_build": ("FirmwareBuildSpec", "build_spec", "firmware_linker_script"),
    "machine": ("Machine",),
    "results": ("DataAccess", "DataWatch", "EmulatorError", "ExecWatch", "Fault", "Mapping", "Mark", "RunResult"),
}
_MODULE_OF = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
    globals()[name] = value
    return value
