"""Figures 3-5: load cost in executed RV32 instructions, image sizes, RAM per app.

One project holds, for every code size, an app forced to `strategy: iram` and one forced to
`strategy: xip` (same generated source, same fixed data, fix-ups and imports). It is built with
`scons apps flash-apps build/emulator/firmware.elf`; the bench firmware (firmware/bench_main.c)
loads each app by slot name between two marks, calls it, prints what the loader and the heap
say, and unloads it between two more marks.

The machine counts every instruction (`Machine(count_instructions=True)`): the load cost of an
app is the exact count between its two marks, minus what an empty pair of marks costs. A
`pcprofile.Profiler` splits the same instructions into phases by the pc ranges of the loader
core's functions (DWARF, inlined functions included). The apps are spread over one emulator
process per core (the firmware reads a mask of the apps to load from `bench_mask`).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import re
from pathlib import Path

import workload
from pcprofile import FirmwareMap, Profiler

CORE_SOURCE = workload.REPO / "firmware/components/dynapps/src/dynapps_core.c"
CORE_UNIT = "dynapps_core.c"
HASH_UNIT = "dynapps_sha256.c"
HARNESS_UNITS = ("bench_main.c", "emu_main.c")
FIRMWARE = "build/emulator/firmware.elf"
FLASH = "build/emulator/flash.bin"
MARK_EMPTY = 0x0F00
MARK_APP = 0x1000

# Phases, in report order. The first four are the ones the issue names.
PHASES = ("hashing", "copying", "fixing up", "binding", "verifying", "lookup", "bookkeeping", "placing", "init",
          "other")
PHASE_MEANING = {
    "hashing": "SHA-256 of the whole image (hash_ok -> dynapps_port_sha256: the SHA peripheral, emulated)",
    "copying": "code/data copy and bss/padding zeroing (copy_iram, memcpy/memset from place_xip)",
    "fixing up": "fix-up bounds checks (fixups_ok) and applying them (the fix-up loop of copy_iram)",
    "binding": "import checks (imports_ok), name resolution (imports_resolve) and slot writes (bind_imports)",
    "verifying": "header, chip and export-table checks (check_header, exports_ok, ...)",
    "lookup": "finding the slot: the partition-table scan (load_slot, dynapps_port_find_slot)",
    "bookkeeping": "the app record (app_new) and, for IRAM, copying the export table into its allocation",
    "placing": "executable RAM allocation / XIP mapping, alias and arena checks (place_iram, place_xip)",
    "init": "looking for and running init (run_init)",
    "other": "load_image glue and the harness's call around dynapps_load",
}

# Loader-core functions (inlined or not) -> phase. Functions not listed (read_u32, name_ok, ...)
# count for the listed function that contains them.
FUNCTION_PHASES = {
    "hash_ok": "hashing", "dynapps_port_sha256": "hashing", "dynapps_emu_sha256": "hashing",
    "copy_iram": "copying",
    "fixups_ok": "fixing up", "fixup_ok": "fixing up",
    "imports_ok": "binding", "imports_resolve": "binding", "bind_imports": "binding", "slots_ok": "binding",
    "bind_imports_checked": "binding",
    "check_header": "verifying", "layout_ok": "verifying", "iram_fields_ok": "verifying",
    "xip_fields_ok": "verifying", "strategy_ok": "verifying", "chip_ok": "verifying", "exports_ok": "verifying",
    "check_contents": "verifying", "copy_header": "verifying", "identity_ok": "verifying",
    "load_slot": "lookup", "slot_free": "lookup", "dynapps_load": "lookup",
    "app_new": "bookkeeping", "copy_exports": "bookkeeping", "export_names_span": "bookkeeping",
    "free_index": "bookkeeping", "register_app": "bookkeeping", "publish": "bookkeeping",
    "place_iram": "placing", "place_xip": "placing", "alias_ok": "placing", "arena_range_free": "placing",
    "reserve_xip": "placing", "xip_ram_bytes": "placing",
    "unplace": "placing",
    "run_init": "init", "find_flagged": "init", "start_app": "init",
    "load_image": "other",
}


# ---------------------------------------------------------------- classifying the loader's code


def _function_bodies(lines: list[str]) -> dict[str, range]:
    """Line numbers (1-based) of each top-level function body in a C file of this style."""
    bodies, name, start = {}, None, None
    for number, line in enumerate(lines, start=1):
        match = re.match(r"^[A-Za-z_][\w \t\*]*?\b(\w+)\s*\(", line)
        if match and not line.rstrip().endswith(";") and name is None:
            name, start = match.group(1), number
        elif line.startswith("}") and name is not None:
            bodies[name] = range(start, number + 1)
            name = None
        elif line.rstrip().endswith(";") and start == number:
            name = None
    return bodies


def _block_from(lines: list[str], first: int) -> range:
    """Lines of the brace block that opens on line `first` (1-based)."""
    depth = 0
    for number in range(first, len(lines) + 1):
        depth += lines[number - 1].count("{") - lines[number - 1].count("}")
        if depth <= 0 and number > first - 1 and "}" in lines[number - 1]:
            return range(first, number + 1)
    return range(first, first + 1)


def line_rules(source: Path = CORE_SOURCE) -> tuple[dict[str, list[tuple[range, str]]], list[str]]:
    """Phases of particular lines inside loader functions: the fix-up loop of copy_iram, the
    data copy of place_xip, the bind_imports calls. Found in the source text; a pattern that
    no longer matches is reported (the function then counts as its default phase)."""
    lines = source.read_text().splitlines()
    bodies = _function_bodies(lines)
    rules: dict[str, list[tuple[range, str]]] = {}
    warnings = []

    def lines_matching(function: str, pattern: str) -> list[int]:
        body = bodies.get(function)
        if body is None:
            return []
        return [n for n in body if re.search(pattern, lines[n - 1])]

    loop = lines_matching("copy_iram", r"for \(.*fixup_count")
    if loop:
        rules.setdefault("copy_iram", []).append((_block_from(lines, loop[0]), "fixing up"))
    else:
        warnings.append("copy_iram: no fix-up loop found in the source; fix-ups count as copying")
    for function in ("copy_iram", "place_xip"):
        for number in lines_matching(function, r"\bbind_imports\("):
            rules.setdefault(function, []).append((range(number, number + 1), "binding"))
    copies = lines_matching("place_xip", r"\bmem(cpy|set)\(")
    if copies:
        rules.setdefault("place_xip", []).extend((range(n, n + 1), "copying") for n in copies)
    else:
        warnings.append("place_xip: no data copy found in the source; it counts as placing")
    return rules, warnings


def make_classifier(firmware: FirmwareMap, rules: dict):
    cache: dict[int, str | None] = {}

    def classify(address: int) -> str | None:
        if address in cache:
            return cache[address]
        unit = firmware.unit_name(address)
        phase: str | None = None
        if unit.endswith(HASH_UNIT):
            phase = "hashing"
        elif unit.endswith(HARNESS_UNITS):
            phase = "other"
        elif unit.endswith(CORE_UNIT):
            phase = "other"
            for function, line in reversed(firmware.chain(address)):
                default = FUNCTION_PHASES.get(function)
                if default is None:
                    continue
                phase = default
                for lines, special in rules.get(function, ()):
                    if line in lines:
                        phase = special
                        break
                break
        cache[address] = phase
        return phase

    return classify


# ---------------------------------------------------------------- running the bench firmware


def _groups(items: list[tuple[int, int]], count: int) -> list[list[int]]:
    """Indices split into `count` groups of about equal weight (longest first)."""
    groups: list[tuple[int, list[int]]] = [(0, []) for _ in range(max(count, 1))]
    for index, weight in sorted(items, key=lambda item: -item[1]):
        groups.sort(key=lambda group: group[0])
        total, members = groups[0]
        groups[0] = (total + weight, members + [index])
    return [sorted(members) for _, members in groups if members]


def _run_group(root: str, chip: str, indices: list[int], profile_phases: bool, count: bool = True) -> dict:
    from dynapps import chips, emulator

    root_path = Path(root)
    machine = emulator.Machine(chips.profile(chip), (root_path / FLASH).read_bytes(), count_instructions=count)
    machine.load_firmware(str(root_path / FIRMWARE))
    mask = [0, 0]
    for index in indices:
        mask[index // 32] |= 1 << (index % 32)
    machine.write(machine.symbol("bench_mask"), mask[0].to_bytes(4, "little") + mask[1].to_bytes(4, "little"))
    profiler = warnings = None
    if profile_phases:
        firmware = FirmwareMap(root_path / FIRMWARE, (CORE_UNIT,))
        rules, warnings = line_rules()
        classify = make_classifier(firmware, rules)
        leaves = {address for address in firmware.functions if classify(address) is None}
        profiler = Profiler(machine, classify, leaves)
    result = machine.run(timeout_s=3600)
    if profiler:
        profiler.finish()
    marks = [(mark.value, mark.instructions) for mark in result.marks]
    phases = {}
    if profiler:
        values = [value for value, _ in marks]
        for index in indices:
            start = MARK_APP + 4 * index
            if start in values and start + 1 in values[values.index(start):]:
                first = values.index(start)
                second = values.index(start + 1, first)
                phases[index] = dict(profiler.between(first, second))
    return {"uart": result.uart_text, "marks": marks, "reason": result.reason, "exit_code": result.exit_code,
            "faults": [str(fault) for fault in result.faults], "seconds": result.seconds, "phases": phases,
            "instructions": result.instructions, "warnings": warnings or []}


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


def run(root: Path, chip: str, app_names: list[str], weights: list[int], jobs: int,
        profile_phases: bool = True) -> dict:
    """Load every app in the emulator; per app: status, loader info, load/unload instructions, phases.

    A first run at full emulator speed (no counting) finds which apps load at all (an IRAM app
    larger than the executable RAM fails with DYNAPPS_ERR_NO_MEM after hashing its whole image);
    only those are then run counted and profiled, spread over `jobs` processes."""
    survey = _run_group(str(root), chip, list(range(len(app_names))), False, count=False)
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
            outcomes = list(pool.map(_run_group, [str(root)] * len(groups), [chip] * len(groups), groups,
                                     [profile_phases] * len(groups)))
    apps: dict[str, dict] = {name: {**statuses.get(name, {"status": "not run"}), "load_instructions": None,
                                    "unload_instructions": None, "phases": {}}
                             for i, name in enumerate(app_names) if i not in loadable}
    problems = []
    empty = None
    for group, outcome in zip(groups, outcomes):
        if outcome["reason"] != "exit" or outcome["faults"]:
            problems.append(f"emulator stopped ({outcome['reason']}): {'; '.join(outcome['faults'])}\n"
                            f"{outcome['uart'][-2000:]}")
        empty = _between(outcome["marks"], MARK_EMPTY, MARK_EMPTY + 1)
        lines = parse_bench_lines(outcome["uart"])
        for index in group:
            name = app_names[index]
            entry = lines.get(name, {"status": "not run"})
            start = MARK_APP + 4 * index
            load = _between(outcome["marks"], start, start + 1)
            unload = _between(outcome["marks"], start + 2, start + 3)
            entry["load_instructions"] = None if load is None else load - (empty or 0)
            entry["unload_instructions"] = None if unload is None else unload - (empty or 0)
            entry["profile_total"] = sum(outcome["phases"].get(index, {}).values()) or None
            entry["phases"] = _reconcile(outcome["phases"].get(index, {}), entry["load_instructions"])
            apps[name] = entry
    warnings = sorted({w for outcome in outcomes for w in outcome["warnings"]})
    record = FirmwareMap(root / FIRMWARE).struct_size("dynapps_app", CORE_UNIT)
    return {"apps": apps, "empty_mark_pair": empty, "problems": problems, "warnings": warnings,
            "app_record_bytes": record, "groups": [[app_names[i] for i in group] for group in groups],
            "emulator_seconds": [outcome["seconds"] for outcome in outcomes],
            "instructions_run": sum(outcome["instructions"] or 0 for outcome in outcomes)}


def _reconcile(phases: dict, total: int | None) -> dict:
    """Phase counts that add up to the exact total: the difference (the harness instructions at
    the mark boundaries the block-level profile can't place exactly) goes to `other`."""
    if not phases or total is None:
        return {}
    result = {phase: phases.get(phase, 0) for phase in PHASES if phase != "other"}
    result["other"] = total - sum(result.values())
    return result


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
