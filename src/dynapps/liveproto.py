"""The live agent's protocol, host side: frames, their error codes, and how a call's arguments are
lowered to the registers of the RISC-V ilp32 / ilp32f calling convention (docs/live.md).

The C side is firmware/components/dynapps/agent/dynapps_agent.c; the error names are read from its
header (and the loader's from dynapps.h), so the two lists can't drift apart. No I/O here:
remote.py owns the serial port.
"""

from __future__ import annotations

import functools
import re
import struct
import zlib
from dataclasses import dataclass

from . import csig, native
from .errors import DynappsError

VERSION = 1
MAGIC = b"\xa5\x5a"
HEADER = struct.Struct("<2sBBII")  # magic, version, type, sequence, payload length
CRC = struct.Struct("<I")
ANSWER = 0x80
ERROR = 0x7F

HELLO, PUSH_BEGIN, PUSH_DATA, PUSH_END, LOAD, UNLOAD, CALL = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
BUF_ALLOC, BUF_WRITE, BUF_READ, BUF_FREE = 0x08, 0x09, 0x0A, 0x0B

RETURN_INT, RETURN_FLOAT = 0, 1
CALL_REGS = 8
NAME_SIZE = 16
HELLO_FIXED = struct.Struct("<BBHIIIIII B3x")  # 32 bytes, then the app records
APP_RECORD = struct.Struct("<16sBxHHHI")  # 28 bytes
CALL_FIXED = struct.Struct("<16sBBBB")
ERROR_PAYLOAD = struct.Struct("<Ii")


@functools.cache
def _error_names(header: str, macro: str) -> list[str]:
    """The names of an X-macro list of error codes in a C header, in enum order (read when first
    needed: importing this module reads no file)."""
    text = (native.COMPONENT / "include" / header).read_text()
    block = re.search(rf"#define {macro}\(X\)(.*?)\n\s*\n", text, re.S)
    if not block:
        raise DynappsError(f"{header}: no {macro} list", str(native.COMPONENT / "include" / header))
    return re.findall(r"X\((\w+)\)", block.group(1))


def agent_errors() -> list[str]:
    return _error_names("dynapps_agent.h", "DYNAPPS_AGENT_ERRORS")


def loader_errors() -> list[str]:
    return _error_names("dynapps.h", "DYNAPPS_ERRORS")


def error_name(names: list[str], code: int) -> str:
    return names[code] if 0 <= code < len(names) else f"unknown error {code}"


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def encode(frame_type: int, sequence: int, payload: bytes = b"") -> bytes:
    """One frame: header, payload, CRC-32 of everything after the magic."""
    body = HEADER.pack(MAGIC, VERSION, frame_type, sequence & 0xFFFFFFFF, len(payload)) + payload
    return body + CRC.pack(crc32(body[2:]))


@dataclass(frozen=True)
class Frame:
    type: int
    sequence: int
    payload: bytes

    @property
    def is_error(self) -> bool:
        return self.type == ERROR

    def error(self) -> tuple[str, str | None]:
        """(agent error name, loader error name or None) of an error frame."""
        agent, loader = ERROR_PAYLOAD.unpack_from(self.payload)
        agent_name = error_name(agent_errors(), agent)
        return agent_name, error_name(loader_errors(), loader) if agent_name == "DYNAPPS_AGENT_ERR_LOADER" else None


class FrameReader:
    """Splits what the agent sends into frames and the log text around them: a byte that does
    not start a frame is the firmware's own output (printf, ESP_LOG) on the same line."""

    def __init__(self, on_log):
        self._pending = bytearray()
        self._on_log = on_log
        self._line = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._pending += data
        frames = []
        while True:
            start = self._pending.find(MAGIC)
            if start < 0:  # all log, but a last byte that may begin the magic
                keep = 1 if self._pending[-1:] == MAGIC[:1] else 0
                self._log(bytes(self._pending[:len(self._pending) - keep]))
                del self._pending[:len(self._pending) - keep]
                return frames
            self._log(bytes(self._pending[:start]))
            del self._pending[:start]
            if len(self._pending) < HEADER.size:
                return frames
            _magic, _version, frame_type, sequence, size = HEADER.unpack_from(self._pending)
            end = HEADER.size + size + CRC.size
            if size > 1 << 20:  # not a frame: a log byte that looked like the magic
                self._log(bytes(self._pending[:1]))
                del self._pending[:1]
                continue
            if len(self._pending) < end:
                return frames
            body = bytes(self._pending[:end])
            if CRC.unpack_from(body, end - CRC.size)[0] != crc32(body[2:end - CRC.size]):
                self._log(body[:1])
                del self._pending[:1]
                continue
            frames.append(Frame(frame_type, sequence, body[HEADER.size:end - CRC.size]))
            del self._pending[:end]

    def _log(self, data: bytes) -> None:
        for byte in data:
            if byte == 0x0A:
                self._on_log(self._line.decode("utf-8", errors="replace").rstrip("\r"))
                self._line.clear()
            else:
                self._line.append(byte)


def name_field(name: str) -> bytes:
    raw = name.encode()
    if not raw or len(raw) > NAME_SIZE:
        raise DynappsError(f"'{name}' is not an app name (1 to {NAME_SIZE} characters)")
    return raw.ljust(NAME_SIZE, b"\0")


# ---------------------------------------------------------------- values and registers

