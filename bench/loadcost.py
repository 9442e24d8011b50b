"""Figures 3-5: load cost in executed RV32 instructions, image sizes, RAM per app.

One project holds, for every code size, an app forced to `strategy: iram` and one forced to
`strategy: xip` (same generated source, same fixed data, fix-ups and imports). It is built with
`scons apps flash-apps build/emulator/firmware.elf`; the bench firmware (firmware/bench_main.c)
loads each app by slot name between two marks, calls it, prints what the loader and the heap
say, and unloads it between two more marks.

The machine counts every instruction (`Machine(count_instructions=True)`): the load cost of an
app is the exact count between its two marks, minus what an empty pair of marks costs. The
phases come from the loader itself: in the emulator firmware the core calls
dynapps_trace_phase() as each stage of a load starts (dynapps_port.h, DYNAPPS_PHASES), and the
bench firmware turns each call into a mark. A phase is the count from its mark to the next,
less what one phase mark costs (measured by the firmware before any load); the marks' own cost
is taken off the total too. The apps are spread over one emulator process per core (the
firmware reads a mask of the apps to load from `bench_mask`).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import re
from pathlib import Path

import workload
from elftools.elf.elffile import ELFFile

def struct_size(elf_path: Path, name: str, unit_suffix: str) -> int | None:
    """DW_AT_byte_size of `struct name` as compiled in the unit whose name ends with `unit_suffix`."""
    with open(elf_path, "rb") as stream:
        for cu in ELFFile(stream).get_dwarf_info().iter_CUs():
            top = cu.get_top_DIE()
            unit = top.attributes.get("DW_AT_name")
            if unit is None or not unit.value.decode().endswith(unit_suffix):
                continue
            for die in top.iter_children():
                attributes = die.attributes
                if (die.tag == "DW_TAG_structure_type" and "DW_AT_byte_size" in attributes
                        and "DW_AT_name" in attributes and attributes["DW_AT_name"].value.decode() == name):
                    return attributes["DW_AT_byte_size"].value
    return None


PORT_HEADER = workload.REPO / "firmware/components/dynapps/include/dynapps_port.h"
CORE_UNIT = "dynapps_core.c"  # the compilation unit whose DWARF describes struct dynapps_app
FIRMWARE = "build/emulator/firmware.elf"
FLASH = "build/emulator/flash.bin"
# The flash as the first boot left it: XIP slots carry the trust marks their first, full
# verification wrote (docs/design.md, "Trust marks"). Counted loads boot from it.
FLASH_AFTER_FIRST_BOOT = "build/emulator/flash-after-first-boot.bin"
MARK_EMPTY = 0x0F00
MARK_APP = 0x1000
MARK_PHASE = 0x0E00  # + dynapps_phase_t (bench_main.c: BENCH_MARK_PHASE)

# Phases, in report order. The first four are the ones the issue names.
PHASES = ("hashing", "copying", "fixing up", "binding", "verifying", "lookup", "bookkeeping", "placing", "init",
          "other")
PHASE_MEANING = {
    "hashing": "SHA-256 of the whole image (dynapps_verify.c -> dynapps_port_sha256: the SHA peripheral, emulated); "
               "for an XIP slot with a valid trust mark, the mark's check instead",
    "copying": "code/data copy and bss/padding zeroing; for XIP the slot's mapping and the data copy",
    "fixing up": "the fix-up loop: each fix-up checked and applied (dynapps_place.c)",
    "binding": "import binding: each import checked against the firmware table, its slot written",
    "verifying": "header and identity checks; firmware id, import slots and export table after the hash; "
                 "writing an XIP slot's trust mark after its first full verification",
    "lookup": "finding the slot: the partition-table scan (dynapps_port_find_slot), \"loaded already?\"",
    "bookkeeping": "a place in the table of loaded apps, the app record, and for IRAM the export table copy",
    "placing": "executable RAM allocation and alias check (IRAM) or data arena check (XIP), before the hash",
    "init": "looking for and running init, publishing the handle",
    "other": "the harness's call around dynapps_load and the return after the last phase",
}

# The loader's phases (dynapps_phase_t), each to the report phase it counts for.
LOADER_PHASES = {
    "DYNAPPS_PHASE_LOOKUP": "lookup", "DYNAPPS_PHASE_HEADER": "verifying", "DYNAPPS_PHASE_BOOKKEEPING": "bookkeeping",
    "DYNAPPS_PHASE_RESERVE": "placing", "DYNAPPS_PHASE_HASH": "hashing", "DYNAPPS_PHASE_TABLES": "verifying",
    "DYNAPPS_PHASE_COPY": "copying", "DYNAPPS_PHASE_FIXUP": "fixing up", "DYNAPPS_PHASE_BIND": "binding",
    "DYNAPPS_PHASE_EXPORTS": "bookkeeping", "DYNAPPS_PHASE_MARK": "verifying", "DYNAPPS_PHASE_INIT": "init", "DYNAPPS_PHASE_DONE": "other",
}


def loader_phases(header: Path = PORT_HEADER) -> list[str]:
    """The report phase of each dynapps_phase_t value, in enum order, from the header's X-macro
    (the one definition of the enum)."""
    names = re.findall(r"X\((DYNAPPS_PHASE_\w+)\)", header.read_text())
    unknown = [name for name in names if name not in LOADER_PHASES]
    if not names or unknown:
        raise ValueError(f"{header}: phases {unknown or 'none'} have no report phase in bench/loadcost.py")
    return [LOADER_PHASES[name] for name in names]


def phases_between(marks: list[tuple[int, int]], first: int, second: int, mark_cost: int,
                   phase_of: list[str]) -> tuple[dict[str, int], int]:
    """Instructions per report phase between marks[first] and marks[second] (a load), and how
    many phase marks lie between them. Each phase runs from its mark to the next mark; what comes
    before the first phase mark is `other`."""
    phases = dict.fromkeys(PHASES, 0)
    current, count = "other", 0
    for (value, at), (_, following) in zip(marks[first:second], marks[first + 1:second + 1]):
        if MARK_PHASE <= value < MARK_PHASE + len(phase_of):
            current, count = phase_of[value - MARK_PHASE], count + 1
            phases[current] += following - at - mark_cost
        else:
            phases[current] += following - at
    return phases, count


# ---------------------------------------------------------------- running the bench firmware


def _groups(items: list[tuple[int, int]], count: int) -> list[list[int]]:
    """Indices split into `count` groups of about equal weight (longest first)."""
    groups: list[tuple[int, list[int]]] = [(0, []) for _ in range(max(count, 1))]
    for index, weight in sorted(items, key=lambda item: -item[1]):
        groups.sort(key=lambda group: group[0])
        total, members = groups[0]
        groups[0] = (total + weight, members + [index])
    return [sorted(members) for _, members in groups if members]


def _load_traffic(machine, watch, marks: list[tuple[int, int]], index: int) -> dict | None:
    """What app `index`'s load read from flash (cache lines first read during it, through the
    CPU or the SHA engine) and hashed: the inputs of the time model besides instructions."""
    first = _position(marks, MARK_APP + 4 * index)
    second = None if first is None else _position(marks, MARK_APP + 4 * index + 1, first)
    if second is None:
        return None
    start, end = marks[first][1], marks[second][1]
    lines = watch.lines_between(start, end)
    sha_bytes = 0
    for (address, size), at in zip(machine.sha.log, machine.sha.log_at):
        if at is not None and start <= at < end:
            sha_bytes += size
            if machine.in_flash_window(address):
                mask = ~(watch.line_bytes - 1)
                lines.update(range(address & mask, address + size, watch.line_bytes))
    return {"flash_lines": len(lines), "sha_bytes": sha_bytes}


def _run_group(root: str, chip: str, indices: list[int], count: bool = True, flash: str = FLASH_AFTER_FIRST_BOOT,
               keep_flash: bool = False) -> dict:
    """Boot the bench firmware on `flash` (relative to `root`) and load the apps `indices`;
    `keep_flash`: write the flash as the run left it to FLASH_AFTER_FIRST_BOOT."""
    from dynapps import chips, emulator, timing

    root_path = Path(root)
    machine = emulator.Machine(chips.profile(chip), (root_path / flash).read_bytes(), count_instructions=count)
    machine.load_firmware(str(root_path / FIRMWARE))
    watch = machine.watch_flash_reads(int(timing.timing(chip).cache_line_bytes.value)) if count else None
    mask = [0, 0]
    for index in indices:
        mask[index // 32] |= 1 << (index % 32)
    machine.write(machine.symbol("bench_mask"), mask[0].to_bytes(4, "little") + mask[1].to_bytes(4, "little"))
    result = machine.run(timeout_s=3600)
    if keep_flash:
        (root_path / FLASH_AFTER_FIRST_BOOT).write_bytes(machine.flash_bytes())
    marks = [(mark.value, mark.instructions) for mark in result.marks]
    traffic = {index: _load_traffic(machine, watch, marks, index) for index in indices} if count else {}
    return {"uart": result.uart_text, "marks": marks, "traffic": traffic, "reason": result.reason,
            "exit_code": result.exit_code,
            "faults": [str(fault) for fault in result.faults], "seconds": result.seconds,
            "instructions": result.instructions}


def _between(marks: list[tuple[int, int]], first: int, second: int) -> int | None:
    for i, (value, count) in enumerate(marks):
        if value == first:
            for later, later_count in marks[i + 1:]:
                if later == second:
                    return later_count - count
    return None


_BENCH_LINE = re.compile(r"BENCH (\S+) (\S+)(.*)$", re.M)  # not anchored: see iteration._WROTE


def parse_bench_lines(uart: str) -> dict[str, dict]:
    apps = {}
    for name, status, rest in _BENCH_LINE.findall(uart):
        if status == "OK":
            fields = dict(kv.split("=", 1) for kv in rest.split())
            info = {key: (int(value, 16) if key in ("code", "data", "result") else
                          value if key == "strategy" else int(value)) for key, value in fields.items()}
            apps[name] = {"status": "OK", **info}
        else:
            apps[name] = {"status": status + rest}
    return apps


def _position(marks: list[tuple[int, int]], value: int, after: int = 0) -> int | None:
    return next((i for i in range(after, len(marks)) if marks[i][0] == value), None)


def _phase_mark_cost(marks: list[tuple[int, int]], done: int) -> int:
    """What one phase mark costs: the firmware's back-to-back pair of them before any load."""
    for (value, at), (following, later) in zip(marks, marks[1:]):
        if value == following == done:
            return later - at
    raise ValueError("the bench firmware made no pair of phase marks: is bench_main.c current?")


