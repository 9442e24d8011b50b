"""Link one app: choose its strategy, generate import stubs and the linker script, run the
linker, and analyse the result (segments, fix-ups, imports, exports) into <app>.link.json.

Everything the link reads comes in through a `LinkConfig` (contracts.py; the SCons builder
declares it as an input, so a change to any of it relinks) plus the app's object files; its
outputs are the six `LinkOutputs` files and a `LinkAnalysis`.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import clib, cxx, image, relocs, render, signatures
from .manifest import COPIED_STRATEGIES
from .contracts import ExportSymbol, Import, LinkAnalysis, LinkConfig, LinkOutputs, SectionSizes
from .elf32 import SHN_ABS, SHN_UNDEF, STT_FUNC, STT_SECTION, Elf32
from .errors import DynappsError

IRAM_ALIGN = 16

# Output sections an image may contain; anything else allocated is refused.
CODE_SECTIONS = (".text",)
DATA_SECTIONS = (".rodata", ".data")
BSS_SECTIONS = (".bss",)


@dataclass
class ObjectFacts:
    defined: set = field(default_factory=set)
    undefined: dict = field(default_factory=dict)  # symbol -> first object using it
    relocations: list = field(default_factory=list)  # (object, section, type, symbol index, addend)
    sections: list = field(default_factory=list)  # (object, allocated section name)
    files: dict = field(default_factory=dict)  # object -> Elf32, to name symbols in messages


def _symbol_label(elf: Elf32, index: int, addend: int) -> str:
    symbol = elf.symbol(index)
    if symbol.type == STT_SECTION:
        name = elf.sections[symbol.shndx].name if symbol.shndx < len(elf.sections) else "section"
        return f"{name}+{addend:#x}" if addend else name
    return symbol.name or f"symbol #{index}"


def object_facts(objects: list[str]) -> ObjectFacts:
    facts = ObjectFacts()
    for path in objects:
        elf = facts.files[path] = Elf32(path)
        for symbol in elf.global_symbols():
            if symbol.shndx == SHN_UNDEF:
                facts.undefined.setdefault(symbol.name, path)
            else:
                facts.defined.add(symbol.name)
        facts.sections += [(path, section.name) for section in elf.sections if section.allocated]
        for rela, target in elf.relocation_sections():
            if target.allocated:  # debug information never reaches the image
                facts.relocations += [(path, target.name, kind, index, addend)
                                      for _offset, kind, index, addend in elf.relocations(rela)]
    for name in facts.defined:
        facts.undefined.pop(name, None)
    return facts


def _auto_reason(size: int, threshold: int, strategy: str) -> str:
    relation = ">=" if strategy == "xip" else "<"
    why = "; apps.auto_copy: psram" if strategy == "psram" else ""
    return f"auto: {size} B code+data {relation} threshold {threshold} B{why}"


# Sections an image can't carry: the loader runs .init_array and .fini_array only (GCC for RISC-V
# emits nothing else for constructors), TLS has no thread block.
_UNSUPPORTED = {
    (".ctors", ".dtors", ".preinit_array"):
        "only .init_array and .fini_array constructors/destructors are run",
    (".tdata", ".tbss"): "thread-local storage is not supported",
}


def check_object_sections(config: LinkConfig, facts: ObjectFacts) -> None:
    for path, name in facts.sections:
        for prefixes, reason in _UNSUPPORTED.items():
            if name.startswith(prefixes):
                raise DynappsError(f"app {config.app}: {path}: section {name} can't go into an image ({reason})")


def check_object_relocations(config: LinkConfig, facts: ObjectFacts, strategy: str) -> None:
    for path, section, kind, index, addend in facts.relocations:
        reason = relocs.problem(kind, strategy)
        if reason:
            symbol = _symbol_label(facts.files[path], index, addend)
            raise DynappsError(f"app {config.app}: {path}: section {section}: symbol {symbol}: "
                               f"{relocs.name(kind)} is {reason}")


def libgcc_symbols(cc: str, arch_flags: list[str]) -> set[str]:
    """Global symbols libgcc defines, read from its archive symbol table."""
    return clib.archive_symbols(_libgcc_path(cc, tuple(arch_flags)))


@functools.lru_cache(maxsize=None)
def _libgcc_path(cc: str, arch_flags: tuple[str, ...]) -> str:
    """Asked of the compiler driver once per build (the links of all apps run in one process)."""
    return subprocess.run([cc, *arch_flags, "-print-libgcc-file-name"], capture_output=True,
                          text=True, check=True).stdout.strip()


_PREPARING = threading.Lock()


def prepare(cc: str, arch_flags: tuple[str, ...], libc_flags: tuple[str, ...]) -> tuple[set[str], clib.Library]:
    """What every link of a build needs, made once (each piece is cached): libgcc's symbols and
    the C library (two questions to the compiler driver, then their symbol tables) and the
    compiled templates. Each link calls it; the SCons tool also starts it in a thread while the
    first apps compile, so that the first links find it done instead of each doing it."""
    with _PREPARING:
        libgcc = libgcc_symbols(cc, list(arch_flags))
        library = clib.Library(clib.library_paths(cc, [*arch_flags, *libc_flags]))
        render.prepare("imports.S.j2", "copy.ld.j2", "xip.ld.j2")
        return libgcc, library


def plan_imports(config: LinkConfig, facts: ObjectFacts, libgcc: set[str], library: clib.Library) -> clib.Plan:
    """Where each missing symbol comes from (docs/manifest.md, "What an app may call"): the
    firmware's export table, libgcc, or a pure function of the C library. Anything else is an
    error naming it and who called it."""
    firmware = set(config.firmware.symbols)
    resolved = clib.plan(facts.undefined, facts.defined, firmware, libgcc, library)
    if resolved.stateful:
        names = ", ".join(f"{name} (used by {user})" for name, user in sorted(resolved.stateful.items()))
        raise DynappsError(f"app {config.app}: {names}: the C library's state (heap, stdio, errno, locks) "
                           f"belongs to the firmware, so only the firmware can provide "
                           f"{_it_or_them(resolved.stateful)}: add {_it_or_them(resolved.stateful)} to "
                           f"{config.firmware.path}")
    if resolved.missing:
        users = ", ".join(f"{name} (used by {user})" for name, user in sorted(resolved.missing.items()))
        raise DynappsError(f"app {config.app}: the firmware does not export {users}; add "
                           f"{_it_or_them(resolved.missing)} to {config.firmware.path} "
                           f"or define {_it_or_them(resolved.missing)} in the app")
    return resolved


def check_data_imports(config: LinkConfig, facts: ObjectFacts, library: clib.Library, resolved: clib.Plan,
                       elf_path: str) -> None:
    """Never a code stub for data: an imported data object is one error naming it."""
    data = clib.data_imports(resolved.imports, facts, library, resolved, elf_path)
    if data:
        names = ", ".join(f"{name} (used by {user})" for name, user in sorted(data.items()))
        raise DynappsError(f"app {config.app}: {names} in {config.firmware.path} "
                           f"{'is a data object' if len(data) == 1 else 'are data objects'}, but an app "
                           "reaches the firmware through code stubs, which work for functions only: remove "
                           f"{_it_or_them(data)} from {config.firmware.path} (constant tables of the C library "
                           "such as _ctype_ are then linked into the app) or export a function that returns "
                           "its address")


def _it_or_them(names) -> str:
    return "it" if len(names) == 1 else "them"


def check_export_names(config: LinkConfig, libgcc: set[str], library: clib.Library) -> None:
    """An export's name must not be the firmware's or the C library's: the firmware's wrapper
    of that name would replace the real function for the whole firmware."""
    firmware = set(config.firmware.symbols)
    for name in config.exports.names:
        owner = ("a firmware export" if name in firmware else
                 "a C library function" if library.defines(name) or name in libgcc else None)
        if owner:
            raise DynappsError(f"app {config.app}: export '{name}' has the name of {owner}; the firmware's "
                               f"wrapper {name}() would replace it for the whole firmware: rename it",
                               config.manifest, config.exports.line(name))


def layout_addresses(config: LinkConfig, strategy: str) -> dict:
    slot = config.slot
    if strategy == "xip":
        if not slot.xip_capable:
            raise DynappsError(f"app {config.app}: an XIP image needs an XIP slot")
        return {"code_vaddr": slot.vaddr + image.HEADER_SIZE, "data_vaddr": slot.ram_address,
                "slot_vaddr": slot.vaddr, "rodata_delta": config.rodata_delta}
    # A copied blob: code at the distance between the fetch and data addresses of one byte (IRAM on
    # esp32c3: 0x700000; PSRAM has one address for both on every chip that has it).
    code_vaddr = config.i_d_offset if strategy == "iram" else 0
    return {"code_vaddr": code_vaddr, "data_vaddr": None, "slot_vaddr": None, "rodata_delta": 0}


def _run(command: list[str], log: Callable[[str], None] | None, app: str, what: str) -> None:
    if log:
        log(" ".join(command))
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise DynappsError(f"app {app}: {what} failed: {_first_error(result.stderr)}")


def _first_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "error" in line or "undefined reference" in line or "overflow" in line:
            return line
    return lines[0] if lines else "(no message)"


def link(config: LinkConfig, objects: list[str], outputs: LinkOutputs, log=None) -> LinkAnalysis:
    """Link `objects` into outputs.elf and write the analysis to outputs.analysis. Objects listed
    in config.cxx_runtime are linked only when the app's own objects need them."""
    libgcc, library = prepare(config.cc, config.arch_flags, config.libc_flags)
    objects = [path for path in objects if path not in config.cxx_runtime]
    facts = object_facts(objects)
    check_object_sections(config, facts)
    cxx.check(config.app, facts.undefined, config.firmware.symbols, config.firmware.path)
    cxx.check_extern_c(config, facts.defined)
    atexit_calls = _call_sites(facts, cxx.ATEXIT)
    runtime = cxx.needed_runtime({path: object_facts([path]).defined for path in config.cxx_runtime}, facts.undefined)
    if runtime:
        objects += runtime
        facts = object_facts(objects)
        for name in cxx.LINKER_SCRIPT_SYMBOLS:
            facts.undefined.pop(name, None)
    check_export_names(config, libgcc, library)
    resolved = plan_imports(config, facts, libgcc, library)
    extra = {"atexit_slots": cxx.atexit_slots(atexit_calls, runtime)}
    analysis = _link_for_strategy(config, facts, objects, outputs, resolved, extra, log)
    check_data_imports(config, facts, library, resolved, outputs.elf)
    signatures.check(outputs.elf, config.app, config.manifest, list(config.exports.exports),
                     config.exports.lifecycle())
    Path(outputs.analysis).write_text(json.dumps(analysis.to_json(), indent=1, sort_keys=True))
    return analysis