# Integer types: (bytes, signed). `char` is unsigned on RISC-V.
_INTEGERS = {
    "char": (1, False), "signed char": (1, True), "unsigned char": (1, False), "short": (2, True),
    "unsigned short": (2, False), "int": (4, True), "unsigned int": (4, False), "long": (4, True),
    "unsigned long": (4, False), "long long": (8, True), "unsigned long long": (8, False), "bool": (1, False),
    "int8_t": (1, True), "uint8_t": (1, False), "int16_t": (2, True), "uint16_t": (2, False), "int32_t": (4, True),
    "uint32_t": (4, False), "int64_t": (8, True), "uint64_t": (8, False), "intptr_t": (4, True),
    "uintptr_t": (4, False), "size_t": (4, False), "ptrdiff_t": (4, True),
}
_STRUCT_CODES = {(1, True): "b", (1, False): "B", (2, True): "h", (2, False): "H", (4, True): "i", (4, False): "I",
                 (8, True): "q", (8, False): "Q"}


@dataclass(frozen=True)
class ValueType:
    """How one argument or return value travels: an integer of `size` bytes, a float, a double, a
    pointer (an address), or nothing (void)."""

    kind: str  # int | float | double | pointer | void
    size: int = 4
    signed: bool = False
    c_name: str = ""

    @property
    def struct_code(self) -> str:
        """The struct module's letter for one element of this type (arrays behind pointers)."""
        if self.kind == "float":
            return "f"
        if self.kind == "double":
            return "d"
        return _STRUCT_CODES[(self.size, self.signed)]


def value_type(ctype: csig.CType) -> ValueType | None:
    """The ValueType of a C type, None for one a remote call can't pass (struct or union by
    value, long double, a typedef from the app's headers)."""
    name = ctype.name
    if ctype.kind == "pointer":
        return ValueType("pointer", 4, False, str(ctype))
    if ctype.kind == "enum":
        return ValueType("int", 4, True, str(ctype))
    if ctype.kind in ("base", "named"):
        if name == "void":
            return ValueType("void", 0, False, name)
        if name == "float":
            return ValueType("float", 4, True, name)
        if name == "double":
            return ValueType("double", 8, True, name)
        if name in _INTEGERS:
            size, signed = _INTEGERS[name]
            return ValueType("int", size, signed, name)
    return None


def element_type(pointer: csig.CType) -> ValueType:
    """What a pointer points to, as array elements: void and char pointers are bytes."""
    target = pointer.target
    if target.kind == "pointer":
        return ValueType("pointer", 4, False, str(target))
    found = value_type(target)
    if found is None or found.kind == "void":
        return ValueType("int", 1, False, "uint8_t")
    return found


def integer_bits(value, vtype: ValueType, what: str) -> int:
    """`value` as the two's-complement bits of `vtype`, refused when it does not fit."""
    if isinstance(value, bool) or vtype.c_name == "bool":
        value = int(bool(value)) if vtype.c_name == "bool" else int(value)
    if not isinstance(value, int):
        try:
            value = int(value.__index__())
        except (AttributeError, TypeError):
            raise DynappsError(f"{what}: expected an integer for {vtype.c_name}, got {type(value).__name__}") from None
    bits = 8 * vtype.size
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if vtype.signed else (0, (1 << bits) - 1)
    if not low <= value <= high:
        raise DynappsError(f"{what}: {value} does not fit {vtype.c_name} ({low}..{high})")
    return value & ((1 << bits) - 1)


@dataclass
class Registers:
    """The argument registers a call loads, filled in the calling convention's order."""

    fpu: bool
    ints: list
    floats: list

    def add_word(self, word: int, what: str) -> None:
        if len(self.ints) >= CALL_REGS:
            raise DynappsError(f"{what}: the arguments need more than {CALL_REGS} registers; remote calls pass "
                               "no arguments on the stack")
        self.ints.append(word & 0xFFFFFFFF)

    def add(self, vtype: ValueType, value, what: str) -> None:
        if vtype.kind == "float":
            bits = struct.unpack("<I", struct.pack("<f", float(value)))[0]
            if self.fpu and len(self.floats) < CALL_REGS:
                self.floats.append(bits)  # fa0..fa7 (ilp32f), then the integer registers
            else:
                self.add_word(bits, what)
        elif vtype.kind == "double" or vtype.size == 8:  # 2 x XLEN: a register pair, low word first
            wide = (struct.unpack("<Q", struct.pack("<d", float(value)))[0] if vtype.kind == "double"
                    else integer_bits(value, vtype, what))
            if len(self.ints) > CALL_REGS - 2:
                raise DynappsError(f"{what}: a 64-bit argument would be split between a7 and the stack, which "
                                   "remote calls do not do")
            self.add_word(wide, what)
            self.add_word(wide >> 32, what)
        else:
            word = integer_bits(value, vtype, what)
            if vtype.signed and word >> (8 * vtype.size - 1):  # narrower signed values are sign-extended
                word |= (0xFFFFFFFF << (8 * vtype.size)) & 0xFFFFFFFF
            self.add_word(word, what)


def return_kind(vtype: ValueType, fpu: bool) -> int:
    return RETURN_FLOAT if vtype.kind == "float" and fpu else RETURN_INT


def decode_return(vtype: ValueType, low: int, high: int):
    """The returned value from a0 and a1 (or fa0's bits in `low`)."""
    if vtype.kind == "void":
        return None
    if vtype.kind == "float":
        return struct.unpack("<f", struct.pack("<I", low))[0]
    if vtype.kind == "double":
        return struct.unpack("<d", struct.pack("<II", low, high))[0]
    if vtype.kind == "pointer":
        return low
    bits = 8 * vtype.size
    value = (low | high << 32) & ((1 << bits) - 1)
    if vtype.c_name == "bool":
        return bool(value)
    if vtype.signed and value >> (bits - 1):
        value -= 1 << bits
    return value
