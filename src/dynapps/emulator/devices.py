"""The emulator machine's devices: the UART, the MMU, the SHA-256 engine, the signature checker, the
flash controller and the control block that exposes the last four (and exit, marks, the instruction
counter) to the firmware.

Register offsets mirror firmware/emulator/include/dynapps_emu.h (tests/test_emu_firmware_spec.py
checks that the two agree). Each device is a small class the machine owns; the machine maps the
UART and the control block as 4 KiB MMIO pages and hands them the callbacks below.
"""

from __future__ import annotations

import ctypes
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import chips, idf_versions, signing

from .results import Mapping, Mark

if TYPE_CHECKING:
    from .machine import Machine

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
REG_SIG_HASH = 0x60  # signature checker: address of the 32-byte SHA-256
REG_SIG_SIGNATURE = 0x64  # address of the 64-byte r || s
REG_SIG_KEY = 0x68  # address of the 65-byte public point
REG_SIG_START = 0x6C  # write: check now
REG_SIG_RESULT = 0x70  # read: 1 the signature verifies, 0 it does not
REG_MMU_FLAGS = 0x74
REG_FLASH_OFFSET = 0x80
REG_FLASH_SRC = 0x84
REG_FLASH_LEN = 0x88
REG_FLASH_CMD = 0x8C
REG_FLASH_STATUS = 0x90
EMU_ID = 0x554D4544
SHA_DIGEST_WORDS = 8

MMU_MAP_EXEC = 1
MMU_MAP_DATA = 2
MMU_UNMAP = 3
MMU_ESP_MAP = 4  # esp_mmu_map: first fit, the data-bus address comes back in REG_MMU_VADDR
MMU_ESP_MAP_AT = 5  # esp_mmu_map_virt: at REG_MMU_VADDR (ESP-IDF >= 6.1 only)

MMU_FLAG_PADDR_SHARED = 1  # ESP_MMU_MMAP_FLAG_PADDR_SHARED

MMU_OK = 0
MMU_MISALIGNED = 1
MMU_OUT_OF_WINDOW = 2
MMU_BEYOND_FLASH = 3
MMU_OVERLAP = 4
MMU_NOT_MAPPED = 5
MMU_BAD_COMMAND = 6
MMU_PADDR_IN_USE = 7  # esp_mm ESP_ERR_INVALID_STATE: the flash range lies inside a mapped block
MMU_PADDR_OVERLAP = 8  # esp_mm ESP_ERR_INVALID_ARG: it overlaps a mapped block (no PADDR_SHARED)
MMU_NO_ROOM = 9  # esp_mm ESP_ERR_NOT_FOUND: no free linear range that large
MMU_NO_MAP_VIRT = 10  # this ESP-IDF release has no mapping at a chosen address

FLASH_ERASE = 1
FLASH_WRITE = 2
FLASH_SECTOR_SIZE = chips.FLASH_SECTOR
FLASH_OK = 0
FLASH_MISALIGNED = 1
FLASH_BEYOND_FLASH = 2
FLASH_BAD_SOURCE = 3
FLASH_BAD_COMMAND = 4

EXIT_TRAP_BASE = 0x80
EXIT_PANIC = 0x7F
EXIT_SIGNAL_BASE = 128  # picolibc raise() / abort(): 128 + signal number (abort: 134)

UART_TX_FIFO = 0x00  # UART_FIFO_REG: a write sends a byte, a read takes a received one
UART_STATUS = 0x1C  # UART_STATUS_REG: bits 0..7 rxfifo_cnt (soc/<chip>/register/soc/uart_reg.h)
UART_RX_FIFO_DEPTH = 127  # what rxfifo_cnt shows at most (the chips' RX FIFO holds 128 bytes)
UART_IDLE_WAIT_S = 0.001  # a bridged UART's empty status read waits this long for input
MMIO_SIZE = 0x1000

# Registers that only hold what the firmware wrote (a request's arguments, the last MMU status).
_PLAIN_REGISTERS = (REG_MMU_VADDR, REG_MMU_OFFSET, REG_MMU_SIZE, REG_MMU_FLAGS, REG_SYNC_ADDR, REG_SHA_SRC,
                    REG_SHA_LEN, REG_SIG_HASH, REG_SIG_SIGNATURE, REG_SIG_KEY, REG_FLASH_OFFSET, REG_FLASH_SRC,
                    REG_FLASH_LEN)


def align_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