def _call_sites(facts: ObjectFacts, name: str) -> int:
    """How many relocations in the objects reference `name` (with -mno-relax: one per call)."""
    return sum(1 for path, _section, _kind, index, _addend in facts.relocations
               if facts.files[path].symbol(index).name == name)


def _link_for_strategy(config: LinkConfig, facts: ObjectFacts, objects: list[str], outputs: LinkOutputs,
                       resolved: clib.Plan, extra: dict, log) -> LinkAnalysis:
    """With strategy auto the app is linked as a copied blob first (IRAM, or PSRAM when the project
    says apps.auto_copy: psram); if that is at or above the hybrid threshold it is linked again as
    an XIP image. C library code built for fixed addresses (medlow) can only go into an XIP image."""
    setting, threshold = config.strategy, config.threshold
    fixed = clib.needing(resolved, relocs.ABSOLUTE_IN_CODE) if setting != "xip" else []
    if fixed and setting in COPIED_STRATEGIES:
        raise DynappsError(f"app {config.app}: strategy {setting}: {', '.join(fixed)} from the C library "
                           f"{'uses' if len(fixed) == 1 else 'use'} absolute addresses in the code (the "
                           "toolchain builds its C library with "
                           f"-mcmodel=medlow), which an {setting.upper()} blob can't relocate: use strategy xip or "
                           f"auto, or add {_it_or_them(fixed)} to {config.firmware.path} to call the firmware's copy")
    if fixed:
        analysis = _link_as(config, facts, objects, outputs, resolved, "xip", extra, log)
        return analysis.because(f"auto: C library code for fixed addresses ({', '.join(fixed)})")
    if setting != "auto":
        analysis = _link_as(config, facts, objects, outputs, resolved, setting, extra, log)
        return analysis.because(f"manifest: strategy: {setting}")
    first = config.auto_copy
    addresses = _link(config, facts, objects, outputs, resolved, first, extra, log)
    size = _loaded_bytes(outputs.elf, addresses)  # at or over the threshold it is linked again: analysed once, as kept
    if size >= threshold:
        analysis = _link_as(config, facts, objects, outputs, resolved, "xip", extra, log)
    else:
        analysis = analyse(config, outputs.elf, first, addresses, resolved.imports)
    return analysis.because(_auto_reason(size, threshold, analysis.strategy))


