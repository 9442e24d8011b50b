"""A Unicorn RV32 machine with a chip's real memory map, for running the loader without silicon.

Everything comes from the chip profile (chips.py): no chip names are tested here.

Memory map
----------
* Internal SRAM: one host buffer, mapped at `profile.dram` (read/write). When
  `profile.i_d_offset` is not 0 (esp32c3) the same buffer is mapped again at `profile.iram`
  (read/write/execute; byte X of the IRAM alias is byte X - i_d_offset of the DRAM alias), so a byte written through the DRAM alias is seen through
  the IRAM alias; the DRAM alias is not executable. When `profile.iram_byte_access` is False a
  memory hook on the IRAM alias stops the run on any data access that is not an aligned 32-bit
  word ("iram_access" fault, with address, size and pc). On chips with one address for both the
  SRAM is mapped once, read/write/execute.
* Flash windows (`flash_ibus`, `flash_dbus`; one window when they are equal):
  - the firmware's own PT_LOAD segments that lie in a window, mapped from the ELF, read-only:
    READ|EXEC in the instruction-bus window, READ in a data-bus-only window. They must end
    below `window.start + flash_data_view_from - mmu_page_size`.
  - **Rule for the data view**: the flash image is visible read-only on the data bus at
    `flash_dbus.start + offset` (identity) for every offset from
    `EmulatorProfile.flash_data_view_from` (1 MiB) up to the end of the flash chip (or the
    window). Below that offset the window belongs to the firmware's own segments, so the two
    never overlap (the firmware links its rodata at the window start, and app slots live at
    higher flash offsets). Flash bytes below 1 MiB (e.g. the partition table at 0x8000) are read
    by asking the MMU for a data mapping; the port uses the page just below the data view
    (`flash_dbus.start + flash_data_view_from - mmu_page_size`) as its scratch page.
  - the instruction-bus window gets pages only through MMU requests from the firmware
    (control block, like esp_mmu_map_virt): flash bytes mapped READ|EXEC at the requested
    address, page aligned (`mmu_page_size`), refused when outside the window, misaligned,
    beyond the flash chip or overlapping an existing mapping. On a unified window an executable
    mapping of a range that the data view already shows at the same (identity) offset is
    allowed: it turns those data-view pages executable until it is unmapped.
  - any store into a flash window stops the run ("flash_write" fault, address and pc); where
    the two windows differ (esp32c3), any load from the instruction-bus window stops it too
    ("ibus_data_read"): on silicon that bus serves instruction fetches only.
* Devices (MMIO, 4 KiB each): a UART at `EmulatorProfile.uart` (a write to offset 0, the real
  UART0 TX FIFO register, outputs one byte; reads return 0) and the control block at
  `EmulatorProfile.control` (registers in firmware/emulator/include/dynapps_emu.h, mirrored
  below as REG_*): exit, benchmark marks, instruction counter, MMU map/unmap, code sync, flash
  size, and a SHA-256 engine (below).
* The SHA-256 engine (control block, like the SHA accelerator ESP-IDF drives through mbedtls):
  the firmware writes a source address to REG_SHA_SRC and a length to REG_SHA_LEN, then any
  value to REG_SHA_START; the device reads those bytes of guest memory and computes their
  digest in Python, and REG_SHA_DIGEST + 4 i (i = 0..7) then read back digest bytes 4 i .. 4 i + 3
  as a little-endian word (memcpy order). It reads what a data load could read: SRAM through its
  data alias (on esp32c3 not through the IRAM alias, which takes words only), the flash data-bus
  window where something is mapped (data view, firmware rodata, MMU mappings); anything else
  (unmapped, a device page, esp32c3's fetch-only instruction bus, a range past 4 GiB) stops the
  run with a "sha_read" fault naming the address. It takes no instructions: the firmware side is a
  fixed 3 register writes and 8 reads per digest (dynapps_emu_sha256), however long the data, as
  with a DMA-fed accelerator (whose real time grows with the length: the instruction count does
  not show it). Every request is logged in Machine.sha_log as (address, length).
* Anything else is unmapped: a fetch, load or store there stops the run with a fault.

CPU
---
Unicorn's RV32 "any" CPU in machine mode. `mstatus.FS` is set before running when
`profile.has_fpu`, so FPU instructions fault as illegal on chips without one. Exceptions the
guest raises (illegal instruction, ecall, ...) are recorded as "exception" faults and delivered
to the firmware's trap handler (mepc, mcause, mtval, mstatus.MPP/MPIE set; pc = mtvec), which
prints them and exits; Unicorn itself does not deliver them. `ebreak` stops the run
("invalid_instruction", Unicorn reports it so). Memory faults stop the run at once without
entering the trap handler.

Unicorn keeps translated code per mapping: code written through the DRAM alias is not seen by
an already-translated IRAM alias. The firmware reports freshly written code with the control
block's SYNC registers (the port does in dynapps_port_sync_code and exec_free).

Instruction counting (`Machine(count_instructions=True)`) uses a code hook on every instruction
(exact and repeatable, a few million instructions per second); without it the machine runs at
full Unicorn speed and the counter register reads 0.

Command line (with src/ on sys.path):
    python -m dynapps.emulator --chip esp32c3 --firmware fw.elf [--flash flash.bin]
prints the UART output and exits with the firmware's exit code.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import chips, errors, toolchain

# ---------------------------------------------------------------- control block (dynapps_emu.h)

REG_EXIT = 0x00
REG_MARK = 0x04
REG_ICOUNT_LO = 0x08
REG_ICOUNT_HI = 0x0C
REG_MMU_VADDR = 0x10
REG_MMU_OFFSET = 0x14
REG_MMU_SIZE = 0x18
REG_MMU_CMD = 0x1C
REG_MMU_STATUS = 0x20
REG_SYNC_ADDR = 0x24
REG_SYNC_SIZE = 0x28
REG_FLASH_SIZE = 0x2C
REG_ID = 0x30
REG_SHA_SRC = 0x34
REG_SHA_LEN = 0x38
REG_SHA_START = 0x3C
REG_SHA_DIGEST = 0x40  # 8 words: 0x40 .. 0x5C
EMU_ID = 0x554D4544
SHA_DIGEST_WORDS = 8

MMU_MAP_EXEC = 1
MMU_MAP_DATA = 2
MMU_UNMAP = 3

MMU_OK = 0
MMU_MISALIGNED = 1
MMU_OUT_OF_WINDOW = 2
MMU_BEYOND_FLASH = 3
MMU_OVERLAP = 4
MMU_NOT_MAPPED = 5
MMU_BAD_COMMAND = 6

EXIT_TRAP_BASE = 0x80
EXIT_PANIC = 0x7F
EXIT_SIGNAL_BASE = 128  # picolibc raise() / abort(): 128 + signal number (abort: 134)

UART_TX_FIFO = 0x00
MMIO_SIZE = 0x1000
DEFAULT_FLASH_SIZE = 4 * 1024 * 1024
DEFAULT_STACK_SIZE = 32 * 1024

MSTATUS_MIE = 1 << 3
MSTATUS_MPIE = 1 << 7
MSTATUS_MPP = 3 << 11
MSTATUS_FS_INITIAL = 1 << 13
MAX_TRAP_DELIVERIES = 8

REPO_ROOT = Path(__file__).resolve().parents[2]
EMULATOR_FIRMWARE_DIR = REPO_ROOT / "firmware" / "emulator"
PORT_SOURCE = REPO_ROOT / "firmware" / "components" / "dynapps" / "port" / "emulator" / "dynapps_port_emulator.c"
INCLUDE_DIRS = (EMULATOR_FIRMWARE_DIR / "include", REPO_ROOT / "firmware" / "components" / "dynapps" / "include")


class EmulatorError(errors.DynappsError):
    """The machine can't be set up as asked (bad ELF, firmware outside the memory map, ...)."""