class Uart:
    """UART0 at the chip's register offsets: UART_FIFO_REG (offset 0) sends a byte when written
    and takes a received one when read; UART_STATUS_REG (0x1C) counts the received bytes waiting
    (rxfifo_cnt). Without a `link` nothing is ever received (reads return 0). With one (the pty
    bridge, bridge.py) received bytes come from `link.receive(wait_s)`, and bytes sent go to
    `link.send` when the firmware next reads the status (it does whenever it waits for input)
    or when the run ends. A status read that finds nothing waits up to UART_IDLE_WAIT_S of wall time
    for input, so an idle firmware polling it does not spin the host's CPU; when `link.closed`,
    the read stops the machine (the host side went away)."""

    def __init__(self, echo=None, link=None):
        """`echo`: a binary stream that gets every byte as it is written (None: keep only)."""
        self.output = bytearray()
        self._echo = echo
        self._link = link
        self._received = b""  # what the link gave last; bytes before _taken have been read
        self._taken = 0
        self._unsent = bytearray()
        self.stopped_by_link = False  # the run ended because the link closed

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", errors="replace")

    def read(self, uc, offset, size, _):
        if offset == UART_TX_FIFO:
            if self._taken >= len(self._received):
                return 0
            self._taken += 1
            return self._received[self._taken - 1]
        if offset == UART_STATUS and self._link is not None:
            self._exchange(uc)
            return min(len(self._received) - self._taken, UART_RX_FIFO_DEPTH)
        return 0  # TX FIFO empty, nothing received

    def _exchange(self, uc) -> None:
        self._send_pending()
        if self._taken >= len(self._received):
            self._received = self._link.receive(UART_IDLE_WAIT_S)
            self._taken = 0
        if self._link.closed:
            self.stopped_by_link = True
            uc.emu_stop()

    def _send_pending(self) -> None:
        if self._unsent and self._link is not None:
            self._link.send(bytes(self._unsent))
            self._unsent.clear()

    def write(self, uc, offset, size, value, _):
        if offset == UART_TX_FIFO:
            byte = value & 0xFF
            self.output.append(byte)
            if self._link is not None:
                self._unsent.append(byte)
            if self._echo is not None:
                self._echo.write(bytes([byte]))
                if byte == 0x0A:
                    self._echo.flush()

    def flush(self) -> None:
        self._send_pending()
        if self._echo is not None:
            self._echo.flush()


@dataclass
class EspMmBlock:
    """One mapping the esp_mm model made: linear pages [laddr, laddr + size) show flash
    [paddr, paddr + size) on every bus view (`views`: the Unicorn mappings)."""

    laddr: int
    size: int
    paddr: int
    views: list[Mapping]