def _link_as(config: LinkConfig, facts: ObjectFacts, objects: list[str], outputs: LinkOutputs,
             resolved: clib.Plan, strategy: str, extra: dict, log) -> LinkAnalysis:
    addresses = _link(config, facts, objects, outputs, resolved, strategy, extra, log)
    return analyse(config, outputs.elf, strategy, addresses, resolved.imports)


def _link(config: LinkConfig, facts: ObjectFacts, objects: list[str], outputs: LinkOutputs,
          resolved: clib.Plan, strategy: str, extra: dict, log) -> dict:
    """Link outputs.elf for `strategy`; returns its layout addresses. `extra`: what the linker
    script needs besides the addresses (the __cxa_atexit table's size)."""
    imports = resolved.imports
    check_object_relocations(config, facts, strategy)
    cc, arch = config.cc, list(config.arch_flags)
    addresses = layout_addresses(config, strategy)
    context = {"app": config.app, "manifest": config.manifest, "exports_file": config.firmware.path,
               "imports": imports, "align": IRAM_ALIGN, "strategy": strategy, **addresses, **extra}
    Path(outputs.stubs).write_text(render.render("imports.S.j2", **context))
    template = "copy.ld.j2" if strategy in COPIED_STRATEGIES else f"{strategy}.ld.j2"
    Path(outputs.script).write_text(render.render(template, **context))
    _run([cc, *arch, "-c", outputs.stubs, "-o", outputs.stubs_obj], log, config.app, "assembling import stubs")
    command = [cc, *arch, "-nostdlib", "-nostartfiles", "-static", "-T", outputs.script,
               "-Wl,--no-relax", "-Wl,--emit-relocs", "-Wl,--gc-sections", "-Wl,--no-warn-rwx-segments",
               f"-Wl,-Map={outputs.map}", *[f"-Wl,--undefined={name}" for name in config.exports.roots()],
               "-o", outputs.elf, *objects, outputs.stubs_obj, *_library_arguments(resolved), "-lgcc"]
    _run(command, log, config.app, "link")
    _check_library_members(config.app, outputs.map, resolved)
    return addresses


