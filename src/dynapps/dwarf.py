"""Just enough DWARF (versions 2 to 5, the 32-bit format) to read what an app declares: the
debugging information entries (DIEs) of .debug_info, each with its tag, its name, type, flags and
sibling, and its children. The signature check (signatures.py) and the C library's data-import
check (clib.py) read it on every link; pyelftools decoded each entry through construct, which
was half of a link's Python time.

Tags and attributes are named as the standard names them ("DW_TAG_subprogram"); attributes
other than the few read here are skipped undecoded. References are offsets into .debug_info.
"""

from __future__ import annotations

import struct
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

from .elf32 import Elf32
from .errors import DynappsError

SHF_COMPRESSED = 0x800
ELFCOMPRESS_ZLIB = 1

TAGS = {
    0x01: "DW_TAG_array_type", 0x02: "DW_TAG_class_type", 0x04: "DW_TAG_enumeration_type",
    0x05: "DW_TAG_formal_parameter", 0x0B: "DW_TAG_lexical_block", 0x0D: "DW_TAG_member",
    0x0F: "DW_TAG_pointer_type", 0x10: "DW_TAG_reference_type", 0x11: "DW_TAG_compile_unit",
    0x13: "DW_TAG_structure_type", 0x15: "DW_TAG_subroutine_type", 0x16: "DW_TAG_typedef",
    0x17: "DW_TAG_union_type", 0x18: "DW_TAG_unspecified_parameters", 0x24: "DW_TAG_base_type",
    0x26: "DW_TAG_const_type", 0x28: "DW_TAG_enumerator", 0x2E: "DW_TAG_subprogram",
    0x34: "DW_TAG_variable", 0x35: "DW_TAG_volatile_type", 0x37: "DW_TAG_restrict_type",
    0x39: "DW_TAG_namespace", 0x3B: "DW_TAG_unspecified_type", 0x41: "DW_TAG_type_unit",
    0x42: "DW_TAG_rvalue_reference_type", 0x47: "DW_TAG_atomic_type", 0x08: "DW_TAG_imported_declaration",
    0x0A: "DW_TAG_label", 0x1C: "DW_TAG_inheritance", 0x1D: "DW_TAG_inlined_subroutine",
    0x1F: "DW_TAG_ptr_to_member_type", 0x21: "DW_TAG_subrange_type", 0x2F: "DW_TAG_template_type_param",
    0x30: "DW_TAG_template_value_param", 0x3A: "DW_TAG_imported_module", 0x48: "DW_TAG_call_site",
    0x49: "DW_TAG_call_site_parameter", 0x4109: "DW_TAG_GNU_call_site", 0x410A: "DW_TAG_GNU_call_site_parameter",
}  # others are named by number: DW_TAG_0x...
# The attributes read; every other one is skipped by its form.
ATTRIBUTES = {
    0x01: "DW_AT_sibling", 0x03: "DW_AT_name", 0x3C: "DW_AT_declaration", 0x3F: "DW_AT_external",
    0x49: "DW_AT_type", 0x6E: "DW_AT_linkage_name", 0x72: "DW_AT_str_offsets_base",
    0x2007: "DW_AT_MIPS_linkage_name",
}

# Forms by how their value is stored (DWARF 5, section 7.5.6).
_ADDR, _REF_ADDR, _STRING, _INDIRECT = 0x01, 0x10, 0x08, 0x16
_FIXED_SIZE = {0x05: 2, 0x06: 4, 0x07: 8, 0x0B: 1, 0x0C: 1, 0x0E: 4, 0x11: 1, 0x12: 2, 0x13: 4, 0x14: 8,
               0x17: 4, 0x19: 0, 0x1C: 4, 0x1D: 4, 0x1E: 16, 0x1F: 4, 0x20: 8, 0x21: 0, 0x24: 8,
               0x25: 1, 0x26: 2, 0x27: 3, 0x28: 4, 0x29: 1, 0x2A: 2, 0x2B: 3, 0x2C: 4}
_ULEB = {0x0F, 0x15, 0x1A, 0x1B, 0x22, 0x23}  # udata, ref_udata, strx, addrx, loclistx, rnglistx
_BLOCK_LENGTH = {0x0A: 1, 0x03: 2, 0x04: 4}  # block1/2/4; block (0x09) and exprloc (0x18): ULEB
_UNIT_REFS = {0x11, 0x12, 0x13, 0x14, 0x15}  # ref1/2/4/8/udata: offsets from the unit's start
_STRP = {0x0E: ".debug_str", 0x1F: ".debug_line_str"}  # strp, line_strp
_STRX = {0x1A, 0x25, 0x26, 0x27, 0x28}  # strx, strx1-4
_FLAG, _FLAG_PRESENT, _IMPLICIT_CONST, _SDATA = 0x0C, 0x19, 0x21, 0x0D
_UNIT_TYPE_EXTRA = {1: 0, 2: 12, 3: 0, 4: 8, 5: 8, 6: 12}  # DWARF 5 unit header bytes after the abbrev offset


