"""TEST PEER, not part of dynapps: a stand-in for an ESP32-family serial loader.

It lets the tests drive esptool's real code (detection, stub upload, compressed writes, MD5
verification, resets) without a board. It is NOT an emulator of the chip and must never be used
to flash anything: it only answers the ESP serial protocol the way the ROM loader and esptool's
flasher stub do, and keeps a flash byte array the tests can inspect.

How it is reached: it listens on 127.0.0.1 (loopback only) on a free TCP port; esptool opens it
through pyserial's `socket://127.0.0.1:PORT` URL. Over a socket esptool cannot toggle DTR/RTS, so
it switches to `no-reset` by itself and resets are invisible here: every TCP connection meets a
chip freshly in ROM download mode; the flash keeps its contents across connections.

What it speaks (SLIP frames, 8-byte command/response headers, as esptool's loader.py sends them):

  SYNC              the 36-byte sync pattern; answered 8 times (esptool reads 1 + 7), value
                    non-zero from the ROM, 0 from the stub (esptool tells them apart that way)
  GET_SECURITY_INFO 20 bytes: flags 0, crypt count 0, key purposes 0, chip id, API version.
                    esptool >= 4 identifies esp32c3 and later by this chip id (esp_chip_id_t:
                    esp32c3 5, esp32c6 13, esp32h2 16, esp32p4 18), not by the ROM magic
                    register; the magic register (0x40001000) reads 0 here, so a wrong fallback
                    would show up as "unexpected magic value", not as a silent pass.
  READ_REG/WRITE_REG a 32-bit register file (reads 0 unless written; masks applied), with the
                    SPI flash controller's user-command registers emulated at the chip's
                    SPI_REG_BASE: RDID (0x9F, Winbond-like id with the capacity byte of the
                    flash size), RDSFDP (0x5A, "SFDP" signature), reset-enable/reset (0x66/0x99),
                    RDSR (0x05/0x35). Other SPI commands are logged in `spi_commands` and read
                    back 0xFFFFFFFF.
  SPI_ATTACH        8 bytes from the ROM, 4 from the stub. The ROM refuses flash commands before
                    it (the stub attaches on start).
  SPI_SET_PARAMS    6 words; block 64K, sector 4K, page 256, status mask 0xFFFF checked; the total
                    size bounds every later flash command.
  CHANGE_BAUDRATE   (new, old): old must be 0 for the ROM and the current rate for the stub.
  MEM_BEGIN/DATA/END RAM download, used by esptool to upload its flasher stub. MEM_END with an
                    entry point inside a downloaded segment "starts the stub": the peer answers,
                    sends the "OHAI" greeting frame and from then on answers as the stub (2 status
                    bytes instead of 4, raw MD5, stub error codes). So esptool's DEFAULT path
                    (stub + compressed writes) is what the tests exercise; `no_stub=True` on the
                    caller's side exercises the ROM path (uncompressed FLASH_DATA, 1 KiB blocks).
  FLASH_BEGIN/DATA/END, FLASH_DEFL_BEGIN/DATA/END
                    erase whole 4 KiB sectors covering the announced range at BEGIN, then program
                    data as NOR flash does: new = old AND data (so a write without erase shows up
                    as wrong bytes). Deflate data is zlib-decompressed block by block and applied.
                    Sequence numbers, block sizes, block counts, data lengths and checksums
                    (XOR of the payload seeded 0xEF) are checked as the ROM does; the stub's END
                    checks that all announced data arrived. END with "reboot" leaves the stub for
                    the ROM (esptool's `no-reset` after) or, from the ROM, runs user code (the peer
                    then stops answering that connection).
  SPI_FLASH_MD5     32 lowercase hex characters from the ROM, 16 raw bytes from the stub.
  ERASE_REGION      stub only, sector aligned.

Everything else, and every malformed frame (bad SLIP escape, short header, direction byte not 0,
length field not matching, bad checksum, sequence out of order, data past the announced size,
flash access past SPI_SET_PARAMS' size, ...), is refused with the loader's error status and
recorded in `errors`, so a bug in the way dynapps drives esptool cannot pass silently: tests
assert `peer.errors == []`.

Bounded: frames up to 64 KiB, at most `max_connections` connections (one at a time), and the
serving thread ends by itself after `lifetime` seconds or when `stop()` is called (the context
manager and the pytest fixture do that).
"""

from __future__ import annotations