def _unicorn():
    import unicorn
    import unicorn.riscv_const

    return unicorn, unicorn.riscv_const


def _align_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def _align_down(value: int, alignment: int) -> int:
    return value // alignment * alignment


# ---------------------------------------------------------------- results and observations


@dataclass
class Fault:
    kind: str  # flash_write, iram_access, fetch_unmapped, fetch_protected, read_unmapped,
    #            write_unmapped, read_protected, write_protected, exception,
    #            invalid_instruction, emulator_error, sha_read
    pc: int
    address: int | None = None
    size: int | None = None
    value: int | None = None
    cause: int | None = None  # mcause, for "exception"
    region: str = ""
    detail: str = ""
    ra: int = 0
    sp: int = 0

    def __str__(self) -> str:
        text = f"{self.kind} at pc {self.pc:#010x}"
        if self.cause is not None:
            text += f" mcause {self.cause}"
        if self.address is not None:
            text += f": address {self.address:#010x}"
            if self.region:
                text += f" ({self.region})"
        if self.size is not None:
            text += f", {self.size}-byte access"
        if self.detail:
            text += f" [{self.detail}]"
        return text + f" (ra {self.ra:#010x}, sp {self.sp:#010x})"


@dataclass(frozen=True)
class Mark:
    value: int
    instructions: int | None  # None when the machine does not count


@dataclass(frozen=True)
class DataAccess:
    write: bool
    address: int
    size: int
    value: int
    pc: int


@dataclass
class ExecWatch:
    """Instructions executed in [start, end)."""

    start: int
    end: int
    count: int = 0
    handle: int | None = None


@dataclass
class DataWatch:
    """Data reads and writes in [start, end)."""

    start: int
    end: int
    accesses: list[DataAccess] = field(default_factory=list)
    handle: int | None = None

    @property
    def reads(self) -> list[DataAccess]:
        return [a for a in self.accesses if not a.write]

    @property
    def writes(self) -> list[DataAccess]:
        return [a for a in self.accesses if a.write]


@dataclass
class Mapping:
    start: int
    end: int
    kind: str  # firmware, data_view, mmu_exec, mmu_data, mmu_exec_in_data_view
    flash_offset: int | None
    executable: bool


@dataclass
class RunResult:
    exit_code: int | None  # None: the firmware did not exit
    uart_text: str
    instructions: int | None  # None unless count_instructions
    faults: list[Fault]
    reason: str  # exit, fault, timeout, instruction_limit
    seconds: float
    marks: list[Mark]
    uart_bytes: bytes = b""

    @property
    def ok(self) -> bool:
        return self.reason == "exit" and self.exit_code == 0 and not self.faults

    def between_marks(self, first: int, second: int) -> int:
        """Instructions from the first mark `first` to the next mark `second` after it."""
        for i, mark in enumerate(self.marks):
            if mark.value == first:
                for later in self.marks[i + 1:]:
                    if later.value == second:
                        if mark.instructions is None or later.instructions is None:
                            raise EmulatorError("marks carry no counts: Machine(count_instructions=True)")
                        return later.instructions - mark.instructions
        raise EmulatorError(f"no mark {first} followed by mark {second}")


# ---------------------------------------------------------------- the machine