class Mmu:
    """The flash MMU, with the allocator of the ESP-IDF release the machine models on top (esp_mm).

    Linear addresses are offsets into the flash windows: one MMU entry is seen by both buses at
    the same linear address (esp32c3: data bus at flash_dbus.start + l, instruction bus at
    flash_ibus.start + l; one window elsewhere). Owns the list of every flash mapping of the
    machine, the firmware's own segments included.

    esp_mm (idf_versions.py facts): MMU_ESP_MAP allocates first fit from the lowest free linear
    address after the firmware's own pages, in the first gap between mapped blocks that is large
    enough; it refuses flash that one mapped block holds whole (MMU_PADDR_IN_USE, whatever the
    flags) and flash overlapping a block unless MMU_FLAG_PADDR_SHARED (MMU_PADDR_OVERLAP).
    MMU_ESP_MAP_AT and the fixed-address MMU_MAP_EXEC / MMU_MAP_DATA requests exist only where the
    release has esp_mmu_map_virt (>= 6.1): else MMU_NO_MAP_VIRT. `map` from Python is the MMU HAL,
    below that bookkeeping: tests use it to set a scene.
    """

    def __init__(self, machine: Machine, flash: ctypes.Array, idf: idf_versions.IdfRelease):
        self._machine = machine
        self._flash = flash
        self.idf = idf
        self.mappings: list[Mapping] = []
        self.blocks: list[EspMmBlock] = []
        self.log: list[tuple[int, int, int, int, int]] = []  # (command, vaddr, offset, size, status)

    def map_flash(self, vaddr: int, size: int, offset: int, executable: bool, kind: str) -> Mapping:
        """Map flash bytes [offset, offset + size) at vaddr, without any check."""
        U = self._machine._U
        perms = U.UC_PROT_READ | (U.UC_PROT_EXEC if executable else 0)
        self._machine.uc.mem_map_ptr(vaddr, size, perms, ctypes.addressof(self._flash) + offset)
        mapping = Mapping(vaddr, vaddr + size, kind, offset, executable)
        self.mappings.append(mapping)
        return mapping

    def command(self, command: int, vaddr: int, flash_offset: int, size: int, flags: int = 0) -> tuple[int, int]:
        """A request of the firmware through the control block, logged with its MMU_* status.
        Returns (status, data-bus address of a new esp_mm mapping or the vaddr given)."""
        out = vaddr
        if command in (MMU_MAP_EXEC, MMU_MAP_DATA):
            status = (self.map(vaddr, flash_offset, size, executable=command == MMU_MAP_EXEC)
                      if self.idf.map_virt else MMU_NO_MAP_VIRT)
        elif command == MMU_ESP_MAP:
            status, out = self.esp_map(flash_offset, size, bool(flags & MMU_FLAG_PADDR_SHARED))
        elif command == MMU_ESP_MAP_AT:
            status = self.esp_map_at(vaddr, flash_offset, size, bool(flags & MMU_FLAG_PADDR_SHARED))
        elif command == MMU_UNMAP:
            status = self.unmap(vaddr)
        else:
            status = MMU_BAD_COMMAND
        self.log.append((command, out if command == MMU_ESP_MAP else vaddr, flash_offset, size, status))
        return status, out

    def map(self, vaddr: int, flash_offset: int, size: int, executable: bool = True) -> int:
        """Map flash bytes at vaddr (instruction bus READ|EXEC, or data bus READ); MMU_* status."""
        machine = self._machine
        p, page = machine.profile, machine.page
        window = p.flash_ibus if executable else p.flash_dbus
        if size <= 0:
            return MMU_BAD_COMMAND
        if vaddr % page or flash_offset % page:
            return MMU_MISALIGNED
        size = align_up(size, page)
        if not window.contains(vaddr, size):
            return MMU_OUT_OF_WINDOW
        if flash_offset + size > machine.flash_size:
            return MMU_BEYOND_FLASH
        if any(m.start < vaddr + size and vaddr < m.end for m in self.mappings):
            return MMU_OVERLAP
        self.map_flash(vaddr, size, flash_offset, executable, "mmu_exec" if executable else "mmu_data")
        machine.uc.ctl_remove_cache(vaddr, vaddr + size)
        return MMU_OK

    # ------------------------------------------------------------ esp_mm

    def linear(self, vaddr: int) -> int:
        p = self._machine.profile
        return vaddr - (p.flash_ibus.start if p.flash_ibus.contains(vaddr) else p.flash_dbus.start)

    def free_head(self) -> int:
        """The first linear address after the firmware's own pages (where esp_mm starts)."""
        ends = [self.linear(m.end - 1) + 1 for m in self.mappings if m.kind == "firmware"]
        return align_up(max(ends, default=0), self._machine.page)

    def _linear_end(self) -> int:
        p = self._machine.profile
        return min(p.flash_ibus.size, p.flash_dbus.size)

    def _occupied(self) -> list[tuple[int, int]]:
        return sorted((self.linear(m.start), self.linear(m.end - 1) + 1) for m in self.mappings)

    def first_fit(self, size: int) -> int | None:
        """The linear address esp_mmu_map would give `size` bytes now, or None."""
        at = self.free_head()
        for start, end in self._occupied():
            if end <= at:
                continue
            if start - at >= size:
                return at
            at = max(at, end)
        return at if self._linear_end() - at >= size else None

    def _paddr_refusal(self, paddr: int, size: int, shared: bool) -> int | None:
        """esp_mm's ENABLE_PADDR_CHECK against every mapped block (firmware pages are not blocks)."""
        end = paddr + size
        for m in self.mappings:
            if m.kind == "firmware" or m.flash_offset is None:
                continue
            block_start, block_end = m.flash_offset, m.flash_offset + (m.end - m.start)
            if block_start <= paddr and end <= block_end:
                return MMU_PADDR_IN_USE
            if not shared and (paddr < block_start < end or paddr < block_end < end):
                return MMU_PADDR_OVERLAP
        return None

    def _esp_checks(self, paddr: int, size: int) -> int | None:
        if size <= 0:
            return MMU_BAD_COMMAND
        if paddr % self._machine.page:
            return MMU_MISALIGNED
        if paddr + align_up(size, self._machine.page) > self._machine.flash_size:
            return MMU_BEYOND_FLASH
        return None

    def esp_map(self, paddr: int, size: int, paddr_shared: bool = False) -> tuple[int, int]:
        """esp_mmu_map(): first fit; (status, data-bus address of the mapping or 0)."""
        refusal = self._esp_checks(paddr, size)
        if refusal is not None:
            return refusal, 0
        size = align_up(size, self._machine.page)
        laddr = self.first_fit(size)
        if laddr is None:
            return MMU_NO_ROOM, 0
        refusal = self._paddr_refusal(paddr, size, paddr_shared)
        if refusal is not None:
            return refusal, 0
        self._map_block(laddr, paddr, size)
        return MMU_OK, self._machine.profile.flash_dbus.start + laddr

    def esp_map_at(self, vaddr: int, paddr: int, size: int, paddr_shared: bool = False) -> int:
        """esp_mmu_map_virt() at data-bus address vaddr (ESP-IDF >= 6.1 only)."""
        if not self.idf.map_virt:
            return MMU_NO_MAP_VIRT
        refusal = self._esp_checks(paddr, size)
        if refusal is not None:
            return refusal
        page, window = self._machine.page, self._machine.profile.flash_dbus
        size = align_up(size, page)
        if vaddr % page:
            return MMU_MISALIGNED
        if not window.contains(vaddr, size):
            return MMU_OUT_OF_WINDOW
        laddr = vaddr - window.start
        if laddr < self.free_head() or any(s < laddr + size and laddr < e for s, e in self._occupied()):
            return MMU_OVERLAP
        refusal = self._paddr_refusal(paddr, size, paddr_shared)
        if refusal is not None:
            return refusal
        self._map_block(laddr, paddr, size)
        return MMU_OK

    def _map_block(self, laddr: int, paddr: int, size: int) -> None:
        p, uc = self._machine.profile, self._machine.uc
        views = [self.map_flash(p.xip_vaddr(laddr), size, paddr, True, "esp_mm")]  # linear laddr on the ibus
        if not p.unified_flash_window:
            views.append(self.map_flash(p.flash_dbus.start + laddr, size, paddr, False, "esp_mm"))
        for view in views:
            uc.ctl_remove_cache(view.start, view.end)
        self.blocks.append(EspMmBlock(laddr, size, paddr, views))

    def unmap(self, vaddr: int) -> int:
        machine = self._machine
        for block in self.blocks:
            if any(view.start == vaddr for view in block.views):
                for view in block.views:
                    machine.uc.mem_unmap(view.start, view.end - view.start)
                    machine.uc.ctl_remove_cache(view.start, view.end)
                    self.mappings.remove(view)
                self.blocks.remove(block)
                return MMU_OK
        for mapping in self.mappings:
            if mapping.start == vaddr and mapping.kind.startswith("mmu_"):
                machine.uc.mem_unmap(vaddr, mapping.end - mapping.start)
                machine.uc.ctl_remove_cache(mapping.start, mapping.end)
                self.mappings.remove(mapping)
                return MMU_OK
        return MMU_NOT_MAPPED