class CorruptDwarf(Exception):
    """Raised inside the reader; `reading` turns it into one DynappsError naming the file."""


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _sleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return (result - (1 << shift) if byte & 0x40 else result), pos


def _c_string(data: bytes, pos: int) -> str:
    return data[pos:data.index(b"\0", pos)].decode(errors="replace")


@dataclass(frozen=True)
class _Abbrev:
    tag: str
    has_children: bool
    specs: tuple  # (attribute name or None, form, implicit constant)


class DebugInfo:
    """The .debug_info of one ELF file, read on demand."""

    def __init__(self, sections: dict[str, bytes]):
        self.sections = sections
        self.info = sections[".debug_info"]

    def section(self, name: str) -> bytes:
        if name not in self.sections:
            raise CorruptDwarf(f"{name} is missing")
        return self.sections[name]

    @cached_property
    def units(self) -> list[Unit]:
        units, pos = [], 0
        while pos < len(self.info):
            unit = Unit(self, pos)
            units.append(unit)
            pos = unit.end
        return units

    def die_at(self, offset: int) -> Die:
        for unit in self.units:
            if unit.first_die <= offset < unit.end:
                return Die(unit, offset)
        raise CorruptDwarf(f"a reference to {offset:#x} is outside every unit")

    def every_die(self):
        """Every DIE of every unit, in file order (nesting ignored)."""
        for unit in self.units:
            pos = unit.first_die
            while pos < unit.end:
                code, after_code = _uleb(self.info, pos)
                if code == 0:  # the end of a list of children
                    pos = after_code
                    continue
                die = Die(unit, pos)
                yield die
                pos = die.attributes_end


class Unit:
    """One compilation unit: its header, its abbreviations, where its DIEs are."""

    def __init__(self, debug: DebugInfo, offset: int):
        data = debug.info
        length, version = struct.unpack_from("<IH", data, offset)
        if length >= 0xFFFFFFF0:
            raise CorruptDwarf("64-bit DWARF is not supported (the compiler was asked for -gdwarf64)")
        if not 2 <= version <= 5:
            raise CorruptDwarf(f"DWARF version {version} at {offset:#x} (2 to 5 are read)")
        self.debug, self.offset, self.version, self.end = debug, offset, version, offset + 4 + length
        if version >= 5:
            unit_type, self.address_size, abbrev_offset = struct.unpack_from("<BBI", data, offset + 6)
            self.first_die = offset + 12 + _UNIT_TYPE_EXTRA.get(unit_type, 0)
        else:
            abbrev_offset, self.address_size = struct.unpack_from("<IB", data, offset + 6)
            self.first_die = offset + 11
        if self.end > len(data):
            raise CorruptDwarf(f"the unit at {offset:#x} ends past the section")
        self.abbrevs = _abbreviations(debug.section(".debug_abbrev"), abbrev_offset)
        self.str_offsets_base = 8  # DWARF 5's default: just after the first table's header

    def top(self) -> Die:
        return Die(self, self.first_die)


def _abbreviations(data: bytes, pos: int) -> dict[int, _Abbrev]:
    table = {}
    while True:
        code, pos = _uleb(data, pos)
        if code == 0:
            return table
        tag, pos = _uleb(data, pos)
        has_children = data[pos] != 0
        pos += 1
        specs = []
        while True:
            attribute, pos = _uleb(data, pos)
            form, pos = _uleb(data, pos)
            if attribute == 0 and form == 0:
                break
            constant = None
            if form == _IMPLICIT_CONST:
                constant, pos = _sleb(data, pos)
            specs.append((ATTRIBUTES.get(attribute), form, constant))
        table[code] = _Abbrev(TAGS.get(tag, f"DW_TAG_{tag:#x}"), has_children, tuple(specs))


class Die:
    """One debugging information entry, decoded when made: tag, attributes read, where its
    attributes end (its children, if it has any, start there)."""

    __slots__ = ("unit", "offset", "tag", "has_children", "attributes", "attributes_end")

    def __init__(self, unit: Unit, offset: int):
        data = unit.debug.info
        code, pos = _uleb(data, offset)
        abbrev = unit.abbrevs.get(code)
        if abbrev is None:
            raise CorruptDwarf(f"abbreviation {code} at {offset:#x} is not in the unit's table")
        self.unit, self.offset, self.tag, self.has_children = unit, offset, abbrev.tag, abbrev.has_children
        self.attributes: dict = {}
        for name, form, constant in abbrev.specs:
            value, pos = _value(unit, form, constant, pos)
            if name:
                self.attributes[name] = value
        self.attributes_end = pos
        if "DW_AT_str_offsets_base" in self.attributes:
            unit.str_offsets_base = self.attributes["DW_AT_str_offsets_base"]
        for name, value in self.attributes.items():
            if isinstance(value, _StringIndex):
                self.attributes[name] = value.resolve(unit)

    @property
    def name(self) -> str | None:
        return self.attributes.get("DW_AT_name")

    def type(self) -> Die | None:
        """The DIE its DW_AT_type names (None: void)."""
        offset = self.attributes.get("DW_AT_type")
        return None if offset is None else self.unit.debug.die_at(offset)

    def children(self):
        if not self.has_children:
            return
        pos = self.attributes_end
        data = self.unit.debug.info
        while pos < self.unit.end:
            if data[pos] == 0:
                return
            child = Die(self.unit, pos)
            yield child
            following = child.end()
            if following <= pos:
                raise CorruptDwarf(f"the DIE at {pos:#x} names its sibling at {following:#x}, not after it")
            pos = following

    def end(self) -> int:
        """Where its next sibling starts: DW_AT_sibling, else past its children."""
        if "DW_AT_sibling" in self.attributes:
            return self.attributes["DW_AT_sibling"]
        if not self.has_children:
            return self.attributes_end
        last = None
        for last in self.children():
            pass
        pos = last.end() if last else self.attributes_end
        return pos + 1  # the null entry that ends the children