class Machine:
    def __init__(self, profile: chips.ChipProfile, flash_image: bytes = b"", *, flash_size: int | None = None,
                 count_instructions: bool = False, echo=None):
        """`echo`: a binary stream that gets every UART byte as it is written (None: keep only)."""
        self._U, self._R = _unicorn()
        U = self._U
        self.profile = profile
        self.emu = profile.emulator
        self.page = profile.mmu_page_size
        self.count_instructions = count_instructions
        self._echo = echo
        self._check_profile()

        image = bytes(flash_image)
        if flash_size is None:
            flash_size = max(DEFAULT_FLASH_SIZE, _align_up(len(image), self.page))
        if flash_size % self.page or len(image) > flash_size:
            raise EmulatorError(f"flash size {flash_size:#x} must be a multiple of {self.page:#x} and hold the "
                                f"{len(image):#x}-byte image")
        self.flash_size = flash_size
        self._flash = ctypes.create_string_buffer(b"\xff" * flash_size, flash_size)
        ctypes.memmove(self._flash, image, len(image))

        self.uc = U.Uc(U.UC_ARCH_RISCV, U.UC_MODE_RISCV32)
        self.mappings: list[Mapping] = []
        self.faults: list[Fault] = []
        self.marks: list[Mark] = []
        self.mmu_log: list[tuple[int, int, int, int, int]] = []  # (command, vaddr, offset, size, status)
        self.sha_log: list[tuple[int, int]] = []  # (address, length) of every SHA-256 request
        self._sha_digest = bytes(32)
        self.symbols: dict[str, int] = {}
        self.entry: int | None = None
        self._uart = bytearray()
        self._exit_code: int | None = None
        self._exit_icount: int | None = None
        self._icount = 0
        self._icount_hi_latch = 0
        self._limit: int | None = None
        self._limit_hit = False
        self._trap_deliveries = 0
        self._memory_fault_reported = False
        self._regs = {REG_MMU_VADDR: 0, REG_MMU_OFFSET: 0, REG_MMU_SIZE: 0, REG_MMU_STATUS: 0, REG_SYNC_ADDR: 0,
                      REG_SHA_SRC: 0, REG_SHA_LEN: 0}
        self._finished = False
        self._hooks: list[int] = []

        self._map_sram()
        self._map_flash_data_view()
        self._map_devices()
        self._add_fault_hooks()
        if count_instructions:
            self._hooks.append(self.uc.hook_add(U.UC_HOOK_CODE, self._on_count))

    # ------------------------------------------------------------ set-up

    def _check_profile(self) -> None:
        p, e = self.profile, self.emu
        for name in ("firmware_ram", "heap", "data_arena"):
            region = getattr(e, name)
            if not (p.dram.contains(region.start, region.size)):
                raise EmulatorError(f"{p.name}: emulator {name} {region.start:#x}-{region.end:#x} is not in dram")
        for name in ("uart", "control"):
            if getattr(e, name) % MMIO_SIZE:
                raise EmulatorError(f"{p.name}: emulator {name} base must be 4 KiB aligned")
        if e.flash_data_view_from % self.page or e.flash_data_view_from < 2 * self.page:
            raise EmulatorError(f"{p.name}: flash_data_view_from must be a multiple of the MMU page, >= 2 pages")

    def _map_sram(self) -> None:
        """One host buffer for the SRAM, in data-bus addresses [lo, hi): the union of `dram` and
        `iram - i_d_offset` (the two ranges need not coincide)."""
        U, p = self._U, self.profile
        off = p.i_d_offset
        self._sram_lo = min(p.dram.start, p.iram.start - off)
        self._sram_hi = max(p.dram.end, p.iram.end - off)
        self._sram = ctypes.create_string_buffer(self._sram_hi - self._sram_lo)
        base = ctypes.addressof(self._sram)
        if off:
            self.uc.mem_map_ptr(p.dram.start, p.dram.size, U.UC_PROT_READ | U.UC_PROT_WRITE,
                                base + p.dram.start - self._sram_lo)
            self.uc.mem_map_ptr(p.iram.start, p.iram.size, U.UC_PROT_ALL, base + p.iram.start - off - self._sram_lo)
        else:
            self.uc.mem_map_ptr(self._sram_lo, self._sram_hi - self._sram_lo, U.UC_PROT_ALL, base)
        if not p.iram_byte_access:
            self._hooks.append(self.uc.hook_add(U.UC_HOOK_MEM_READ | U.UC_HOOK_MEM_WRITE, self._on_iram_access,
                                                None, p.iram.start, p.iram.end - 1))

    def _map_flash_data_view(self) -> None:
        window = self.profile.flash_dbus
        first = self.emu.flash_data_view_from
        last = min(self.flash_size, window.size)
        if last > first:
            self._map_flash(window.start + first, last - first, first, executable=False, kind="data_view")

    def _map_flash(self, vaddr: int, size: int, offset: int, executable: bool, kind: str) -> None:
        U = self._U
        perms = U.UC_PROT_READ | (U.UC_PROT_EXEC if executable else 0)
        self.uc.mem_map_ptr(vaddr, size, perms, ctypes.addressof(self._flash) + offset)
        self.mappings.append(Mapping(vaddr, vaddr + size, kind, offset, executable))

    def _map_devices(self) -> None:
        self.uc.mmio_map(self.emu.uart, MMIO_SIZE, self._uart_read, None, self._uart_write, None)
        self.uc.mmio_map(self.emu.control, MMIO_SIZE, self._control_read, None, self._control_write, None)

    def _add_fault_hooks(self) -> None:
        U = self._U
        invalid = (U.UC_HOOK_MEM_READ_UNMAPPED | U.UC_HOOK_MEM_WRITE_UNMAPPED | U.UC_HOOK_MEM_FETCH_UNMAPPED
                   | U.UC_HOOK_MEM_READ_PROT | U.UC_HOOK_MEM_WRITE_PROT | U.UC_HOOK_MEM_FETCH_PROT)
        self._hooks.append(self.uc.hook_add(invalid, self._on_invalid_memory))
        self._hooks.append(self.uc.hook_add(U.UC_HOOK_INTR, self._on_exception))
        window = self.profile.flash_ibus
        if not self.profile.unified_flash_window:  # esp32c3: the instruction bus serves fetches only
            self._hooks.append(self.uc.hook_add(U.UC_HOOK_MEM_READ, self._on_ibus_data_read, None,
                                                window.start, window.end - 1))

    # ------------------------------------------------------------ firmware

    def load_firmware(self, elf_path) -> int:
        """Map the firmware ELF's PT_LOAD segments; returns the entry point."""
        from elftools.common.exceptions import ELFError

        try:
            return self._load_firmware(elf_path)
        except ELFError as error:
            raise EmulatorError(f"{elf_path}: not a valid ELF file ({error})") from None

    def _load_firmware(self, elf_path) -> int:
        from elftools.elf.elffile import ELFFile

        if self.entry is not None:
            raise EmulatorError("firmware already loaded")
        p = self.profile
        flash_pieces: dict[str, list[tuple[int, bytes]]] = {}
        with open(elf_path, "rb") as stream:
            elf = ELFFile(stream)
            if elf.elfclass != 32 or elf["e_machine"] != "EM_RISCV":
                raise EmulatorError(f"{elf_path}: not an RV32 ELF")
            for segment in elf.iter_segments():
                if segment["p_type"] != "PT_LOAD" or segment["p_memsz"] == 0:
                    continue
                address, memsz = segment["p_vaddr"], segment["p_memsz"]
                data = segment.data() + bytes(memsz - segment["p_filesz"])
                if len(data) != memsz:
                    raise EmulatorError(f"{elf_path}: segment {address:#x} is cut short: the file is truncated")
                if p.dram.contains(address, memsz) or p.iram.contains(address, memsz):
                    at = (address if p.dram.contains(address, memsz) else p.dram_address(address)) - self._sram_lo
                    self._sram[at:at + memsz] = data
                elif p.flash_ibus.contains(address, memsz):
                    flash_pieces.setdefault("ibus", []).append((address, data))
                elif p.flash_dbus.contains(address, memsz):
                    flash_pieces.setdefault("dbus", []).append((address, data))
                else:
                    raise EmulatorError(f"{elf_path}: segment {address:#x}+{memsz:#x} is outside the {p.name} "
                                        "SRAM and flash windows")
            symtab = elf.get_section_by_name(".symtab")
            if symtab:
                for symbol in symtab.iter_symbols():
                    if symbol.name and symbol["st_shndx"] != "SHN_UNDEF":
                        self.symbols.setdefault(symbol.name, symbol["st_value"])
            self.entry = elf["e_entry"]
        for bus, pieces in flash_pieces.items():
            window = p.flash_ibus if bus == "ibus" else p.flash_dbus
            self._map_firmware_flash(window, bus == "ibus", pieces, elf_path)
        return self.entry

    def _map_firmware_flash(self, window, executable: bool, pieces, elf_path) -> None:
        limit = window.start + self.profile.emulator_firmware_flash_size
        start = _align_down(min(a for a, _ in pieces), self.page)
        end = _align_up(max(a + len(d) for a, d in pieces), self.page)
        if end > limit:
            raise EmulatorError(f"{elf_path}: firmware flash segments end at {end:#x}, above {limit:#x} where the "
                                "emulator's scratch page and flash data view begin (EmulatorProfile."
                                "flash_data_view_from)")
        U = self._U
        self.uc.mem_map(start, end - start, U.UC_PROT_READ | (U.UC_PROT_EXEC if executable else 0))
        for address, data in pieces:
            self.uc.mem_write(address, data)
        self.mappings.append(Mapping(start, end, "firmware", None, executable))

    def symbol(self, name: str) -> int:
        try:
            return self.symbols[name]
        except KeyError:
            raise EmulatorError(f"no symbol {name} in the firmware") from None

    # ------------------------------------------------------------ running

    def run(self, max_instructions: int | None = None, timeout_s: float = 10.0) -> RunResult:
        if self.entry is None:
            raise EmulatorError("load_firmware() first")
        if self._finished:
            raise EmulatorError("the machine has run already")
        self._finished = True
        U, R = self._U, self._R
        if self.profile.has_fpu:
            self.uc.reg_write(R.UC_RISCV_REG_MSTATUS, self.uc.reg_read(R.UC_RISCV_REG_MSTATUS) | MSTATUS_FS_INITIAL)
        unicorn_count = 0
        if max_instructions is not None:
            if self.count_instructions:
                self._limit = max_instructions
            else:
                unicorn_count = max_instructions
        started = time.monotonic()
        try:
            self.uc.emu_start(self.entry, 0xFFFFFFFF, timeout=int(timeout_s * 1_000_000), count=unicorn_count)
        except U.UcError as error:
            if not self._memory_fault_reported:  # else the hook recorded it already
                self._fault_from_error(error)
        seconds = time.monotonic() - started
        if self._echo is not None:
            self._echo.flush()
        if self._exit_code is not None:
            reason = "exit"
        elif self.faults:
            reason = "fault"
        elif self._limit_hit or (unicorn_count and seconds < timeout_s * 0.9):
            reason = "instruction_limit"
        else:
            reason = "timeout"
        instructions = None
        if self.count_instructions:
            instructions = self._exit_icount if self._exit_icount is not None else self._icount
        return RunResult(self._exit_code, self.uart_text, instructions, list(self.faults), reason, seconds,
                         list(self.marks), bytes(self._uart))

    @property
    def uart_text(self) -> str:
        return self._uart.decode("utf-8", errors="replace")

    # ------------------------------------------------------------ memory access for tests

    def read(self, address: int, size: int) -> bytes:
        return bytes(self.uc.mem_read(address, size))

    def read_u32(self, address: int) -> int:
        return int.from_bytes(self.read(address, 4), "little")

    def write(self, address: int, data: bytes) -> None:
        self.uc.mem_write(address, bytes(data))

    def region_name(self, address: int) -> str:
        p, e = self.profile, self.emu
        named = [("uart", e.uart, e.uart + MMIO_SIZE), ("control", e.control, e.control + MMIO_SIZE)]
        if p.unified_flash_window:
            named.append(("flash window", p.flash_ibus.start, p.flash_ibus.end))
        else:
            named += [("flash_ibus", p.flash_ibus.start, p.flash_ibus.end),
                      ("flash_dbus", p.flash_dbus.start, p.flash_dbus.end)]
        if p.i_d_offset:
            named += [("iram", p.iram.start, p.iram.end), ("dram", p.dram.start, p.dram.end)]
        else:
            named.append(("sram", p.dram.start, p.dram.end))
        for name, start, end in named:
            if start <= address < end:
                return f"{name}+{address - start:#x}"
        return "unmapped"

    def in_flash_window(self, address: int) -> bool:
        p = self.profile
        return p.flash_ibus.contains(address) or p.flash_dbus.contains(address)

    # ------------------------------------------------------------ observability

    def watch_exec(self, start: int, end: int) -> ExecWatch:
        """Count instructions executed in [start, end) (a ranged code hook: only that range slows)."""
        watch = ExecWatch(start, end)

        def on_code(uc, address, size, _):
            watch.count += 1

        watch.handle = self.uc.hook_add(self._U.UC_HOOK_CODE, on_code, None, start, end - 1)
        return watch

    def watch_data(self, start: int, end: int) -> DataWatch:
        """Record every data read and write in [start, end) with size, value and pc."""
        watch = DataWatch(start, end)
        U, R = self._U, self._R

        def on_access(uc, access, address, size, value, _):
            write = access == U.UC_MEM_WRITE
            if not write:
                value = int.from_bytes(uc.mem_read(address, size), "little")
            watch.accesses.append(DataAccess(write, address, size, value, uc.reg_read(R.UC_RISCV_REG_PC)))

        watch.handle = self.uc.hook_add(U.UC_HOOK_MEM_READ | U.UC_HOOK_MEM_WRITE, on_access, None, start, end - 1)
        return watch

    def unwatch(self, watch) -> None:
        if watch.handle is not None:
            self.uc.hook_del(watch.handle)
            watch.handle = None

    # ------------------------------------------------------------ MMU

    def mmu_map(self, vaddr: int, flash_offset: int, size: int, executable: bool = True) -> int:
        """Map flash bytes at vaddr (instruction bus READ|EXEC, or data bus READ); MMU_* status."""
        U, p = self._U, self.profile
        window = p.flash_ibus if executable else p.flash_dbus
        if size <= 0:
            return MMU_BAD_COMMAND
        if vaddr % self.page or flash_offset % self.page:
            return MMU_MISALIGNED
        size = _align_up(size, self.page)
        if not window.contains(vaddr, size):
            return MMU_OUT_OF_WINDOW
        if flash_offset + size > self.flash_size:
            return MMU_BEYOND_FLASH
        overlapping = [m for m in self.mappings if m.start < vaddr + size and vaddr < m.end]
        if overlapping:
            view = overlapping[0]
            if (executable and len(overlapping) == 1 and view.kind == "data_view"
                    and view.start <= vaddr and vaddr + size <= view.end
                    and vaddr - view.start == flash_offset - view.flash_offset):
                self.uc.mem_protect(vaddr, size, U.UC_PROT_READ | U.UC_PROT_EXEC)
                self.mappings.append(Mapping(vaddr, vaddr + size, "mmu_exec_in_data_view", flash_offset, True))
                self.uc.ctl_remove_cache(vaddr, vaddr + size)
                return MMU_OK
            return MMU_OVERLAP
        self._map_flash(vaddr, size, flash_offset, executable, "mmu_exec" if executable else "mmu_data")
        self.uc.ctl_remove_cache(vaddr, vaddr + size)
        return MMU_OK

    def mmu_unmap(self, vaddr: int) -> int:
        U = self._U
        for mapping in self.mappings:
            if mapping.start == vaddr and mapping.kind.startswith("mmu_"):
                size = mapping.end - mapping.start
                if mapping.kind == "mmu_exec_in_data_view":
                    self.uc.mem_protect(vaddr, size, U.UC_PROT_READ)
                else:
                    self.uc.mem_unmap(vaddr, size)
                self.uc.ctl_remove_cache(vaddr, vaddr + size)
                self.mappings.remove(mapping)
                return MMU_OK
        return MMU_NOT_MAPPED

    def sync_code(self, address: int, size: int) -> None:
        """Drop Unicorn's translations of [address, address + size) through both SRAM aliases."""
        if size <= 0:
            return
        p = self.profile
        ranges = [(address, address + size)]
        if p.i_d_offset:
            if p.iram.contains(address):
                ranges.append((p.dram_address(address), p.dram_address(address) + size))
            elif p.dram.contains(address):
                ranges.append((p.iram_address(address), p.iram_address(address) + size))
        for start, end in ranges:
            self.uc.ctl_remove_cache(start & 0xFFFFFFFF, min(end, 0x1_0000_0000))

    # ------------------------------------------------------------ devices

    def _uart_read(self, uc, offset, size, _):
        return 0  # TX FIFO empty, nothing received

    def _uart_write(self, uc, offset, size, value, _):
        if offset == UART_TX_FIFO:
            self._uart.append(value & 0xFF)
            if self._echo is not None:
                self._echo.write(bytes([value & 0xFF]))
                if value & 0xFF == 0x0A:
                    self._echo.flush()

    def _control_read(self, uc, offset, size, _):
        if offset == REG_ICOUNT_LO:
            count = self._icount if self.count_instructions else 0
            self._icount_hi_latch = count >> 32
            return count & 0xFFFFFFFF
        if offset == REG_ICOUNT_HI:
            return self._icount_hi_latch
        if offset == REG_FLASH_SIZE:
            return self.flash_size
        if offset == REG_ID:
            return EMU_ID
        if REG_SHA_DIGEST <= offset < REG_SHA_DIGEST + 4 * SHA_DIGEST_WORDS:
            at = offset - REG_SHA_DIGEST
            return int.from_bytes(self._sha_digest[at:at + 4], "little")
        return self._regs.get(offset, 0)

    def _control_write(self, uc, offset, size, value, _):
        if offset == REG_EXIT:
            self._exit_code = value - (1 << 32) if value & 0x80000000 else value
            self._exit_icount = self._icount if self.count_instructions else None
            uc.emu_stop()
        elif offset == REG_MARK:
            self.marks.append(Mark(value, self._icount if self.count_instructions else None))
        elif offset == REG_MMU_CMD:
            vaddr, flash_offset, length = (self._regs[REG_MMU_VADDR], self._regs[REG_MMU_OFFSET],
                                           self._regs[REG_MMU_SIZE])
            if value in (MMU_MAP_EXEC, MMU_MAP_DATA):
                status = self.mmu_map(vaddr, flash_offset, length, executable=value == MMU_MAP_EXEC)
            elif value == MMU_UNMAP:
                status = self.mmu_unmap(vaddr)
            else:
                status = MMU_BAD_COMMAND
            self._regs[REG_MMU_STATUS] = status
            self.mmu_log.append((value, vaddr, flash_offset, length, status))
        elif offset == REG_SYNC_SIZE:
            self.sync_code(self._regs[REG_SYNC_ADDR], value)
        elif offset == REG_SHA_START:
            self._sha_start(uc)
        elif offset in (REG_MMU_VADDR, REG_MMU_OFFSET, REG_MMU_SIZE, REG_SYNC_ADDR, REG_SHA_SRC, REG_SHA_LEN):
            self._regs[offset] = value

    def sha_refusal(self, address: int, size: int) -> str | None:
        """Why the SHA engine can't read [address, address + size), or None if it can."""
        if size == 0:
            return None
        end = address + size
        if end > 1 << 32:
            return "the range runs past 4 GiB"
        p, e = self.profile, self.emu
        for name, start in (("uart", e.uart), ("control block", e.control)):
            if address < start + MMIO_SIZE and start < end:
                return f"the range overlaps the {name} page"
        if not p.unified_flash_window and address < p.flash_ibus.end and p.flash_ibus.start < end:
            return "the instruction-bus flash window serves fetches only"
        if p.iram_alias_words_only and address < p.iram.end and p.iram.start < end:
            return "the IRAM alias takes 32-bit word accesses only; read through the DRAM alias"
        covered = address
        for start, last, perms in sorted(self.uc.mem_regions()):
            if start <= covered <= last:
                if not perms & self._U.UC_PROT_READ:
                    return f"{covered:#010x} is not readable"
                covered = last + 1
                if covered >= end:
                    return None
        return f"nothing is mapped at {covered:#010x}"

    def _sha_start(self, uc) -> None:
        address, size = self._regs[REG_SHA_SRC], self._regs[REG_SHA_LEN]
        self.sha_log.append((address, size))
        refusal = self.sha_refusal(address, size)
        if refusal is not None:
            self._fault("sha_read", uc.reg_read(self._R.UC_RISCV_REG_PC), address=address, size=size,
                        detail=f"SHA-256 engine: {refusal}")
            self._memory_fault_reported = True
            uc.emu_stop()
            return
        data = bytes(uc.mem_read(address, size)) if size else b""
        self._sha_digest = hashlib.sha256(data).digest()

    # ------------------------------------------------------------ hooks

    def _on_count(self, uc, address, size, _):
        self._icount += 1
        if self._limit is not None and self._icount > self._limit:
            self._icount = self._limit
            self._limit_hit = True
            uc.emu_stop()

    def _fault(self, kind: str, pc: int, **fields) -> Fault:
        R = self._R
        address = fields.get("address")
        fault = Fault(kind, pc, region=self.region_name(address) if address is not None else "",
                      ra=self.uc.reg_read(R.UC_RISCV_REG_RA), sp=self.uc.reg_read(R.UC_RISCV_REG_SP), **fields)
        self.faults.append(fault)
        return fault

    def _on_iram_access(self, uc, access, address, size, value, _):
        if size != 4 or address % 4:
            write = access == self._U.UC_MEM_WRITE
            self._fault("iram_access", uc.reg_read(self._R.UC_RISCV_REG_PC), address=address, size=size,
                        value=value if write else None,
                        detail=f"{'store' if write else 'load'} of {size} byte(s); the IRAM alias takes aligned "
                               "32-bit words only")
            uc.emu_stop()

    def _on_ibus_data_read(self, uc, access, address, size, value, _):
        self._fault("ibus_data_read", uc.reg_read(self._R.UC_RISCV_REG_PC), address=address, size=size,
                    detail="a load from the instruction-bus flash window; data must be read through the "
                           "data-bus window")
        uc.emu_stop()

    def _on_invalid_memory(self, uc, access, address, size, value, _):
        U = self._U
        kinds = {U.UC_MEM_READ_UNMAPPED: "read_unmapped", U.UC_MEM_WRITE_UNMAPPED: "write_unmapped",
                 U.UC_MEM_FETCH_UNMAPPED: "fetch_unmapped", U.UC_MEM_READ_PROT: "read_protected",
                 U.UC_MEM_WRITE_PROT: "write_protected", U.UC_MEM_FETCH_PROT: "fetch_protected"}
        kind = kinds.get(access, f"memory_{access}")
        write = access in (U.UC_MEM_WRITE_UNMAPPED, U.UC_MEM_WRITE_PROT)
        if write and self.in_flash_window(address):
            kind = "flash_write"
        self._fault(kind, uc.reg_read(self._R.UC_RISCV_REG_PC), address=address, size=size,
                    value=value if write else None)
        self._memory_fault_reported = True
        return False

    def _on_exception(self, uc, intno, _):
        R = self._R
        pc = (uc.reg_read(R.UC_RISCV_REG_PC) - 4) & 0xFFFFFFFF  # Unicorn has stepped past it by 4
        cause = intno
        if cause == 8:  # environment call: QEMU numbers it from U mode, mcause says the mode
            cause = 8 + uc.reg_read(R.UC_RISCV_REG_PRIV)
        tval = 0
        if cause == 2:  # illegal instruction: mtval holds its bits
            try:
                low = int.from_bytes(uc.mem_read(pc, 2), "little")
                tval = low if low & 3 != 3 else int.from_bytes(uc.mem_read(pc, 4), "little")
            except self._U.UcError:
                tval = 0
        names = {0: "instruction address misaligned", 2: "illegal instruction", 3: "breakpoint",
                 4: "load address misaligned", 6: "store address misaligned", 8: "ecall from U-mode",
                 11: "ecall from M-mode"}
        self._fault("exception", pc, cause=cause, value=tval, detail=names.get(cause, ""))
        mtvec = uc.reg_read(R.UC_RISCV_REG_MTVEC)
        self._trap_deliveries += 1
        if mtvec == 0 or self._trap_deliveries > MAX_TRAP_DELIVERIES:
            uc.emu_stop()
            return
        mstatus = uc.reg_read(R.UC_RISCV_REG_MSTATUS)
        mpie = MSTATUS_MPIE if mstatus & MSTATUS_MIE else 0
        mstatus = (mstatus & ~(MSTATUS_MIE | MSTATUS_MPIE)) | mpie | MSTATUS_MPP
        uc.reg_write(R.UC_RISCV_REG_MSTATUS, mstatus)
        uc.reg_write(R.UC_RISCV_REG_MEPC, pc)
        uc.reg_write(R.UC_RISCV_REG_MCAUSE, cause)
        uc.reg_write(R.UC_RISCV_REG_MTVAL, tval)
        uc.reg_write(R.UC_RISCV_REG_PC, mtvec & ~3)

    def _fault_from_error(self, error) -> None:
        U, R = self._U, self._R
        pc = self.uc.reg_read(R.UC_RISCV_REG_PC)
        if error.errno == U.UC_ERR_INSN_INVALID:
            try:
                low = int.from_bytes(self.uc.mem_read(pc, 2), "little")
                bits = low if low & 3 != 3 else int.from_bytes(self.uc.mem_read(pc, 4), "little")
            except U.UcError:
                bits = None
            detail = "ebreak" if bits in (0x9002, 0x00100073) else "Unicorn could not execute it"
            self._fault("invalid_instruction", pc, value=bits, detail=detail)
        else:
            self._fault("emulator_error", pc, detail=str(error))


