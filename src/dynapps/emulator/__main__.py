"""Command line: run emulator firmware on a chip's memory map.

    python -m dynapps.emulator --chip esp32c3 --firmware fw.elf [--flash flash.bin]

prints the UART output and exits with the firmware's exit code (124 when stopped by the time or
instruction limit, 125 on a fault, 2 when the machine can't be set up). Needs no SCons.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import chips, errors, idf_versions
from .machine import Machine


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dynapps.emulator",
                                     description="Run emulator firmware on a chip's memory map.")
    parser.add_argument("--chip", required=True, choices=chips.names())
    parser.add_argument("--firmware", required=True, help="firmware ELF")
    parser.add_argument("--flash", help="flash image (offset 0 = flash offset 0)")
    parser.add_argument("--flash-size", type=lambda s: int(s, 0), help="flash chip size (default 4 MiB)")
    parser.add_argument("--idf", choices=list(idf_versions.RELEASES), default=idf_versions.DEFAULT,
                        help="ESP-IDF release whose flash mapping rules the MMU follows (default %(default)s)")
    parser.add_argument("--count", action="store_true", help="count instructions (slow, exact)")
    parser.add_argument("--max-instructions", type=int)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds")
    args = parser.parse_args(argv)
    try:
        image = Path(args.flash).read_bytes() if args.flash else b""
        machine = Machine(chips.profile(args.chip), image, flash_size=args.flash_size, idf=args.idf,
                          count_instructions=args.count, echo=sys.stdout.buffer)
        machine.load_firmware(args.firmware)
    except Exception as error:  # noqa: BLE001 - a bad ELF, flash image or size: one line
        errors.report(error)
        return 2
    result = machine.run(max_instructions=args.max_instructions, timeout_s=args.timeout)
    sys.stdout.flush()
    for fault in result.faults:
        print(f"emulator: {fault}", file=sys.stderr)
    if result.instructions is not None:
        print(f"emulator: {result.instructions} instructions", file=sys.stderr)
        for mark in result.marks:
            print(f"emulator: mark {mark.value} at {mark.instructions}", file=sys.stderr)
    if result.reason == "exit":
        return result.exit_code & 0xFF
    print(f"emulator: stopped ({result.reason}) at pc {machine.pc:#010x}", file=sys.stderr)
    return 124 if result.reason in ("timeout", "instruction_limit") else 125


if __name__ == "__main__":
    sys.exit(main())
