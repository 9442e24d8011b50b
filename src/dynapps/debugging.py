"""`dynapps gdb-symbols` and `dynapps decode`: debug loaded apps with their build's ELF files.

Where each app is loaded comes from the firmware's LOADED lines (docs/loader-api.md, "Listing the
loaded apps"; read from files or stdin) or from NAME=ADDR arguments (ADDR: where its code is).
The build keeps each app's linked ELF with its DWARF at build/apps/<app>/<app>.elf and its link
analysis next to it (<app>.link.json). An XIP app runs where it was linked; an IRAM app runs moved
by a load bias: the loader's code address minus the link's code address (and likewise for data),
which is what gdb's section offsets and the line lookup undo. See docs/debugging.md.
"""

from __future__ import annotations

import bisect
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from .contracts import LinkAnalysis
from .loaded import LoadedApp, loaded_apps
from .errors import DynappsError, report

USAGE = """usage: dynapps gdb-symbols [--build DIR] [FILE | - | NAME=ADDR ...]
       dynapps decode [--build DIR] [--loaded FILE] [NAME=ADDR ...] ADDR...
Where the apps are loaded: the firmware's LOADED lines in FILE (- or nothing: stdin), or NAME=ADDR
(the app's code address). gdb-symbols prints the gdb add-symbol-file commands for every loaded app;
decode prints `ADDR app symbol file:line` for each address (docs/debugging.md)."""

EXIT_ERROR, EXIT_USAGE = 1, 2
_PLACEMENT = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<addr>(0x)?[0-9a-fA-F]+)$")
# Sections gdb gets an address for: code moves with the code address, the rest with the data address.
_CODE_SECTION = ".text"
_DATA_SECTIONS = (".rodata", ".data", ".bss")


@dataclass(frozen=True)
class Placement:
    """One loaded app: its build's ELF and link analysis, and how far the loader moved it."""
    app: str
    elf: Path
    analysis: LinkAnalysis
    code_bias: int
    data_bias: int

    def in_code(self, address: int) -> bool:
        return 0 <= address - self.code_bias - self.analysis.code_vaddr < self.analysis.code_size

    def contains(self, address: int) -> bool:
        a = self.analysis
        return self.in_code(address) or 0 <= address - self.data_bias - a.data_vaddr < a.data_size + a.bss_size

    def link_address(self, address: int) -> int:
        """Where `address` (a run-time address inside this app) is in the app's ELF."""
        return address - (self.code_bias if self.in_code(address) else self.data_bias)


def _analysis(path: Path) -> LinkAnalysis:
    return LinkAnalysis.from_json(json.loads(path.read_text()))


def place(build: Path, loaded: LoadedApp) -> Placement:
    """Check the loader's report against the build and compute the load biases."""
    folder = build / "apps" / loaded.name
    elf, analysis_path = folder / f"{loaded.name}.elf", folder / f"{loaded.name}.link.json"
    if not elf.exists() or not analysis_path.exists():
        raise DynappsError(f"app {loaded.name}: no {elf} (and its .link.json): build the apps first "
                           f"(dynapps apps), or give --build the right folder")
    analysis = _analysis(analysis_path)
    if loaded.strategy != analysis.strategy:
        raise DynappsError(f"app {loaded.name}: the loader runs it {loaded.strategy} but {analysis_path} "
                           f"says {analysis.strategy}: the flashed image is not this build's")
    code_bias = loaded.code_addr - analysis.code_vaddr
    data_bias = loaded.data_addr - analysis.data_vaddr
    if analysis.strategy == "xip" and (code_bias or data_bias):
        raise DynappsError(f"app {loaded.name}: XIP code and data run where they were linked "
                           f"({analysis.code_vaddr:#x}, {analysis.data_vaddr:#x}) but the loader reports "
                           f"{loaded.code_addr:#x}, {loaded.data_addr:#x}: the flashed image is not this build's")
    return Placement(loaded.name, elf.resolve(), analysis, code_bias, data_bias)  # gdb may run elsewhere