# ---------------------------------------------------------------- building the emulator firmware


def firmware_defines(profile: chips.ChipProfile) -> dict[str, int]:
    e, p = profile.emulator, profile
    return {
        "DYNAPPS_CHIP_ID": p.chip_id,  # the loader core checks images against it
        "DYNAPPS_EMU_UART_BASE": e.uart,
        "DYNAPPS_EMU_CTRL_BASE": e.control,
        "DYNAPPS_EMU_I_D_OFFSET": p.i_d_offset,
        "DYNAPPS_EMU_FLASH_IBUS_BASE": p.flash_ibus.start,
        "DYNAPPS_EMU_FLASH_IBUS_SIZE": p.flash_ibus.size,
        "DYNAPPS_EMU_FLASH_DBUS_BASE": p.flash_dbus.start,
        "DYNAPPS_EMU_FLASH_DBUS_SIZE": p.flash_dbus.size,
        "DYNAPPS_EMU_FLASH_DATA_VIEW_FROM": e.flash_data_view_from,
        "DYNAPPS_EMU_FLASH_SCRATCH_VADDR": p.flash_scratch_vaddr,
        "DYNAPPS_EMU_MMU_PAGE_SIZE": p.mmu_page_size,
        "DYNAPPS_EMU_DATA_ARENA_SIZE": e.data_arena.size,
    }