class ShaEngine:
    """SHA-256 over guest memory, like the accelerator ESP-IDF drives through mbedtls.

    The firmware writes a source address to REG_SHA_SRC and a length to REG_SHA_LEN, then any
    value to REG_SHA_START; the device reads those bytes of guest memory and computes their
    digest in Python, and REG_SHA_DIGEST + 4 i (i = 0..7) then read back digest bytes 4 i .. 4 i + 3
    as a little-endian word (memcpy order). It reads what a data load could read: SRAM through its
    data alias (on esp32c3 not through the IRAM alias, which takes words only), the flash data-bus
    window where something is mapped (data view, firmware rodata, MMU mappings); anything else
    (unmapped, a device page, esp32c3's fetch-only instruction bus, a range past 4 GiB) stops the
    run with a "sha_read" fault naming the address. It takes no instructions: the firmware side is a
    fixed 3 register writes and 8 reads per digest (dynapps_emu_sha256), however long the data, as
    with a DMA-fed accelerator (whose real time grows with the length: the instruction count does
    not show it). Every request is logged in `log` as (address, length), and in `log_at` the
    instruction count when it came (None when the machine does not count): a time model charges
    the real accelerator's time per 64-byte block (dynapps.timing).
    """

    def __init__(self, machine: Machine):
        self._machine = machine
        self.digest = bytes(32)
        self.log: list[tuple[int, int]] = []
        self.log_at: list[int | None] = []

    def refusal(self, address: int, size: int) -> str | None:
        """Why the engine can't read [address, address + size), or None if it can."""
        if size == 0:
            return None
        end = address + size
        if end > 1 << 32:
            return "the range runs past 4 GiB"
        machine = self._machine
        p, e = machine.profile, machine.emu
        for name, start in (("uart", e.uart), ("control block", e.control)):
            if address < start + MMIO_SIZE and start < end:
                return f"the range overlaps the {name} page"
        if not p.unified_flash_window and address < p.flash_ibus.end and p.flash_ibus.start < end:
            return "the instruction-bus flash window serves fetches only"
        if p.iram_alias_words_only and address < p.iram.end and p.iram.start < end:
            return "the IRAM alias takes 32-bit word accesses only; read through the DRAM alias"
        return self._unreadable(address, end)

    def _unreadable(self, address: int, end: int) -> str | None:
        """Why Unicorn's mapped regions do not cover [address, end) readably, or None."""
        machine = self._machine
        covered = address
        for start, last, perms in sorted(machine.uc.mem_regions()):
            if start <= covered <= last:
                if not perms & machine._U.UC_PROT_READ:
                    return f"{covered:#010x} is not readable"
                covered = last + 1
                if covered >= end:
                    return None
        return f"nothing is mapped at {covered:#010x}"

    def start(self, uc, address: int, size: int) -> None:
        self.log.append((address, size))
        self.log_at.append(self._machine.counted_instructions())
        refusal = self.refusal(address, size)
        if refusal is not None:
            self._machine.memory_fault("sha_read", address=address, size=size, detail=f"SHA-256 engine: {refusal}")
            uc.emu_stop()
            return
        data = bytes(uc.mem_read(address, size)) if size else b""
        self.digest = hashlib.sha256(data).digest()