def _from_argument(build: Path, text: str) -> LoadedApp:
    """NAME=ADDR: the app's strategy from its link analysis; its data moved as far as its code
    (an IRAM app's code and data are one allocation, linked at one offset: docs/debugging.md)."""
    m = _PLACEMENT.match(text)
    analysis_path = build / "apps" / m["name"] / f"{m['name']}.link.json"
    if not analysis_path.exists():
        raise DynappsError(f"app {m['name']}: no {analysis_path}: build the apps first (dynapps apps)")
    analysis = _analysis(analysis_path)
    code = int(m["addr"], 16)
    data = analysis.data_vaddr + code - analysis.code_vaddr
    return LoadedApp(m["name"], "", analysis.strategy, code, data, analysis.ram_bytes)


def gdb_commands(placements: list[Placement]) -> str:
    """One add-symbol-file command per app: plain for XIP apps, with section addresses for IRAM apps."""
    lines = []
    for p in placements:
        if p.analysis.strategy == "xip":
            lines.append(f"add-symbol-file {p.elf}")
            continue
        sections = _section_addresses(p)
        lines.append(f"add-symbol-file {p.elf} " + " ".join(f"-s {name} {address:#x}"
                                                              for name, address in sections))
    return "\n".join(lines) + ("\n" if lines else "")


def _section_addresses(p: Placement) -> list[tuple[str, int]]:
    with open(p.elf, "rb") as stream:
        elf = ELFFile(stream)
        found = []
        for name in (_CODE_SECTION, *_DATA_SECTIONS):
            section = elf.get_section_by_name(name)
            if section is not None and section["sh_size"]:
                bias = p.code_bias if name == _CODE_SECTION else p.data_bias
                found.append((name, section["sh_addr"] + bias))
        return found


class _Debug:
    """An app ELF's function and object symbols and DWARF line rows, sorted by address for lookups."""

    def __init__(self, path: Path):
        with open(path, "rb") as stream:
            elf = ELFFile(stream)
            self.symbols = sorted((s["st_value"], s["st_size"], s.name) for section in elf.iter_sections()
                                  if isinstance(section, SymbolTableSection) for s in section.iter_symbols()
                                  if s["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT"))
            self.rows = _line_rows(elf) if elf.has_dwarf_info() else []
        self.row_addresses = [row[0] for row in self.rows]

    def symbol(self, address: int) -> str:
        """The function (or data object) holding `address`, "?" if none does."""
        for start, size, name in self.symbols:
            if start <= address < start + max(size, 1):
                return name
        return "?"

    def line(self, address: int) -> tuple[str, int]:
        """The line of the last row at or before `address` within its sequence (end rows stop it)."""
        i = bisect.bisect_right(self.row_addresses, address) - 1
        if i < 0 or self.rows[i][3]:
            return "", 0
        return self.rows[i][1], self.rows[i][2]


def _line_rows(elf: ELFFile) -> list[tuple[int, str, int, bool]]:
    """(address, file, line, end_sequence) of every row of every compilation unit's line program."""
    dwarf = elf.get_dwarf_info(relocate_dwarf_sections=False)  # linked (--emit-relocs): values are final
    rows = []
    for unit in dwarf.iter_CUs():
        program = dwarf.line_program_for_CU(unit)
        if program is None:
            continue
        names = _file_names(program)
        for entry in program.get_entries():
            state = entry.state
            if state is not None:
                rows.append((state.address, names.get(state.file, "?"), state.line, state.end_sequence))
    # At one address an end row of one sequence and the first row of the next: the start wins.
    rows.sort(key=lambda row: (row[0], not row[3]))
    return rows