import hashlib
import socket
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field

SLIP_END, SLIP_ESC, SLIP_ESC_END, SLIP_ESC_ESC = 0xC0, 0xDB, 0xDC, 0xDD
MAX_FRAME = 64 * 1024
SECTOR = 0x1000
CHECKSUM_SEED = 0xEF
SYNC_PATTERN = b"\x07\x07\x12\x20" + b"\x55" * 32
ROM_SYNC_VALUE = 0x1  # any non-zero value: esptool only checks "0 = stub already running"

OPS = {
    0x02: "FLASH_BEGIN", 0x03: "FLASH_DATA", 0x04: "FLASH_END", 0x05: "MEM_BEGIN", 0x06: "MEM_END",
    0x07: "MEM_DATA", 0x08: "SYNC", 0x09: "WRITE_REG", 0x0A: "READ_REG", 0x0B: "SPI_SET_PARAMS",
    0x0D: "SPI_ATTACH", 0x0F: "CHANGE_BAUDRATE", 0x10: "FLASH_DEFL_BEGIN", 0x11: "FLASH_DEFL_DATA",
    0x12: "FLASH_DEFL_END", 0x13: "SPI_FLASH_MD5", 0x14: "GET_SECURITY_INFO", 0xD1: "ERASE_REGION",
}
STUB_ONLY = {"ERASE_REGION"}

# Error statuses, as esptool decodes them (esptool.util.FatalError.WithResult): the ROM sends
# (1, code) followed by two reserved bytes, the stub sends (code, 0).
ROM_ERRORS = {"invalid": 0x05, "failed": 0x06, "checksum": 0x07, "write": 0x08, "inflate": 0x0B}
STUB_ERRORS = {"length": 0xC0, "checksum": 0xC1, "blocksize": 0xC2, "invalid": 0xC3, "failed": 0xC4,
               "not_in_flash_mode": 0xC6, "inflate": 0xC7, "not_enough": 0xC8, "too_much": 0xC9}


@dataclass(frozen=True)
class ChipFacts:
    """What the peer must know to pass as a chip (values from esptool's targets/<chip>.py,
    IMAGE_CHIP_ID and SPI_REG_BASE; chip ids as ESP-IDF's esp_chip_id_t)."""

    chip_id: int
    spi_base: int


CHIPS = {
    "esp32c3": ChipFacts(chip_id=5, spi_base=0x60002000),
    "esp32c6": ChipFacts(chip_id=13, spi_base=0x60003000),
    "esp32h2": ChipFacts(chip_id=16, spi_base=0x60003000),
    "esp32p4": ChipFacts(chip_id=18, spi_base=0x5008D000),
}

# SPI memory controller user-command registers (offsets from SPI_REG_BASE, as esptool uses them)
SPI_CMD, SPI_ADDR, SPI_USR, SPI_USR1, SPI_USR2, SPI_MISO_DLEN, SPI_W0 = 0x00, 0x04, 0x18, 0x1C, 0x20, 0x28, 0x58
SPI_CMD_USR = 1 << 18
SPI_USR_MISO = 1 << 28
FLASH_VENDOR, FLASH_TYPE = 0xEF, 0x40  # Winbond W25Q-like JEDEC id; capacity byte = log2(size)
SFDP_TABLE = b"SFDP" + bytes([0x06, 0x01, 0x00, 0xFF]) + bytes([0x00, 0x06, 0x01, 0x10, 0x30, 0x00, 0x00, 0xFF])