def firmware_linker_script(profile: chips.ChipProfile, stack_size: int = DEFAULT_STACK_SIZE) -> str:
    """Linker script of the emulator firmware for `profile` (text for a file passed with -T)."""
    p, e = profile, profile.emulator
    limit = p.emulator_firmware_flash_size
    rodata = "fw_text" if p.unified_flash_window else "fw_rodata"
    rodata_memory = "" if p.unified_flash_window else (
        f"  fw_rodata (r)  : ORIGIN = {p.flash_dbus.start:#010x}, LENGTH = {limit:#x}\n")
    return f"""/* Emulator firmware for {p.name}: generated by dynapps.emulator.firmware_linker_script. */
OUTPUT_ARCH(riscv)
ENTRY(_start)

MEMORY
{{
  fw_text (rx)   : ORIGIN = {p.flash_ibus.start:#010x}, LENGTH = {limit:#x}
{rodata_memory}  fw_ram (rw)    : ORIGIN = {e.firmware_ram.start:#010x}, LENGTH = {e.firmware_ram.size:#x}
  arena (rw)     : ORIGIN = {e.data_arena.start:#010x}, LENGTH = {e.data_arena.size:#x}
}}

SECTIONS
{{
  .text : ALIGN(4)
  {{
    KEEP(*(.text.dynapps_emu_start))
    *(.text.unlikely .text.unlikely.*)
    *(.text.startup .text.startup.*)
    *(.text .text.*)
    *(.gnu.linkonce.t.*)
  }} > fw_text

  .rodata : ALIGN(8)
  {{
    *(.rodata .rodata.*)
    *(.gnu.linkonce.r.*)
    *(.srodata.cst16) *(.srodata.cst8) *(.srodata.cst4) *(.srodata.cst2)
    *(.srodata .srodata.*)
    *(.sdata2 .sdata2.*)
    *(.data.rel.ro .data.rel.ro.*)
    . = ALIGN(4);
    PROVIDE_HIDDEN(__preinit_array_start = .);
    KEEP(*(.preinit_array))
    PROVIDE_HIDDEN(__preinit_array_end = .);
    PROVIDE_HIDDEN(__init_array_start = .);
    KEEP(*(SORT_BY_INIT_PRIORITY(.init_array.*) SORT_BY_INIT_PRIORITY(.ctors.*)))
    KEEP(*(.init_array .ctors))
    PROVIDE_HIDDEN(__init_array_end = .);
    PROVIDE_HIDDEN(__fini_array_start = .);
    KEEP(*(SORT_BY_INIT_PRIORITY(.fini_array.*) SORT_BY_INIT_PRIORITY(.dtors.*)))
    KEEP(*(.fini_array .dtors))
    PROVIDE_HIDDEN(__fini_array_end = .);
  }} > {rodata}

  /* RAM: loaded in place by the emulator (load address = run address). */
  .data : ALIGN(8)
  {{
    __data_start = .;
    *(.data .data.*)
    *(.gnu.linkonce.d.*)
    . = ALIGN(8);
    PROVIDE(__global_pointer$ = . + 0x800);
    *(.sdata .sdata.* .gnu.linkonce.s.*)
  }} > fw_ram
  __data_source = LOADADDR(.data);

  /* TLS template used in place as the only thread's block (picolibc keeps errno there). */
  .tdata : ALIGN(8)
  {{
    *(.tdata .tdata.* .gnu.linkonce.td.*)
  }} > fw_ram
  __data_end = .;
  __tls_base = ADDR(.tdata);
  .tbss : ALIGN(8)
  {{
    *(.tbss .tbss.* .gnu.linkonce.tb.*)
    *(.tcommon)
  }} > fw_ram
  __bss_start = ADDR(.tbss);
  PROVIDE(__tls_end = ADDR(.tbss) + SIZEOF(.tbss));
  PROVIDE(__tls_size = __tls_end - __tls_base);
  PROVIDE(__tls_align = MAX(ALIGNOF(.tdata), ALIGNOF(.tbss)));
  PROVIDE(__tdata_size = SIZEOF(.tdata));
  PROVIDE(__tbss_size = SIZEOF(.tbss));
  PROVIDE(__tbss_offset = ADDR(.tbss) - ADDR(.tdata));
  .tbss_space (NOLOAD) :
  {{
    . = ADDR(.tbss) + SIZEOF(.tbss);
  }} > fw_ram

  .bss (NOLOAD) : ALIGN(8)
  {{
    *(.sbss .sbss.* .gnu.linkonce.sb.*)
    *(.bss .bss.* .gnu.linkonce.b.*)
    *(COMMON)
    . = ALIGN(8);
    __bss_end = .;
  }} > fw_ram
  PROVIDE(end = __bss_end);
  PROVIDE(_end = __bss_end);

  /* picolibc's own malloc (sbrk) gets what lies between .bss and the stack. */
  __stack_top = ORIGIN(fw_ram) + LENGTH(fw_ram);
  __stack_size = {stack_size:#x};
  __heap_start = ALIGN(__bss_end, 16);
  __heap_end = __stack_top - __stack_size;
  ASSERT(__heap_start <= __heap_end, "emulator firmware: data + bss + stack do not fit EmulatorProfile.firmware_ram")

  /* The XIP apps' data arena (the port defines dynapps_data_arena in this section). */
  .dynapps_data_arena (NOLOAD) : ALIGN(16)
  {{
    KEEP(*(.dynapps_data_arena))
  }} > arena
  dynapps_data_arena_end = ORIGIN(arena) + LENGTH(arena);

  /* The emulator port's heap (EmulatorProfile.heap). */
  dynapps_emu_heap_start = {e.heap.start:#010x};
  dynapps_emu_heap_end = {e.heap.end:#010x};

  /DISCARD/ : {{ *(.note .note.*) *(.eh_frame .eh_frame.*) }}
}}
"""