def _library_archives(resolved: clib.Plan) -> list[str]:
    """The C library archives, only when a pure member of them is planned: then ld pulls exactly
    the planned members (every other name is already defined by the app or an import stub)."""
    return list(dict.fromkeys(member.archive for member in resolved.members))


def _library_arguments(resolved: clib.Plan) -> list[str]:
    """libc.a and libm.a as one group: a member of either may need one of the other."""
    archives = _library_archives(resolved)
    return ["-Wl,--start-group", *archives, "-Wl,--end-group"] if archives else []


_MAP_MEMBER = re.compile(r"^(\S+\.a)\((.+)\)$", re.M)


def _check_library_members(app: str, map_path: str, resolved: clib.Plan) -> None:
    """What ld took from the C library is what the plan allowed, nothing more (read from the map's
    "Archive member included" list)."""
    text = Path(map_path).read_text(errors="replace")
    included = text.split("\n\n", 2)[1] if text.startswith("Archive member included") else ""
    archives = set(_library_archives(resolved))
    extra = sorted(f"{member} ({archive})" for archive, member in _MAP_MEMBER.findall(included)
                   if archive in archives and (archive, member) not in resolved.member_names)
    if extra:
        raise DynappsError(f"app {app}: the link took {', '.join(extra)} from the C library, which "
                           f"dynapps did not plan (see {map_path})")


@dataclass(frozen=True)
class _Segments:
    """Where the linker script put code, data and bss (its __dynapps_* symbols)."""
    code_vaddr: int
    code_size: int
    data_vaddr: int
    data_size: int
    bss_size: int

    @classmethod
    def of(cls, symbols: dict, addresses: dict) -> _Segments:
        code_vaddr, code_end = addresses["code_vaddr"], symbols["__dynapps_code_end"].value
        data_end, bss_end = symbols["__dynapps_data_end"].value, symbols["__dynapps_bss_end"].value
        data_vaddr = addresses["data_vaddr"] or code_end - code_vaddr
        return cls(code_vaddr, code_end - code_vaddr, data_vaddr, data_end - data_vaddr, bss_end - data_end)


def _symbols(elf: Elf32) -> dict:
    return {symbol.name: symbol for symbol in elf.global_symbols()}


def _loaded_bytes(elf_path: str, addresses: dict) -> int:
    """LinkAnalysis.loaded_bytes of a linked ELF, read from its symbols alone."""
    segments = _Segments.of(_symbols(Elf32(elf_path)), addresses)
    return segments.code_size + segments.data_size