def _load_cost(marks: list[tuple[int, int]], index: int, empty: int, mark_cost: int,
               phase_of: list[str]) -> tuple[int | None, dict[str, int]]:
    """App `index`'s load: its instructions without any mark's cost, and its phases adding up to
    exactly that (what lies outside the phases, the harness's call, is `other`)."""
    first = _position(marks, MARK_APP + 4 * index)
    second = None if first is None else _position(marks, MARK_APP + 4 * index + 1, first)
    if second is None:
        return None, {}
    phases, count = phases_between(marks, first, second, mark_cost, phase_of)
    total = marks[second][1] - marks[first][1] - empty - count * mark_cost
    phases["other"] = total - sum(v for phase, v in phases.items() if phase != "other")
    return total, phases


def run(root: Path, chip: str, app_names: list[str], weights: list[int], jobs: int) -> dict:
    """Load every app in the emulator; per app: status, loader info, load/unload instructions, phases.

    A first run at full emulator speed (no counting) finds which apps load at all (an IRAM app
    larger than the executable RAM fails with DYNAPPS_ERR_NO_MEM after hashing its whole image);
    only those are then run counted, spread over `jobs` processes. The counted runs boot from the
    flash the first run left: an XIP app's counted load is a later boot's, with the trust mark its
    first load wrote (a first load hashes the whole image, as an IRAM load always does)."""
    survey = _run_group(str(root), chip, list(range(len(app_names))), count=False, flash=FLASH, keep_flash=True)
    if survey["reason"] != "exit" or survey["faults"]:
        return {"apps": {}, "problems": [f"emulator stopped ({survey['reason']}): {'; '.join(survey['faults'])}\n"
                                         f"{survey['uart'][-2000:]}"], "warnings": [], "empty_mark_pair": None}
    statuses = parse_bench_lines(survey["uart"])
    loadable = [i for i, name in enumerate(app_names) if statuses.get(name, {}).get("status") == "OK"]
    groups = _groups([(i, weights[i]) for i in loadable], jobs)
    context = multiprocessing.get_context("fork")
    outcomes = []
    if groups:
        with concurrent.futures.ProcessPoolExecutor(max_workers=len(groups), mp_context=context) as pool:
            outcomes = list(pool.map(_run_group, [str(root)] * len(groups), [chip] * len(groups), groups))
    apps: dict[str, dict] = {name: {**statuses.get(name, {"status": "not run"}), "load_instructions": None,
                                    "unload_instructions": None, "phases": {}}
                             for i, name in enumerate(app_names) if i not in loadable}
    problems = []
    empty = mark_cost = None
    phase_of = loader_phases()
    for group, outcome in zip(groups, outcomes):
        if outcome["reason"] != "exit" or outcome["faults"]:
            problems.append(f"emulator stopped ({outcome['reason']}): {'; '.join(outcome['faults'])}\n"
                            f"{outcome['uart'][-2000:]}")
        marks = outcome["marks"]
        empty = _between(marks, MARK_EMPTY, MARK_EMPTY + 1) or 0
        mark_cost = _phase_mark_cost(marks, MARK_PHASE + len(phase_of) - 1)
        lines = parse_bench_lines(outcome["uart"])
        for index in group:
            name = app_names[index]
            entry = lines.get(name, {"status": "not run"})
            start = MARK_APP + 4 * index
            unload = _between(marks, start + 2, start + 3)
            entry["load_instructions"], entry["phases"] = _load_cost(marks, index, empty, mark_cost, phase_of)
            entry["unload_instructions"] = None if unload is None else unload - empty
            entry.update(_modelled(chip, entry["load_instructions"], outcome["traffic"].get(index)))
            apps[name] = entry
    record = struct_size(root / FIRMWARE, "dynapps_app", CORE_UNIT)
    return {"apps": apps, "empty_mark_pair": empty, "phase_mark": mark_cost, "problems": problems, "warnings": [],
            "app_record_bytes": record, "groups": [[app_names[i] for i in group] for group in groups],
            "emulator_seconds": [outcome["seconds"] for outcome in outcomes],
            "instructions_run": sum(outcome["instructions"] or 0 for outcome in outcomes)}


