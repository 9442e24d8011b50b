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
* PSRAM (chips whose profile has `psram`): the emulated board's PSRAM chip,
  `EmulatorProfile.psram`, at the chip's real cached PSRAM address, read/write/execute, one
  address for fetch and data (as the esp32p4 sees it through its cache with the PMP allowing
  execution). The emulator port's PSRAM heap covers it. No cache is modelled: code written there
  is reported with the SYNC registers like code written into SRAM.
* Flash windows (`flash_ibus`, `flash_dbus`; one window when they are equal):
  - the firmware's own PT_LOAD segments that lie in a window, mapped from the ELF, read-only:
    READ|EXEC in the instruction-bus window, READ in a data-bus-only window. They must end
    below `window.start + flash_data_view_from - mmu_page_size`; esp_mm's free linear space
    starts after them.
  - nothing else is mapped at start: like a chip, the flash is seen only through MMU mappings,
    which the firmware asks the MMU device for (control block; Machine.mmu from Python). The
    device follows the esp_mm rules of the ESP-IDF release the machine models (`idf`,
    idf_versions.py; devices.py Mmu): esp_mmu_map allocates first fit from the lowest free
    linear address after the firmware's own pages, both buses at once; flash a mapped block holds
    whole, or overlaps without the shared flag, is refused; mapping at a chosen address
    (esp_mmu_map_virt, and the plain MAP_EXEC / MAP_DATA requests) exists only from 6.1. Pages
    are `mmu_page_size`; a request outside the window, misaligned or beyond the flash chip is
    refused. The emulator port reads the partition table through a one-page mapping and runs the
    apps from the apps window it reserves (firmware/components/dynapps/src/dynapps_window.c).
  - any store into a flash window stops the run ("flash_write" fault, address and pc); where
    the two windows differ (esp32c3), any load from the instruction-bus window stops it too
    ("ibus_data_read"): on silicon that bus serves instruction fetches only.
* Devices (MMIO, 4 KiB each, devices.py): a UART at `EmulatorProfile.uart` and the control
  block at `EmulatorProfile.control` (registers in firmware/emulator/include/dynapps_emu.h,
  mirrored in devices.py as REG_*): exit, benchmark marks, instruction counter, MMU map/unmap,
  code sync, flash size, a SHA-256 engine and flash erase/write. The UART also receives (its
  RX FIFO and status registers) when the machine is given a `uart_link` (bridge.py: a pty).
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