def analyse(config: LinkConfig, elf_path: str, strategy: str, addresses: dict, imports: list[str]) -> LinkAnalysis:
    elf = Elf32(elf_path)
    symbols = _symbols(elf)
    _check_sections(config, elf)
    segments = _Segments.of(symbols, addresses)
    code_vaddr, code_size, data_vaddr = segments.code_vaddr, segments.code_size, segments.data_vaddr
    sizes = SectionSizes(*(_section_size(elf, name) for name in CODE_SECTIONS + DATA_SECTIONS + BSS_SECTIONS))
    analysis = LinkAnalysis(
        app=config.app,
        strategy=strategy,
        reason="",  # set by _link_for_strategy, which knows why this strategy was tried
        code_vaddr=code_vaddr,
        data_vaddr=data_vaddr,
        code_size=code_size,
        data_size=segments.data_size,
        bss_size=segments.bss_size,
        import_slots_vaddr=symbols["__dynapps_imports"].value,
        **_call_arrays(symbols),
        imports=tuple(Import(name, config.firmware.index(name)) for name in imports),
        exports=_exports(config, symbols),
        fixups=tuple(_fixups(config, elf, strategy, (code_vaddr, code_size, data_vaddr))),
        sections=sizes,
        align_log2=IRAM_ALIGN.bit_length() - 1,
        rodata_delta=addresses["rodata_delta"],
        slot=config.slot,
    )
    _check_limits(config, analysis)
    return analysis


def _section_size(elf: Elf32, name: str) -> int:
    section = elf.section(name)
    return section.size if section else 0


def _check_sections(config: LinkConfig, elf: Elf32) -> None:
    known = set(CODE_SECTIONS + DATA_SECTIONS + BSS_SECTIONS)
    for section in elf.sections:
        if section.allocated and section.name not in known:
            raise DynappsError(f"app {config.app}: section {section.name} can't go into an image")
        if section.allocated and section.addralign > IRAM_ALIGN:
            raise DynappsError(f"app {config.app}: section {section.name} needs {section.addralign}-byte "
                               f"alignment; images guarantee {IRAM_ALIGN}")


def _call_arrays(symbols: dict) -> dict:
    """Where the linker script put the constructor and destructor arrays, and their lengths."""
    arrays = {}
    for kind in ("init", "fini"):
        start, end = symbols[f"__dynapps_{kind}_array"].value, symbols[f"__dynapps_{kind}_array_end"].value
        arrays[f"{kind}_array_vaddr"], arrays[f"{kind}_count"] = start, (end - start) // 4
    return arrays


def fixup_offset(address: int, code_vaddr: int, code_size: int, data_vaddr: int) -> int:
    """Where a word at link `address` lies in the loaded region: code first, data at code_size."""
    if code_vaddr <= address < code_vaddr + code_size:  # copied images only: their rodata is data
        return address - code_vaddr
    return code_size + address - data_vaddr


def _fixups(config: LinkConfig, elf: Elf32, strategy: str, segments: tuple[int, int, int]) -> list[int]:
    """Offsets (in the loaded region) of every absolute word; checks every relocation."""
    fixups = []
    for rela, target in elf.relocation_sections():
        if not target.allocated:
            continue
        for offset, kind, index, addend in elf.relocations(rela):
            reason = relocs.problem(kind, strategy)
            if reason:
                raise DynappsError(f"app {config.app}: section {target.name}: symbol "
                                   f"{_symbol_label(elf, index, addend)}: {relocs.name(kind)} is {reason} "
                                   "(from libgcc or another archive; see the .map)")
            if kind == relocs.ABSOLUTE_WORD and strategy in COPIED_STRATEGIES and elf.symbol_section_index(index) != SHN_ABS:
                fixups.append(fixup_offset(offset, *segments))
    return sorted(fixups)


def _exports(config: LinkConfig, symbols: dict) -> tuple[ExportSymbol, ...]:
    spec = config.exports
    flags = {name: 0 for name in spec.names}
    for name, flag in ((spec.init, image.EXPORT_FLAG_INIT), (spec.deinit, image.EXPORT_FLAG_DEINIT)):
        if name:
            flags[name] = flag
    exports = []
    for name, flag in flags.items():
        where = f"{config.manifest}:{spec.line(name)}: app {config.app}"
        if name not in symbols or symbols[name].shndx == SHN_UNDEF:
            raise DynappsError(f"{where}: '{name}' is declared but the app's sources do not define it")
        if symbols[name].type != STT_FUNC:
            raise DynappsError(f"{where}: '{name}' is not a function")
        exports.append(ExportSymbol(name, symbols[name].value, flag))
    return tuple(exports)


def _check_limits(config: LinkConfig, analysis: LinkAnalysis) -> None:
    if analysis.strategy != "xip":
        return
    ram = analysis.ram_bytes
    room = config.slot.ram_size
    if ram > room:
        raise DynappsError(f"app {config.app}: data + bss need {ram} bytes but limits.ram gives {room} "
                           f"(set limits.ram: {(ram + 1023) // 1024}K in {config.manifest})")