def firmware_link_spec(profile: chips.ChipProfile, linker_script_path=None,
                       stack_size: int = DEFAULT_STACK_SIZE) -> dict:
    """How to build the emulator firmware's platform part for `profile` with Debian's
    riscv64-unknown-elf-gcc + picolibc.

    Returns {"cflags", "ldflags", "linker_script", "linker_script_path", "sources",
    "platform_sources", "port_sources", "include_dirs", "defines"}:
      cflags       for every C and .S file of the firmware (arch, picolibc, -D, -I)
      ldflags      for the final link; includes -T<path> when `linker_script_path` is given
                   (the script is then written there), else add -T yourself
      linker_script  the script text
      sources      platform_sources (start-up, stdio/exit/panic) + port_sources (the emulator
                   port), absolute paths
      defines      the -D values in cflags, by name (also usable from .S files)
    The loader core (src/), the firmware main and the export table are the caller's.
    """
    defines = firmware_defines(profile)
    arch = toolchain.debian_arch_flags(profile)
    cflags = arch + ["--specs=picolibc.specs", "-ffunction-sections", "-fdata-sections"]
    cflags += [f"-D{name}={value:#x}" for name, value in defines.items()]
    cflags += [f"-I{directory}" for directory in INCLUDE_DIRS]
    ldflags = arch + ["--specs=picolibc.specs", "-nostartfiles", "-Wl,--gc-sections"]
    script = firmware_linker_script(profile, stack_size)
    platform = [str(EMULATOR_FIRMWARE_DIR / "start.S"), str(EMULATOR_FIRMWARE_DIR / "emu_platform.c")]
    path = None
    if linker_script_path is not None:
        path = Path(linker_script_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != script:
            path.write_text(script)
        ldflags.append(f"-T{path}")
    return {
        "cflags": cflags,
        "ldflags": ldflags,
        "linker_script": script,
        "linker_script_path": str(path) if path else None,
        "sources": platform + [str(PORT_SOURCE)],
        "platform_sources": platform,
        "port_sources": [str(PORT_SOURCE)],
        "include_dirs": [str(d) for d in INCLUDE_DIRS],
        "defines": defines,
    }


# ---------------------------------------------------------------- command line


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dynapps.emulator",
                                     description="Run emulator firmware on a chip's memory map.")
    parser.add_argument("--chip", required=True, choices=chips.names())
    parser.add_argument("--firmware", required=True, help="firmware ELF")
    parser.add_argument("--flash", help="flash image (offset 0 = flash offset 0)")
    parser.add_argument("--flash-size", type=lambda s: int(s, 0), help="flash chip size (default 4 MiB)")
    parser.add_argument("--count", action="store_true", help="count instructions (slow, exact)")
    parser.add_argument("--max-instructions", type=int)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds")
    args = parser.parse_args(argv)
    try:
        image = Path(args.flash).read_bytes() if args.flash else b""
        machine = Machine(chips.profile(args.chip), image, flash_size=args.flash_size,
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
    print(f"emulator: stopped ({result.reason}) at pc {machine.uc.reg_read(machine._R.UC_RISCV_REG_PC):#010x}",
          file=sys.stderr)
    return 124 if result.reason in ("timeout", "instruction_limit") else 125


if __name__ == "__main__":
    sys.exit(main())


def failure(machine: Machine, result: RunResult, timeout_s: float) -> str | None:
    """Why a run of the firmware failed, in one line (None if it exited with 0)."""
    if result.reason == "exit":
        return _exit_failure(result) if result.exit_code else None
    if result.reason != "fault":
        return f"the emulator firmware stopped ({result.reason}) after {result.seconds:.1f} s (limit {timeout_s:.0f} s)"
    return _fault_failure(machine, result)


def _exit_failure(result: RunResult) -> str:
    """The exit code and the firmware's own word on it: its last line that mentions a failure or
    an error, else its last line."""
    lines = [line.strip() for line in result.uart_text.splitlines() if line.strip()]
    failed = [line for line in lines if re.search(r"fail|error", line, re.I)]
    said = f"; its last line saying so: {failed[-1]}" if failed else f"; its last line: {lines[-1]}" if lines else ""
    return f"the emulator firmware exited with code {result.exit_code}{said}"


def _fault_failure(machine: Machine, result: RunResult) -> str:
    """The first fault, where its pc is and which app the firmware loaded last (usually the culprit)."""
    first = result.faults[0]
    text = f"the emulator firmware faulted: {first}; the pc is in {machine.region_name(first.pc)}"
    loaded = re.findall(r"^LOADED (\S+)", result.uart_text, re.M)
    if loaded:
        text += f"; the last app it loaded was {loaded[-1]}"
    if len(result.faults) > 1:
        text += f" ({len(result.faults) - 1} more faults: VERBOSE=1 lists them)"
    return text


def where_apps_ran(machine: Machine, uart_text: str) -> str:
    """A table of the demo's LOADED lines: where each app's code and data live on this chip."""
    rows = []
    for match in re.finditer(r"^LOADED (\S+) (\S+) code=(0x[0-9a-f]+) data=(0x[0-9a-f]+) .*ram=(\d+)", uart_text, re.M):
        app, strategy, code, data, ram = match.groups()
        rows.append(f"  {app:<10} {strategy:<5} code in {machine.region_name(int(code, 16)):<24} "
                    f"data in {machine.region_name(int(data, 16)):<20} RAM {ram} B")
    return "where the apps ran:\n" + "\n".join(rows) if rows else ""