class SignatureChecker:
    """ECDSA P-256 signature checks over guest memory, standing in for what ESP-IDF does with
    Mbed TLS (docs/image-format.md, "Signature"); the bytes are checked with `cryptography`.

    The firmware writes the addresses of the 32-byte SHA-256 (REG_SIG_HASH), the 64-byte raw
    r || s signature (REG_SIG_SIGNATURE, big-endian r then s) and the 65-byte uncompressed public
    point 0x04 || X || Y (REG_SIG_KEY), then any value to REG_SIG_START; REG_SIG_RESULT then reads
    1 if the signature verifies, 0 if not (a malformed point or signature included). A range the
    SHA engine could not read either stops the run with a "sig_read" fault. Like the SHA engine it
    takes no instructions. Every check is logged in `log` as (digest, signature, point, result).
    """

    def __init__(self, machine: Machine, sha: ShaEngine):
        self._machine = machine
        self._sha = sha
        self.result = 0
        self.log: list[tuple[bytes, bytes, bytes, bool]] = []

    def start(self, uc, hash_address: int, signature_address: int, key_address: int) -> None:
        parts = []
        for address, size in ((hash_address, 32), (signature_address, signing.SIGNATURE_SIZE),
                              (key_address, signing.PUBLIC_KEY_SIZE)):
            refusal = self._sha.refusal(address, size)
            if refusal is not None:
                self._machine.memory_fault("sig_read", address=address, size=size,
                                           detail=f"signature checker: {refusal}")
                uc.emu_stop()
                return
            parts.append(bytes(uc.mem_read(address, size)))
        digest, signature, point = parts
        valid = signing.verify_digest(point, digest, signature)
        self.result = int(valid)
        self.log.append((digest, signature, point, valid))


class FlashController:
    """Erase and write of the emulated flash chip (the agent's XIP push), like esp_flash_erase_region
    / esp_flash_write: erase sets whole 4 KiB sectors to 0xFF, write ANDs bytes in (NOR flash only
    clears bits). The mappings share the flash buffer, so the data view shows the change at once;
    translated code of every executable mapping of the range is dropped. Every request is logged
    in `log` as (command, offset, length, status)."""

    def __init__(self, machine: Machine, flash: ctypes.Array):
        self._machine = machine
        self._flash = flash
        self.log: list[tuple[int, int, int, int]] = []

    def command(self, uc, command: int, offset: int, source: int, size: int) -> int:
        status = self._run(uc, command, offset, source, size)
        self.log.append((command, offset, size, status))
        if status == FLASH_OK:
            for mapping in self._machine.mappings:
                if mapping.flash_offset is not None and mapping.executable:
                    start = mapping.start + max(offset - mapping.flash_offset, 0)
                    end = min(mapping.end, mapping.start + offset + size - mapping.flash_offset)
                    if start < end:
                        uc.ctl_remove_cache(start, end)
        return status

    def _run(self, uc, command: int, offset: int, source: int, size: int) -> int:
        if offset + size > self._machine.flash_size:
            return FLASH_BEYOND_FLASH
        if command == FLASH_ERASE:
            if offset % FLASH_SECTOR_SIZE or size % FLASH_SECTOR_SIZE:
                return FLASH_MISALIGNED
            ctypes.memset(ctypes.addressof(self._flash) + offset, 0xFF, size)
            return FLASH_OK
        if command != FLASH_WRITE:
            return FLASH_BAD_COMMAND
        if self._machine.sha.refusal(source, size) is not None:  # what a data load could not read
            return FLASH_BAD_SOURCE
        data = bytes(uc.mem_read(source, size)) if size else b""
        old = self._flash[offset:offset + size]
        self._flash[offset:offset + size] = bytes(a & b for a, b in zip(old, data))
        return FLASH_OK