def _modelled(chip: str, instructions: int | None, traffic: dict | None) -> dict:
    """The load's modelled time on the chip (dynapps.timing), in microseconds, with its parts."""
    from dynapps import timing

    if instructions is None or traffic is None:
        return {"flash_lines": None, "sha_bytes": None, "time_us": None}
    time = timing.modelled(chip, instructions, traffic["flash_lines"], traffic["sha_bytes"])
    return {**traffic, "time_us": {"cpu": time.cpu_us, "flash": time.flash_us, "sha": time.sha_us,
                                   "total": time.total_us}}


# ---------------------------------------------------------------- sizes


def sizes(root: Path, app: str) -> dict:
    analysis = workload.link_analysis(root, app)
    sections = analysis["sections"]
    image_size = (root / "build" / "apps" / f"{app}.dapp").stat().st_size
    elf_size = (root / "build" / "apps" / app / f"{app}.elf").stat().st_size
    raw = sections["text"] + sections["rodata"] + sections["data"]
    return {
        "strategy": analysis["strategy"],
        "text": sections["text"], "rodata": sections["rodata"], "data_section": sections["data"],
        "bss": analysis["bss_size"], "code_size": analysis["code_size"], "data_size": analysis["data_size"],
        "fixups": len(analysis["fixups"]), "imports": len(analysis["imports"]), "exports": len(analysis["exports"]),
        "raw": raw, "image": image_size, "elf": elf_size,
    }