class Refused(Exception):
    """A command the loader refuses: `kind` picks the error status."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass
class _Download:
    """State between FLASH_BEGIN / FLASH_DEFL_BEGIN / MEM_BEGIN and the matching END."""

    kind: str  # "flash", "defl" or "mem"
    offset: int
    size: int  # bytes the download may produce (flash: erase/write size, mem: image size)
    blocks: int
    block_size: int
    next_seq: int = 0
    cursor: int = 0  # bytes produced so far
    inflater: object = None


@dataclass
class Write:
    offset: int
    length: int
    command: str  # FLASH_DATA or FLASH_DEFL_DATA


@dataclass
class _Connection:
    stub: bool = False
    attached: bool = False
    spi_size: int | None = None
    baud: int = 115200
    download: _Download | None = None
    ram_segments: list = field(default_factory=list)  # (start, bytes)
    finished: bool = False
    programmed: int = 0  # flash bytes programmed in this connection
    cut: bool = False  # the connection dropped in the middle of a command (see SerialPeer.cut_after)


class SerialPeer:
    """A loopback stand-in for one chip's serial loader. Use as a context manager:

        with SerialPeer("esp32c3") as peer:
            esptool_target.write_regions(peer.url, 460800, "esp32c3", regions)
            assert peer.flash[0x200000:0x201000] == ...
    """

    def __init__(self, chip: str = "esp32c3", flash_size: int = 4 * 1024 * 1024, *, flash_init: int | bytes = 0xFF,
                 mute: bool = False, lifetime: float = 60.0, max_connections: int = 8):
        if chip not in CHIPS:
            raise ValueError(f"serial peer: unknown chip {chip!r}")
        if flash_size & (flash_size - 1) or not 0x10000 <= flash_size <= 1 << 28:
            raise ValueError("serial peer: flash size must be a power of two, 64 KiB .. 256 MiB")
        self.chip = chip
        self.facts = CHIPS[chip]
        self.flash_size = flash_size
        if isinstance(flash_init, int):
            self.flash = bytearray([flash_init]) * flash_size
        else:
            if len(flash_init) != flash_size:
                raise ValueError("serial peer: flash_init must be flash_size bytes")
            self.flash = bytearray(flash_init)
        self.mute = mute  # accept connections but never answer (a board not in download mode)
        # Flash bytes a connection may program before it drops without an answer, as a pulled
        # cable or a killed flasher leaves it; None: never. Tests set it between connections.
        self.cut_after: int | None = None
        self.lifetime = lifetime
        self.max_connections = max_connections
        self.registers: dict[int, int] = {}
        self.commands: list[str] = []  # every command received, in order, across connections
        self.errors: list[str] = []  # every refused or malformed frame
        self.writes: list[Write] = []  # bytes programmed, in order
        self.erases: list[tuple[int, int]] = []  # (offset, length), whole sectors
        self.spi_commands: list[int] = []
        self.connections = 0
        self.stub_started = 0  # times the stub handshake ("OHAI") was sent
        self.stub_running = False  # state at the end of the last connection
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(1)
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"serial-peer-{self.port}", daemon=True)

    # --- test-facing API ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def start(self) -> "SerialPeer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()

    def __enter__(self) -> "SerialPeer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def written_ranges(self) -> list[tuple[int, int]]:
        """Programmed [start, end) ranges, adjacent and overlapping writes merged."""
        ranges: list[list[int]] = []
        for write in sorted(self.writes, key=lambda w: w.offset):
            end = write.offset + write.length
            if ranges and write.offset <= ranges[-1][1]:
                ranges[-1][1] = max(ranges[-1][1], end)
            else:
                ranges.append([write.offset, end])
        return [(start, end) for start, end in ranges]

    def bytes_written(self, start: int = 0, end: int | None = None) -> int:
        """Bytes programmed inside [start, end), counting every write (a byte written twice counts twice)."""
        end = self.flash_size if end is None else end
        return sum(max(0, min(end, w.offset + w.length) - max(start, w.offset)) for w in self.writes)

    def count(self, command: str) -> int:
        return self.commands.count(command)

    # --- serving -----------------------------------------------------------------------------

    def _serve(self) -> None:
        deadline = time.monotonic() + self.lifetime
        try:
            while not self._stop.is_set() and time.monotonic() < deadline and self.connections < self.max_connections:
                try:
                    client, _ = self._server.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                self.connections += 1
                with client:
                    client.settimeout(0.1)
                    self._converse(client, deadline)
        finally:
            self._stop.set()

    def _converse(self, client: socket.socket, deadline: float) -> None:
        state = _Connection()
        frame: bytearray | None = None
        escaped = False
        while not self._stop.is_set() and time.monotonic() < deadline and not state.finished:
            try:
                chunk = client.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            if self.mute:
                continue
            for byte in chunk:
                if frame is None:
                    if byte == SLIP_END:
                        frame = bytearray()
                    else:
                        self._error(f"byte {byte:#04x} outside a SLIP frame")
                    continue
                if escaped:
                    escaped = False
                    if byte == SLIP_ESC_END:
                        frame.append(SLIP_END)
                    elif byte == SLIP_ESC_ESC:
                        frame.append(SLIP_ESC)
                    else:
                        self._error(f"invalid SLIP escape 0xdb {byte:#04x}; frame dropped")
                        frame = None
                    continue
                if byte == SLIP_ESC:
                    escaped = True
                elif byte == SLIP_END:
                    if not frame:  # two delimiters back to back: the second one opens a frame
                        continue
                    self._packet(client, state, bytes(frame))
                    frame = None
                    if state.finished:
                        break
                else:
                    frame.append(byte)
                    if len(frame) > MAX_FRAME:
                        self._error("frame longer than 64 KiB; dropped")
                        frame = None
        self.stub_running = state.stub

    # --- one command -------------------------------------------------------------------------

    def _packet(self, client: socket.socket, state: _Connection, packet: bytes) -> None:
        if len(packet) < 8:
            self._error(f"frame of {len(packet)} bytes is shorter than a command header")
            return
        direction, op, size, checksum = struct.unpack_from("<BBHI", packet)
        data = packet[8:]
        name = OPS.get(op, f"{op:#04x}")
        self.commands.append(name)
        try:
            if direction != 0x00:
                raise Refused("invalid", f"{name}: direction byte {direction:#04x}, expected 0x00 (request)")
            if size != len(data):
                raise Refused("length", f"{name}: length field {size} but {len(data)} data bytes")
            if op not in OPS or (OPS[op] in STUB_ONLY and not state.stub):
                raise Refused("invalid", f"unsupported command {name}")
            handler = getattr(self, f"_cmd_{OPS[op].lower()}")
            result = handler(state, data, checksum)
        except Refused as refused:
            self._error(str(refused))
            self._reply(client, state, op, 0, b"", refused.kind)
            return
        if state.cut:  # the link dropped mid-command: no answer, the connection ends
            state.finished = True
            return
        if not isinstance(result[0], str):  # (value, body): one plain response
            self._reply(client, state, op, *result)
            return
        tag, value = result
        if tag == "sync":  # the loaders answer a sync 8 times
            for _ in range(8):
                self._reply(client, state, op, value, b"")
        elif tag == "start_stub":  # MEM_END answered, then the stub's greeting
            self._reply(client, state, op, 0, b"")
            self._send(client, b"OHAI")
            state.stub = state.attached = True
            state.spi_size = None
            self.stub_started += 1
        elif tag == "leave":  # END with reboot: the stub hands back to the ROM; the ROM runs the app
            self._reply(client, state, op, 0, b"")
            if state.stub:
                state.stub, state.attached = False, False
            else:
                state.finished = True

    def _reply(self, client, state: _Connection, op: int, value: int, body: bytes, error: str | None = None) -> None:
        if state.stub:
            status = bytes([STUB_ERRORS.get(error, STUB_ERRORS["failed"]), 0]) if error else b"\0\0"
        else:
            status = bytes([1, ROM_ERRORS.get(error, ROM_ERRORS["failed"]), 0, 0]) if error else b"\0\0\0\0"
        payload = body + status
        self._send(client, struct.pack("<BBHI", 0x01, op, len(payload), value) + payload)

    @staticmethod
    def _send(client, packet: bytes) -> None:
        escaped = packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")
        try:
            client.sendall(b"\xc0" + escaped + b"\xc0")
        except OSError:
            pass

    def _error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)

    # --- commands ----------------------------------------------------------------------------

    def _cmd_sync(self, state, data, _checksum):
        if data != SYNC_PATTERN:
            raise Refused("invalid", "SYNC: wrong sync pattern")
        return ("sync", 0 if state.stub else ROM_SYNC_VALUE)

    def _cmd_get_security_info(self, state, data, _checksum):
        if data:
            raise Refused("invalid", "GET_SECURITY_INFO takes no data")
        return 0, struct.pack("<IB7BII", 0, 0, *([0] * 7), self.facts.chip_id, 0)

    def _cmd_read_reg(self, state, data, _checksum):
        if len(data) != 4:
            raise Refused("invalid", f"READ_REG: {len(data)} data bytes, expected 4")
        (address,) = struct.unpack("<I", data)
        if address % 4:
            raise Refused("failed", f"READ_REG: unaligned address {address:#x}")
        return self.registers.get(address, 0), b""

    def _cmd_write_reg(self, state, data, _checksum):
        if not data or len(data) % 16:
            raise Refused("invalid", f"WRITE_REG: {len(data)} data bytes, expected a multiple of 16")
        for address, value, mask, _delay in struct.iter_unpack("<IIII", data):
            if address % 4:
                raise Refused("failed", f"WRITE_REG: unaligned address {address:#x}")
            old = self.registers.get(address, 0)
            self.registers[address] = (old & ~mask | value & mask) & 0xFFFFFFFF
            if address == self.facts.spi_base + SPI_CMD and self.registers[address] & SPI_CMD_USR:
                self._spi_user_command(state)
        return 0, b""

    def _spi_user_command(self, state: _Connection) -> None:
        base = self.facts.spi_base
        reg = lambda offset: self.registers.get(base + offset, 0)  # noqa: E731
        command = reg(SPI_USR2) & 0xFF
        self.spi_commands.append(command)
        if not state.attached:
            self._error(f"SPI flash command {command:#04x} before SPI_ATTACH")
        miso_bytes = (reg(SPI_MISO_DLEN) + 8) // 8 if reg(SPI_USR) & SPI_USR_MISO else 0
        if command == 0x9F:  # RDID: manufacturer, memory type, capacity (log2 of the size)
            reply = bytes([FLASH_VENDOR, FLASH_TYPE, self.flash_size.bit_length() - 1])
        elif command == 0x5A:  # RDSFDP at a 24-bit address
            address = reg(SPI_ADDR) & 0xFFFFFF
            reply = (SFDP_TABLE + b"\xff" * 256)[address:address + 4]
        elif command in (0x05, 0x35, 0x15):  # read status registers: nothing protected, not busy
            reply = b"\0\0\0\0"
        elif command in (0x66, 0x99):  # reset enable, reset
            reply = b""
        else:
            reply = b"\xff\xff\xff\xff"
        word = int.from_bytes((reply + b"\xff" * 4)[:4], "little")
        if miso_bytes:
            self.registers[base + SPI_W0] = word & ((1 << (8 * min(miso_bytes, 4))) - 1)
        self.registers[base + SPI_CMD] &= ~SPI_CMD_USR  # done at once

    def _cmd_spi_attach(self, state, data, _checksum):
        expected = 4 if state.stub else 8
        if len(data) != expected:
            raise Refused("invalid", f"SPI_ATTACH: {len(data)} data bytes, the {self._who(state)} takes {expected}")
        state.attached = True
        return 0, b""

    def _cmd_spi_set_params(self, state, data, _checksum):
        if len(data) != 24:
            raise Refused("invalid", f"SPI_SET_PARAMS: {len(data)} data bytes, expected 24")
        _id, total, block, sector, page, status_mask = struct.unpack("<6I", data)
        if (block, sector, page, status_mask) != (0x10000, 0x1000, 0x100, 0xFFFF):
            raise Refused("failed", f"SPI_SET_PARAMS: unexpected geometry {block:#x}/{sector:#x}/{page:#x}/{status_mask:#x}")
        if total > self.flash_size or total == 0:
            raise Refused("failed", f"SPI_SET_PARAMS: size {total:#x}, the flash has {self.flash_size:#x}")
        state.spi_size = total
        return 0, b""

    def _cmd_change_baudrate(self, state, data, _checksum):
        if len(data) != 8:
            raise Refused("invalid", f"CHANGE_BAUDRATE: {len(data)} data bytes, expected 8")
        new, old = struct.unpack("<II", data)
        expected_old = state.baud if state.stub else 0
        if old != expected_old or not 9600 <= new <= 5_000_000:
            raise Refused("failed", f"CHANGE_BAUDRATE: ({new}, {old}), the {self._who(state)} expects old = {expected_old}")
        state.baud = new
        return 0, b""

    # RAM download (the stub upload)

    def _cmd_mem_begin(self, state, data, _checksum):
        if len(data) != 16:
            raise Refused("invalid", f"MEM_BEGIN: {len(data)} data bytes, expected 16")
        size, blocks, block_size, offset = struct.unpack("<4I", data)
        if not 0 < block_size <= 0x1800 or blocks != -(-size // block_size):
            raise Refused("failed", f"MEM_BEGIN: {blocks} blocks of {block_size:#x} for {size} bytes")
        state.download = _Download("mem", offset, size, blocks, block_size)
        state.ram_segments.append((offset, bytearray(size)))
        return 0, b""

    def _cmd_mem_data(self, state, data, checksum):
        download = self._data_block(state, "mem", data, checksum, exact=False)
        payload = data[16:]
        start, memory = state.ram_segments[-1]
        memory[download.cursor:download.cursor + len(payload)] = payload
        download.cursor += len(payload)
        download.next_seq += 1
        return 0, b""

    def _cmd_mem_end(self, state, data, _checksum):
        if len(data) != 8:
            raise Refused("invalid", f"MEM_END: {len(data)} data bytes, expected 8")
        no_entry, entry = struct.unpack("<II", data)
        if no_entry != int(entry == 0):
            raise Refused("invalid", f"MEM_END: flag {no_entry} with entry {entry:#x}")
        if state.download is not None and state.download.kind == "mem" and state.download.next_seq != state.download.blocks:
            raise Refused("failed", "MEM_END before all MEM_DATA blocks")
        state.download = None
        if not entry:
            return 0, b""
        if not any(start <= entry < start + len(memory) for start, memory in state.ram_segments):
            raise Refused("failed", f"MEM_END: entry {entry:#x} is outside every downloaded segment")
        return ("start_stub", entry)

    # Flash download

    def _begin(self, state, data, kind: str):
        name = "FLASH_BEGIN" if kind == "flash" else "FLASH_DEFL_BEGIN"
        if len(data) != 20:  # ESP32-C3 and later ROMs, and the stub, take the 5-word form
            raise Refused("invalid", f"{name}: {len(data)} data bytes, expected 20")
        size, blocks, block_size, offset, encrypted = struct.unpack("<5I", data)
        self._need_flash(state, name)
        if encrypted:
            raise Refused("failed", f"{name}: encrypted writes are not emulated")
        if not state.stub and offset % SECTOR:
            raise Refused("failed", f"{name}: the ROM writes whole sectors, offset {offset:#x} is not aligned")
        if not 0 < block_size <= (0x4000 if state.stub else 0x1800):
            raise Refused("blocksize", f"{name}: block size {block_size:#x}")
        limit = state.spi_size or self.flash_size
        if offset + size > limit:
            raise Refused("failed", f"{name}: {offset:#x}+{size:#x} is past the flash size {limit:#x}")
        if kind == "flash" and blocks != -(-size // block_size):
            raise Refused("failed", f"{name}: {blocks} blocks of {block_size:#x} for {size} bytes")
        if kind == "defl" and (blocks == 0) != (size == 0):
            raise Refused("failed", f"{name}: {blocks} compressed blocks for {size} bytes")
        if size:
            start = offset - offset % SECTOR
            end = -(-(offset + size) // SECTOR) * SECTOR
            self.flash[start:end] = b"\xff" * (end - start)
            self.erases.append((start, end - start))
        state.download = _Download(kind, offset, size, blocks, block_size,
                                   inflater=zlib.decompressobj() if kind == "defl" else None)
        return 0, b""

    def _cmd_flash_begin(self, state, data, _checksum):
        return self._begin(state, data, "flash")

    def _cmd_flash_defl_begin(self, state, data, _checksum):
        return self._begin(state, data, "defl")

    def _data_block(self, state, kind: str, data: bytes, checksum: int, exact: bool) -> _Download:
        name = {"flash": "FLASH_DATA", "defl": "FLASH_DEFL_DATA", "mem": "MEM_DATA"}[kind]
        download = state.download
        if download is None or download.kind != kind:
            raise Refused("not_in_flash_mode" if state.stub else "invalid", f"{name} without a matching BEGIN")
        if len(data) < 16:
            raise Refused("length", f"{name}: {len(data)} bytes, shorter than its 16-byte header")
        length, seq, zero1, zero2 = struct.unpack_from("<4I", data)
        payload = data[16:]
        if length != len(payload) or zero1 or zero2:
            raise Refused("length", f"{name}: header says {length} bytes, {len(payload)} sent")
        if (length != download.block_size) if exact else not 0 < length <= download.block_size:
            raise Refused("blocksize", f"{name}: block of {length} bytes, block size {download.block_size:#x}")
        if seq != download.next_seq:
            raise Refused("failed", f"{name}: sequence {seq}, expected {download.next_seq}")
        if seq >= download.blocks:
            raise Refused("too_much", f"{name}: block {seq} past the {download.blocks} announced")
        expected = CHECKSUM_SEED
        for byte in payload:
            expected ^= byte
        if checksum != expected:
            raise Refused("checksum", f"{name}: checksum {checksum:#04x}, expected {expected:#04x}")
        return download

    def _program(self, state, download: _Download, data: bytes, command: str) -> None:
        """Program `data` at the download cursor (NOR: AND into the erased bytes)."""
        room = download.size - download.cursor
        inside, beyond = data[:room], data[room:]
        if beyond.strip(b"\xff"):
            raise Refused("too_much", f"{command}: data past the {download.size} bytes announced at BEGIN")
        start = download.offset + download.cursor
        limit = state.spi_size or self.flash_size
        if start + len(inside) > limit:
            raise Refused("write", f"{command}: write past the flash size {limit:#x}")
        if self.cut_after is not None and state.programmed + len(inside) >= self.cut_after:
            inside, state.cut = inside[:max(0, self.cut_after - state.programmed)], True
        for index, byte in enumerate(inside):
            self.flash[start + index] &= byte
        state.programmed += len(inside)
        if inside:
            self.writes.append(Write(start, len(inside), command))
        download.cursor += len(inside)

    def _cmd_flash_data(self, state, data, checksum):
        download = self._data_block(state, "flash", data, checksum, exact=True)
        self._program(state, download, data[16:], "FLASH_DATA")
        download.next_seq += 1
        return 0, b""

    def _cmd_flash_defl_data(self, state, data, checksum):
        download = self._data_block(state, "defl", data, checksum, exact=False)
        try:
            produced = download.inflater.decompress(data[16:], download.size - download.cursor + 1)
        except zlib.error as error:
            raise Refused("inflate", f"FLASH_DEFL_DATA: {error}") from None
        if download.inflater.unconsumed_tail or len(produced) > download.size - download.cursor:
            raise Refused("too_much", f"FLASH_DEFL_DATA: more than the {download.size} bytes announced")
        self._program(state, download, produced, "FLASH_DEFL_DATA")
        download.next_seq += 1
        return 0, b""

    def _end(self, state, data, kind: str):
        name = "FLASH_END" if kind == "flash" else "FLASH_DEFL_END"
        if len(data) != 4:
            raise Refused("invalid", f"{name}: {len(data)} data bytes, expected 4")
        (stay,) = struct.unpack("<I", data)
        download = state.download
        if download is None or download.kind != kind:
            raise Refused("not_in_flash_mode" if state.stub else "invalid", f"{name} without a matching BEGIN")
        complete = download.next_seq == download.blocks and (kind == "flash" or download.inflater.eof or download.size == 0)
        if not complete:
            raise Refused("not_enough", f"{name}: {download.next_seq} of {download.blocks} blocks, "
                                        f"{download.cursor} of {download.size} bytes")
        state.download = None
        if stay:
            return 0, b""
        return ("leave", 0)

    def _cmd_flash_end(self, state, data, _checksum):
        return self._end(state, data, "flash")

    def _cmd_flash_defl_end(self, state, data, _checksum):
        return self._end(state, data, "defl")

    def _cmd_spi_flash_md5(self, state, data, _checksum):
        if len(data) != 16:
            raise Refused("invalid", f"SPI_FLASH_MD5: {len(data)} data bytes, expected 16")
        address, size, zero1, zero2 = struct.unpack("<4I", data)
        self._need_flash(state, "SPI_FLASH_MD5")
        limit = state.spi_size or self.flash_size
        if zero1 or zero2 or address + size > limit:
            raise Refused("failed", f"SPI_FLASH_MD5: {address:#x}+{size:#x} outside the flash ({limit:#x})")
        digest = hashlib.md5(self.flash[address:address + size])
        return 0, digest.digest() if state.stub else digest.hexdigest().encode()

    def _cmd_erase_region(self, state, data, _checksum):
        if len(data) != 8:
            raise Refused("invalid", f"ERASE_REGION: {len(data)} data bytes, expected 8")
        offset, size = struct.unpack("<II", data)
        if offset % SECTOR or size % SECTOR or offset + size > (state.spi_size or self.flash_size):
            raise Refused("failed", f"ERASE_REGION: {offset:#x}+{size:#x} is not whole sectors inside the flash")
        self.flash[offset:offset + size] = b"\xff" * size
        self.erases.append((offset, size))
        return 0, b""

    def _need_flash(self, state: _Connection, name: str) -> None:
        if not state.attached:
            raise Refused("failed", f"{name} before SPI_ATTACH (the ROM does not attach the flash by itself)")

    @staticmethod
    def _who(state: _Connection) -> str:
        return "stub" if state.stub else "ROM"

