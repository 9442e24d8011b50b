"""Attribute the instructions an emulator run executes to phases, by pc ranges of the firmware.

Static part (`FirmwareMap`): from the firmware ELF's symbols and DWARF, for every instruction
address of a compilation unit, the chain of functions it belongs to, outermost first, each with
the source line executing in it: `[(load_image, 612), (check_contents, 301), (hash_ok, 244)]`.
Inlined static functions are told apart through DWARF's inlined-subroutine records (their pc
ranges and call lines), so the loader core needs no `noinline` to be profiled.

Dynamic part (`Profiler`): a Unicorn block hook on the machine's `uc`. Each translated block is
decoded once (RV32 with C: 2- or 4-byte instructions) and its instructions classified by a
caller-supplied `classify(address) -> phase | None`. `None` means "a library routine": its
instructions count for the phase of whoever called it (memcpy called while copying an image is
copying, called while hashing is hashing). Those calls are tracked with a shadow stack: at a
library function's entry the return address (ra) is pushed with the caller's phase, and popped
when execution comes back to it.

Counts are split into segments at the emulator's benchmark marks (`Machine.marks`): a mark
written inside a block is seen at the start of the next block, so a segment boundary can be
off by the few instructions that follow the mark store in its block (harness code, never the
loader's). Totals always come from the emulator's exact counter (`RunResult.between_marks`);
the profile gives the split.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.elffile import ELFFile


@dataclass(frozen=True)
class _Interval:
    start: int
    end: int
    depth: int
    name: str
    call_line: int | None  # for inlined subroutines: the line of the call in the enclosing function


@dataclass
class _CompileUnit:
    name: str
    ranges: list[tuple[int, int]]
    intervals: list[_Interval] = field(default_factory=list)
    rows: list[tuple[int, int, str]] = field(default_factory=list)  # (address, line, file) sorted
    row_addresses: list[int] = field(default_factory=list)


class FirmwareMap:
    """Where each address of a firmware ELF belongs: compilation unit, function chain, line."""

    def __init__(self, elf_path, detailed_units: tuple[str, ...] = ()):
        """`detailed_units`: suffixes of the compilation units whose function chains and lines
        are wanted (reading every unit's DWARF trees would be slow and is not needed)."""
        self.path = Path(elf_path)
        self.units: list[_CompileUnit] = []
        self.functions: dict[int, str] = {}  # start address -> name (STT_FUNC)
        self._unit_starts: list[tuple[int, int, int]] = []  # (start, end, unit index)
        with open(self.path, "rb") as stream:
            elf = ELFFile(stream)
            self._read_symbols(elf)
            dwarf = elf.get_dwarf_info()
            ranges = dwarf.range_lists()
            for cu in dwarf.iter_CUs():
                top = cu.get_top_DIE()
                name = top.attributes["DW_AT_name"].value.decode() if "DW_AT_name" in top.attributes else "?"
                unit = _CompileUnit(name, self._die_ranges(top, ranges, cu))
                if name.endswith(detailed_units) and detailed_units:
                    self._read_intervals(top, ranges, cu, unit)
                    self._read_lines(dwarf, cu, unit)
                index = len(self.units)
                self.units.append(unit)
                self._unit_starts += [(start, end, index) for start, end in unit.ranges]
        self._unit_starts.sort()
        self._starts = [start for start, _, _ in self._unit_starts]

    # ------------------------------------------------------------ reading

    def _read_symbols(self, elf: ELFFile) -> None:
        symtab = elf.get_section_by_name(".symtab")
        for symbol in symtab.iter_symbols() if symtab else []:
            if symbol["st_info"]["type"] == "STT_FUNC" and symbol["st_shndx"] != "SHN_UNDEF" and symbol.name:
                self.functions.setdefault(symbol["st_value"] & ~1, symbol.name)

    @staticmethod
    def _die_ranges(die, ranges, cu) -> list[tuple[int, int]]:
        attributes = die.attributes
        if "DW_AT_ranges" in attributes and ranges is not None:
            attribute = attributes["DW_AT_ranges"]
            if attribute.form != "DW_FORM_sec_offset":
                return []  # rnglistx needs split DWARF; the firmware is built without it
            cu_low = cu.get_top_DIE().attributes.get("DW_AT_low_pc")
            base = cu_low.value if cu_low is not None else 0  # offset pairs are relative to the CU base
            result = []
            for entry in ranges.get_range_list_at_offset(attribute.value, cu=cu):
                if hasattr(entry, "base_address"):
                    base = entry.base_address
                    continue
                if entry.is_absolute:
                    start, end = entry.begin_offset, entry.end_offset
                else:
                    start, end = base + entry.begin_offset, base + entry.end_offset
                if end > start:
                    result.append((start, end))
            return result
        if "DW_AT_low_pc" in attributes and "DW_AT_high_pc" in attributes:
            low = attributes["DW_AT_low_pc"].value
            high = attributes["DW_AT_high_pc"]
            end = high.value if high.form == "DW_FORM_addr" else low + high.value
            return [(low, end)] if end > low else []
        return []

    @staticmethod
    def _die_name(die) -> str | None:
        for _ in range(4):  # follow abstract_origin / specification to the declaration
            if "DW_AT_name" in die.attributes:
                return die.attributes["DW_AT_name"].value.decode()
            for link in ("DW_AT_abstract_origin", "DW_AT_specification"):
                if link in die.attributes:
                    die = die.get_DIE_from_attribute(link)
                    break
            else:
                return None
        return None

    def _read_intervals(self, top, ranges, cu, unit: _CompileUnit) -> None:
        def walk(die, depth: int) -> None:
            for child in die.iter_children():
                if child.tag in ("DW_TAG_subprogram", "DW_TAG_inlined_subroutine"):
                    name = self._die_name(child) or "?"
                    call_line = child.attributes["DW_AT_call_line"].value \
                        if "DW_AT_call_line" in child.attributes else None
                    for start, end in self._die_ranges(child, ranges, cu):
                        unit.intervals.append(_Interval(start, end, depth, name, call_line))
                    walk(child, depth + 1)
                elif child.tag == "DW_TAG_lexical_block":
                    walk(child, depth)

        walk(top, 0)

    def _read_lines(self, dwarf, cu, unit: _CompileUnit) -> None:
        program = dwarf.line_program_for_CU(cu)
        if program is None:
            return
        files = program.header["file_entry"]
        version = cu.header.version
        rows = []
        for entry in program.get_entries():
            state = entry.state
            if state is None:
                continue
            index = state.file if version >= 5 else state.file - 1
            filename = files[index].name.decode() if 0 <= index < len(files) else "?"
            rows.append((state.address, state.line if not state.end_sequence else 0, filename))
        rows.sort(key=lambda row: row[0])
        unit.rows = rows
        unit.row_addresses = [row[0] for row in rows]

    def struct_size(self, name: str, unit_suffix: str) -> int | None:
        """DW_AT_byte_size of `struct name` as compiled in the unit ending with `unit_suffix`."""
        with open(self.path, "rb") as stream:
            for cu in ELFFile(stream).get_dwarf_info().iter_CUs():
                top = cu.get_top_DIE()
                if not top.attributes.get("DW_AT_name") or not top.attributes["DW_AT_name"].value.decode().endswith(
                        unit_suffix):
                    continue
                for die in top.iter_children():
                    attributes = die.attributes
                    if (die.tag == "DW_TAG_structure_type" and "DW_AT_byte_size" in attributes
                            and "DW_AT_name" in attributes and attributes["DW_AT_name"].value.decode() == name):
                        return attributes["DW_AT_byte_size"].value
        return None

    # ------------------------------------------------------------ queries

    def unit(self, address: int) -> _CompileUnit | None:
        i = bisect.bisect_right(self._starts, address) - 1
        while i >= 0:
            start, end, index = self._unit_starts[i]
            if start <= address < end:
                return self.units[index]
            if start < address - 0x100000:
                break
            i -= 1
        return None

    def unit_name(self, address: int) -> str:
        unit = self.unit(address)
        return unit.name if unit else ""

    def line(self, address: int) -> tuple[int, str] | None:
        unit = self.unit(address)
        if unit is None or not unit.rows:
            return None
        i = bisect.bisect_right(unit.row_addresses, address) - 1
        if i < 0:
            return None
        _, line, filename = unit.rows[i]
        return line, filename

    def chain(self, address: int) -> list[tuple[str, int | None]]:
        """[(function, line in that function)], outermost first; [] outside detailed units."""
        unit = self.unit(address)
        if unit is None or not unit.intervals:
            return []
        covering = sorted((iv for iv in unit.intervals if iv.start <= address < iv.end), key=lambda iv: iv.depth)
        if not covering:
            return []
        innermost = self.line(address)
        result = []
        for level, interval in enumerate(covering):
            if level + 1 < len(covering):
                line = covering[level + 1].call_line
            else:
                line = innermost[0] if innermost else None
            result.append((interval.name, line))
        return result


def _instruction_starts(code: bytes) -> list[int]:
    """Offsets of the instructions in a block of RV32GC code (2-byte C or 4-byte encodings)."""
    offsets, at = [], 0
    while at + 2 <= len(code):
        offsets.append(at)
        at += 4 if code[at] & 3 == 3 else 2
    return offsets


class Profiler:
    """Per-phase instruction counts of a `dynapps.emulator.Machine` run, split at its marks."""

    def __init__(self, machine, classify, leaf_entries: set[int]):
        """`classify(address)`: phase name, or None for library code that counts for its caller.
        `leaf_entries`: start addresses of those library functions (where a call is pushed)."""
        self.machine = machine
        self.classify = classify
        self.leaf_entries = leaf_entries
        self.counts: Counter = Counter()
        self.snapshots: list[tuple[int, Counter]] = []  # (number of marks seen, counts then)
        self._blocks: dict[tuple[int, int], tuple] = {}
        self._stack: list[tuple[int, str]] = []
        self._marks_seen = 0
        self._ra = machine._R.UC_RISCV_REG_RA
        self.handle = machine.uc.hook_add(machine._U.UC_HOOK_BLOCK, self._on_block)

    def _static(self, address: int, size: int) -> tuple:
        code = bytes(self.machine.uc.mem_read(address, size))
        phases = Counter()
        inherit = 0
        for offset in _instruction_starts(code):
            phase = self.classify(address + offset)
            if phase is None:
                inherit += 1
            else:
                phases[phase] += 1
        return inherit, tuple(phases.items())

    def _on_block(self, uc, address, size, _):
        marks = len(self.machine.marks)
        if marks != self._marks_seen:
            self._marks_seen = marks
            self.snapshots.append((marks, Counter(self.counts)))
        stack = self._stack
        while stack and stack[-1][0] == address:  # back in the caller
            stack.pop()
        if address in self.leaf_entries:
            ra = uc.reg_read(self._ra)
            if not stack or stack[-1][0] != ra:  # a loop back to the entry or a tail call is no new call
                caller = self.classify((ra - 2) & 0xFFFFFFFF)  # ra - 2 lies inside the call instruction
                if caller is None:  # called from library code: that code's own caller decides
                    caller = stack[-1][1] if stack else "other"
                stack.append((ra, caller))
        key = (address, size)
        info = self._blocks.get(key)
        if info is None:
            info = self._blocks[key] = self._static(address, size)
        inherit, phases = info
        if inherit:
            self.counts[stack[-1][1] if stack else "other"] += inherit
        for phase, count in phases:
            self.counts[phase] += count

    def finish(self) -> None:
        self.snapshots.append((len(self.machine.marks) + 1, Counter(self.counts)))
        self.machine.uc.hook_del(self.handle)

    def between(self, first_mark_index: int, second_mark_index: int) -> Counter:
        """Counts from mark number `first_mark_index` (index in Machine.marks) to the other."""
        def at(index: int) -> Counter:
            for seen, counts in self.snapshots:
                if seen >= index + 1:
                    return counts
            return self.counts

        result = at(second_mark_index) - at(first_mark_index)
        return result