The devices (UART, MMU, SHA engine, control block) are in devices.py, the run results in
results.py, the emulator firmware's build spec in firmware_build.py, the command line in
__main__.py.
"""

from __future__ import annotations

import ctypes
import time

from .. import chips, idf_versions
from .devices import MMIO_SIZE, ControlBlock, FlashController, Mmu, ShaEngine, SignatureChecker, Uart, align_up
from .results import DataAccess, DataWatch, EmulatorError, ExecWatch, Fault, FlashReadWatch, Mapping, Mark, RunResult

DEFAULT_FLASH_SIZE = 4 * 1024 * 1024

MSTATUS_MIE = 1 << 3
MSTATUS_MPIE = 1 << 7
MSTATUS_MPP = 3 << 11
MSTATUS_FS_INITIAL = 1 << 13
MAX_TRAP_DELIVERIES = 8


def _unicorn():
    import unicorn
    import unicorn.riscv_const

    return unicorn, unicorn.riscv_const


def _align_down(value: int, alignment: int) -> int:
    return value // alignment * alignment


class Machine:
    def __init__(self, profile: chips.ChipProfile, flash_image: bytes = b"", *, flash_size: int | None = None,
                 count_instructions: bool = False, echo=None, idf: str | None = None, uart_link=None):
        """`echo`: a binary stream that gets every UART byte as it is written (None: keep only).
        `idf`: the ESP-IDF release whose flash mapping rules the MMU follows ("5.5"; None: the
        newest released, idf_versions.DEFAULT). `uart_link`: where the UART receives from and
        sends to (bridge.PtyLink), None: nowhere."""
        self._U, self._R = _unicorn()
        U = self._U
        self.profile = profile
        self.emu = profile.emulator
        self.page = profile.mmu_page_size
        self.count_instructions = count_instructions
        self._check_profile()

        image = bytes(flash_image)
        if flash_size is None:
            flash_size = max(DEFAULT_FLASH_SIZE, align_up(len(image), self.page))
        if flash_size % self.page or len(image) > flash_size:
            raise EmulatorError(f"flash size {flash_size:#x} must be a multiple of {self.page:#x} and hold the "
                                f"{len(image):#x}-byte image")
        self.flash_size = flash_size
        self._flash = ctypes.create_string_buffer(b"\xff" * flash_size, flash_size)
        ctypes.memmove(self._flash, image, len(image))

        self.uc = U.Uc(U.UC_ARCH_RISCV, U.UC_MODE_RISCV32)
        self.uart = Uart(echo, uart_link)
        self.idf = idf_versions.release(idf)
        self.mmu = Mmu(self, self._flash, self.idf)
        self.sha = ShaEngine(self)
        self.signatures = SignatureChecker(self, self.sha)
        self.flash = FlashController(self, self._flash)
        self.control = ControlBlock(self, self.mmu, self.sha, self.signatures, self.flash)
        self.faults: list[Fault] = []
        self.symbols: dict[str, int] = {}
        self.entry: int | None = None
        self._icount = 0
        self._limit: int | None = None
        self._limit_hit = False
        self._trap_deliveries = 0
        self._memory_fault_reported = False
        self._finished = False
        self._hooks: list[int] = []

        self._map_sram()
        self._map_psram()
        self._map_devices()
        self._add_fault_hooks()
        if count_instructions:
            self._hooks.append(self.uc.hook_add(U.UC_HOOK_CODE, self._on_count))

    @property
    def mappings(self) -> list[Mapping]:
        """Every flash mapping: the firmware's segments, the data view, the MMU's."""
        return self.mmu.mappings

    @property
    def marks(self) -> list[Mark]:
        return self.control.marks

    def counted_instructions(self) -> int | None:
        """Instructions executed so far (None when the machine does not count)."""
        return self._icount if self.count_instructions else None

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

    def _map_psram(self) -> None:
        board = self.emu.psram
        if board is not None:
            self._psram = ctypes.create_string_buffer(board.size)
            self.uc.mem_map_ptr(board.start, board.size, self._U.UC_PROT_ALL, ctypes.addressof(self._psram))

    def _map_devices(self) -> None:
        self.uc.mmio_map(self.emu.uart, MMIO_SIZE, self.uart.read, None, self.uart.write, None)
        self.uc.mmio_map(self.emu.control, MMIO_SIZE, self.control.read, None, self.control.write, None)

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
        end = align_up(max(a + len(d) for a, d in pieces), self.page)
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
        self.uart.flush()
        if self.control.exit_code is not None:
            reason = "exit"
        elif self.faults:
            reason = "fault"
        elif self.uart.stopped_by_link:
            reason = "link_closed"
        elif self._limit_hit or (unicorn_count and seconds < timeout_s * 0.9):
            reason = "instruction_limit"
        else:
            reason = "timeout"
        instructions = None
        if self.count_instructions:
            exited = self.control.exit_instructions
            instructions = exited if exited is not None else self._icount
        return RunResult(self.control.exit_code, self.uart_text, instructions, list(self.faults), reason, seconds,
                         list(self.marks), bytes(self.uart.output))

    @property
    def pc(self) -> int:
        return self.uc.reg_read(self._R.UC_RISCV_REG_PC)

    @property
    def uart_text(self) -> str:
        return self.uart.text

    # ------------------------------------------------------------ memory access for tests

    def flash_bytes(self) -> bytes:
        """The whole flash chip as it is now (the firmware may have erased and written it): what a
        later Machine boots from to model a reboot."""
        return self._flash.raw

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
        if e.psram is not None:
            named.append(("psram", e.psram.start, e.psram.end))
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

    def watch_flash_reads(self, line_bytes: int) -> FlashReadWatch:
        """Record the cache lines of `line_bytes` that data reads touch in the flash windows, with
        the instruction count of each line's first read (needs count_instructions)."""
        if not self.count_instructions:
            raise EmulatorError("watch_flash_reads needs Machine(count_instructions=True)")
        watch = FlashReadWatch(line_bytes)
        mask = ~(line_bytes - 1)

        def on_read(uc, access, address, size, value, _):
            watch.lines.setdefault(address & mask, self._icount)

        windows = {(self.profile.flash_dbus.start, self.profile.flash_dbus.end),
                   (self.profile.flash_ibus.start, self.profile.flash_ibus.end)}
        for start, end in sorted(windows):
            watch.handles.append(self.uc.hook_add(self._U.UC_HOOK_MEM_READ, on_read, None, start, end - 1))
        return watch

    # ------------------------------------------------------------ code written at run time

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

    def memory_fault(self, kind: str, **fields) -> Fault:
        """A fault a device raises at the current pc; the run stops without the trap handler."""
        self._memory_fault_reported = True
        return self._fault(kind, self.uc.reg_read(self._R.UC_RISCV_REG_PC), **fields)

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