def _file_names(program) -> dict[int, str]:
    """File numbers of a line program as paths (DWARF 5 numbers from 0, earlier versions from 1)."""
    header = program.header
    base = 0 if header["version"] >= 5 else 1
    directories = [d.decode() if isinstance(d, bytes) else d for d in header["include_directory"]]
    names = {}
    for i, entry in enumerate(header["file_entry"]):
        name = entry.name.decode() if isinstance(entry.name, bytes) else entry.name
        index = entry.dir_index - (0 if header["version"] >= 5 else 1)
        folder = directories[index] if 0 <= index < len(directories) and not name.startswith("/") else ""
        names[i + base] = f"{folder}/{name}" if folder else name
    return names


def decode(placements: list[Placement], address: int, cache: dict) -> str:
    """`ADDR app symbol file:line`, or why the address names nothing. LOADED lines of several
    moments may list several apps at one address (one loaded after another unloaded): each is named."""
    found = []
    for p in (p for p in placements if p.contains(address)):
        if p.app not in cache:  # one ELF read per app, however many addresses fall in it
            cache[p.app] = _Debug(p.elf)
        debug, link = cache[p.app], p.link_address(address)
        file, line = debug.line(link)
        found.append(f"{p.app} {debug.symbol(link)} {f'{file}:{line}' if line else '?'}")
    if not found:
        return f"{address:#010x} not in a loaded app"
    several = f" (the LOADED lines place {len(found)} apps here: give those of one moment)" if len(found) > 1 else ""
    return f"{address:#010x} " + " | ".join(found) + several


def _read_loaded(build: Path, sources: list[str]) -> list[Placement]:
    apps: list[LoadedApp] = []
    for source in sources:
        if _PLACEMENT.match(source):
            apps.append(_from_argument(build, source))
        else:
            text = sys.stdin.read() if source == "-" else Path(source).read_text(errors="replace")
            found = loaded_apps(text)
            if not found:
                raise DynappsError(f"{'stdin' if source == '-' else source}: no LOADED lines (docs/debugging.md)")
            apps += found
    return [place(build, app) for app in apps]


class _UsageError(Exception):
    """A command line this module can't read: reported with the usage."""


def _options(argv: list[str], allowed: tuple[str, ...]) -> tuple[dict, list[str]]:
    options, rest = {}, []
    args = iter(argv)
    for arg in args:
        if arg in allowed:
            value = next(args, None)
            if value is None:
                raise _UsageError(f"{arg} needs a value")
            options[arg] = value
        elif arg.startswith("-") and arg != "-":
            raise _UsageError(f"unknown option {arg}")
        else:
            rest.append(arg)
    return options, rest


def _is_address(text: str) -> bool:
    return re.fullmatch(r"(0x)?[0-9a-fA-F]+", text) is not None


def gdb_symbols_main(argv: list[str]) -> int:
    options, sources = _options(argv, ("--build",))
    placements = _read_loaded(Path(options.get("--build", "build")), sources or ["-"])
    sys.stdout.write(gdb_commands(placements))
    return 0


def decode_main(argv: list[str]) -> int:
    options, rest = _options(argv, ("--build", "--loaded"))
    addresses = [arg for arg in rest if _is_address(arg) and not _PLACEMENT.match(arg)]
    others = [arg for arg in rest if arg not in addresses]
    bad = [arg for arg in others if not _PLACEMENT.match(arg)]
    if bad:
        raise _UsageError(f"{bad[0]} is neither an address nor NAME=ADDR")
    if not addresses:
        raise _UsageError("no address given")
    sources = others + [options["--loaded"]] if "--loaded" in options else others or ["-"]  # default: stdin
    placements = _read_loaded(Path(options.get("--build", "build")), sources)
    cache: dict = {}
    for address in addresses:
        print(decode(placements, int(address, 16), cache))
    return 0


def run(command: str, argv: list[str]) -> int:
    """`dynapps gdb-symbols|decode ARGS`: errors as one line, usage mistakes with the usage."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(USAGE)
        return 0
    try:
        return (gdb_symbols_main if command == "gdb-symbols" else decode_main)(argv)
    except _UsageError as error:
        print(f"error: {error}\n{USAGE}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:  # one line, never a traceback (errors.report)
        report(error)
        return EXIT_ERROR