class ControlBlock:
    """The firmware's window on the machine: exit, benchmark marks, the instruction counter,
    MMU requests, code sync, the flash size and the SHA engine's and signature checker's registers."""

    def __init__(self, machine: Machine, mmu: Mmu, sha: ShaEngine, signatures: SignatureChecker,
                 flash: FlashController):
        self._machine = machine
        self._mmu = mmu
        self._sha = sha
        self._signatures = signatures
        self._flash = flash
        self.exit_code: int | None = None
        self.exit_instructions: int | None = None
        self.marks: list[Mark] = []
        self._icount_hi_latch = 0
        self._registers = {REG_MMU_VADDR: 0, REG_MMU_OFFSET: 0, REG_MMU_SIZE: 0, REG_MMU_FLAGS: 0, REG_MMU_STATUS: 0,
                           REG_SYNC_ADDR: 0, REG_SHA_SRC: 0, REG_SHA_LEN: 0, REG_SIG_HASH: 0,
                           REG_SIG_SIGNATURE: 0, REG_SIG_KEY: 0, REG_FLASH_OFFSET: 0,
                           REG_FLASH_SRC: 0, REG_FLASH_LEN: 0, REG_FLASH_STATUS: 0}

    def read(self, uc, offset, size, _):
        if offset == REG_ICOUNT_LO:
            count = self._machine.counted_instructions() or 0
            self._icount_hi_latch = count >> 32
            return count & 0xFFFFFFFF
        if offset == REG_ICOUNT_HI:
            return self._icount_hi_latch
        if offset == REG_FLASH_SIZE:
            return self._machine.flash_size
        if offset == REG_ID:
            return EMU_ID
        if REG_SHA_DIGEST <= offset < REG_SHA_DIGEST + 4 * SHA_DIGEST_WORDS:
            at = offset - REG_SHA_DIGEST
            return int.from_bytes(self._sha.digest[at:at + 4], "little")
        if offset == REG_SIG_RESULT:
            return self._signatures.result
        return self._registers.get(offset, 0)

    def write(self, uc, offset, size, value, _):
        registers = self._registers
        if offset == REG_EXIT:
            self.exit_code = value - (1 << 32) if value & 0x80000000 else value
            self.exit_instructions = self._machine.counted_instructions()
            uc.emu_stop()
        elif offset == REG_MARK:
            self.marks.append(Mark(value, self._machine.counted_instructions()))
        elif offset == REG_MMU_CMD:
            registers[REG_MMU_STATUS], registers[REG_MMU_VADDR] = self._mmu.command(
                value, registers[REG_MMU_VADDR], registers[REG_MMU_OFFSET], registers[REG_MMU_SIZE],
                registers[REG_MMU_FLAGS])
        elif offset == REG_SYNC_SIZE:
            self._machine.sync_code(registers[REG_SYNC_ADDR], value)
        elif offset == REG_FLASH_CMD:
            registers[REG_FLASH_STATUS] = self._flash.command(uc, value, registers[REG_FLASH_OFFSET],
                                                              registers[REG_FLASH_SRC], registers[REG_FLASH_LEN])
        elif offset == REG_SHA_START:
            self._sha.start(uc, registers[REG_SHA_SRC], registers[REG_SHA_LEN])
        elif offset == REG_SIG_START:
            self._signatures.start(uc, registers[REG_SIG_HASH], registers[REG_SIG_SIGNATURE], registers[REG_SIG_KEY])
        elif offset in _PLAIN_REGISTERS:
            registers[offset] = value