@dataclass(frozen=True)
class _StringIndex:
    """A strx form's index, resolved once the unit's DW_AT_str_offsets_base is known."""
    index: int

    def resolve(self, unit: Unit) -> str:
        debug = unit.debug
        offset = struct.unpack_from("<I", debug.section(".debug_str_offsets"), unit.str_offsets_base + 4 * self.index)[0]
        return _c_string(debug.section(".debug_str"), offset)


def _value(unit: Unit, form: int, constant, pos: int):
    """(value, position after it) of one attribute; values nobody reads are returned as None."""
    data = unit.debug.info
    if form in _UNIT_REFS:
        if form == 0x15:
            value, pos = _uleb(data, pos)
        else:
            size = _FIXED_SIZE[form]
            value, pos = int.from_bytes(data[pos:pos + size], "little"), pos + size
        return unit.offset + value, pos
    if form in _STRP:
        offset = struct.unpack_from("<I", data, pos)[0]
        return _c_string(unit.debug.section(_STRP[form]), offset), pos + 4
    if form == _STRING:
        end = data.index(b"\0", pos)
        return data[pos:end].decode(errors="replace"), end + 1
    if form in _STRX:
        if form == 0x1A:
            index, pos = _uleb(data, pos)
        else:
            size = _FIXED_SIZE[form]
            index, pos = int.from_bytes(data[pos:pos + size], "little"), pos + size
        return _StringIndex(index), pos
    if form == _FLAG:
        return data[pos] != 0, pos + 1
    if form == _FLAG_PRESENT:
        return True, pos
    if form == _IMPLICIT_CONST:
        return constant, pos
    if form in _FIXED_SIZE:
        size = _FIXED_SIZE[form]
        return int.from_bytes(data[pos:pos + size], "little"), pos + size
    if form == _ADDR:
        return None, pos + unit.address_size
    if form == _REF_ADDR:
        size = unit.address_size if unit.version == 2 else 4
        return int.from_bytes(data[pos:pos + size], "little"), pos + size
    if form in _ULEB:
        return _uleb(data, pos)
    if form == _SDATA:
        return _sleb(data, pos)
    if form in _BLOCK_LENGTH:
        size = _BLOCK_LENGTH[form]
        length = int.from_bytes(data[pos:pos + size], "little")
        return None, pos + size + length
    if form in (0x09, 0x18):  # block, exprloc
        length, pos = _uleb(data, pos)
        return None, pos + length
    if form == _INDIRECT:
        actual, pos = _uleb(data, pos)
        return _value(unit, actual, constant, pos)
    raise CorruptDwarf(f"attribute form {form:#x} is unknown")


_SECTIONS = (".debug_info", ".debug_abbrev", ".debug_str", ".debug_line_str", ".debug_str_offsets")


def read(path: str, elf: Elf32 | None = None) -> DebugInfo | None:
    """The ELF file's debug information; None when it has none (built without -g). Read it
    inside `reading(path)`."""
    elf = elf or Elf32(path)
    sections = {}
    for section in elf.sections:
        if section.name in _SECTIONS:
            data = elf.data[section.offset:section.offset + section.size]
            sections[section.name] = _decompressed(data, path, section.name) if section.flags & SHF_COMPRESSED else data
    return DebugInfo(sections) if ".debug_info" in sections else None


def _decompressed(data: bytes, path: str, name: str) -> bytes:
    """A section compressed by -gz (ELF32 compression header, then zlib)."""
    kind, size, _align = struct.unpack_from("<III", data)
    if kind != ELFCOMPRESS_ZLIB:
        raise DynappsError(f"section {name} is compressed with scheme {kind}, which dynapps can't read "
                           "(build with -gz=zlib or without -gz)", path)
    return zlib.decompress(data[12:])[:size]


@contextmanager
def reading(path: str):
    """A damaged or unsupported .debug_info is one DynappsError naming the file, whichever DIE
    reveals it (the reader decodes on demand)."""
    try:
        yield
    except (CorruptDwarf, struct.error, IndexError, ValueError, RecursionError, zlib.error) as error:
        raise DynappsError(f"its debug information (DWARF) can't be read ({error}): the file is truncated "
                           "or corrupt, or built with unusual -g options; delete it and build again",
                           path) from None
