"""A minimal ELF32 little-endian reader for the hot paths of the link stage: section headers,
symbols and RELA records, unpacked in bulk with struct. pyelftools reads each symbol through a
construct parser, which dominated the build time (tens of thousands of `.L` labels per app);
dwarf.py reads DWARF the same way; the debugger support still uses pyelftools."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cached_property

from .errors import DynappsError

EM_RISCV = 243
SHF_ALLOC = 0x2
SHT_PROGBITS = 1
SHT_RELA = 4
SHT_NOBITS = 8
SHN_UNDEF = 0
SHN_ABS = 0xFFF1
STB_LOCAL = 0
STT_OBJECT = 1
STT_FUNC = 2
STT_SECTION = 3

_HEADER = struct.Struct("<16sHHIIIIIHHHHHH")
_SECTION = struct.Struct("<IIIIIIIIII")
_SYMBOL = struct.Struct("<IIIBBH")
_RELA = struct.Struct("<IIi")


@dataclass(frozen=True)
class Section:
    index: int
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int

    @property
    def allocated(self) -> bool:
        return bool(self.flags & SHF_ALLOC)


@dataclass(frozen=True)
class Symbol:
    name: str
    value: int
    size: int
    bind: int
    type: int
    shndx: int


class Elf32:
    def __init__(self, path: str, data: bytes | None = None):
        if data is None:
            with open(path, "rb") as stream:
                data = stream.read()
        self.data = data
        if self.data[:4] != b"\x7fELF":
            raise DynappsError("not an ELF file: delete it and build again", path)
        try:  # everything read later is checked here once: a damaged file is one clear error
            if len(self.data) < _HEADER.size:
                raise ValueError(f"{len(self.data)} bytes, shorter than the ELF header")
            fields = _HEADER.unpack_from(self.data)
            if fields[0][4] != 1 or fields[0][5] != 1 or fields[2] != EM_RISCV:
                raise DynappsError("not a little-endian ELF32 RISC-V file (an object built for another "
                                   "target, e.g. a .S assembled without the chip's -march/-mabi)", path)
            self._shoff, self._shnum, self._shstrndx = fields[6], fields[12], fields[13]
            self._check_bounds()
        except (struct.error, ValueError, IndexError, UnicodeDecodeError) as error:
            raise DynappsError(f"not a valid ELF32 object ({error}): it is truncated or corrupt; "
                               "delete it and build again", path) from None

    def _check_bounds(self) -> None:
        table_end = self._shoff + self._shnum * _SECTION.size
        if table_end > len(self.data):
            raise ValueError(f"its section headers end at {table_end:#x}, past the end of the file "
                             f"({len(self.data):#x})")
        if self._shnum and self._shstrndx >= self._shnum:
            raise ValueError(f"section name table {self._shstrndx} of {self._shnum} sections")
        for section in self.sections:
            if section.type != SHT_NOBITS and section.offset + section.size > len(self.data):
                raise ValueError(f"section {section.name} ends at {section.offset + section.size:#x}, "
                                 f"past the end of the file ({len(self.data):#x})")

    @classmethod
    def from_bytes(cls, data: bytes, name: str) -> "Elf32":
        """An ELF file held in memory (an archive member); `name` is for messages."""
        return cls(name, data)

    @cached_property
    def sections(self) -> list[Section]:
        raw = [_SECTION.unpack_from(self.data, self._shoff + i * _SECTION.size) for i in range(self._shnum)]
        names = raw[self._shstrndx][4] if raw else 0
        return [Section(i, self._string(names, r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8])
                for i, r in enumerate(raw)]

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def _string(self, table_offset: int, index: int) -> str:
        start = table_offset + index
        return self.data[start:self.data.index(b"\0", start)].decode()

    @cached_property
    def _symtab(self) -> Section | None:
        return self.section(".symtab")

    def symbol(self, index: int) -> Symbol:
        symtab = self._symtab
        name, value, size, info, _other, shndx = _SYMBOL.unpack_from(self.data, symtab.offset + index * _SYMBOL.size)
        strtab = self.sections[symtab.link].offset
        return Symbol(self._string(strtab, name), value, size, info >> 4, info & 0xF, shndx)

    def symbol_section_index(self, index: int) -> int:
        return _SYMBOL.unpack_from(self.data, self._symtab.offset + index * _SYMBOL.size)[5]

    def global_symbols(self) -> list[Symbol]:
        """Every non-local named symbol. The ELF format puts the locals (an app's thousands of `.L`
        labels) first and the symbol table's sh_info says where they end: they are not read."""
        symtab = self._symtab
        if symtab is None:
            return []
        strtab = self.sections[symtab.link].offset
        start = symtab.offset + min(symtab.info * _SYMBOL.size, symtab.size)
        return [Symbol(self._string(strtab, name), value, size, info >> 4, info & 0xF, shndx)
                for name, value, size, info, _other, shndx in _SYMBOL.iter_unpack(self.data[start:symtab.offset + symtab.size])
                if info >> 4 != STB_LOCAL and name]

    def relocations(self, section: Section):
        """(offset, type, symbol index, addend) of a RELA section."""
        for offset, info, addend in _RELA.iter_unpack(self.data[section.offset:section.offset + section.size]):
            yield offset, info & 0xFF, info >> 8, addend

    def relocation_sections(self):
        """(RELA section, the section it applies to) for every RELA section."""
        for section in self.sections:
            if section.type == SHT_RELA:
                yield section, self.sections[section.info]
