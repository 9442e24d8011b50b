"""Targets (met / MISSED), the results table (Markdown) and the load-cost plot."""

from __future__ import annotations

from dataclasses import dataclass

from dynapps import image
from loadcost import PHASE_MEANING, PHASES

NAMED_PHASES = ("hashing", "copying", "fixing up", "binding")
FIXUP_BUDGET = 10  # instructions per fix-up (issue target)
IMPORT_BUDGET = 100  # instructions per import
COLD_LIMIT = 1.1  # cold `scons apps` of figure 1's 16 apps over the direct compiler commands (issue 14)
SMALL_COLD_LIMIT = 1.3  # the same for its 6 apps
NOOP_CPU_LIMIT = 1.5  # no-op `scons apps` of the most apps that fit over SCons on an empty SConstruct, CPU time


@dataclass
class Target:
    name: str
    measured: str
    limit: str
    ratio: float | None
    met: bool | None  # None: could not be measured
    note: str = ""

    @property
    def verdict(self) -> str:
        return "n/a" if self.met is None else ("met" if self.met else "MISSED")


def _kb(value: int) -> str:
    return f"{value / 1024:.1f} KB"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}×" if value < 10 else f"{value:.1f}×"


def _count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


# ---------------------------------------------------------------- derived figures


def load_rows(results: dict) -> list[dict]:
    """One row per (size, strategy) of the load-cost project, sizes from the build."""
    load = results["load"]
    rows = []
    for spec in load["apps"]:
        name = spec["name"]
        measured = load["run"]["apps"].get(name, {})
        size = load["sizes"][name]
        row = {"name": name, "strategy": spec["strategy"], "nominal": spec["code_bytes"], **size,
               "status": measured.get("status", "not run"), "load": measured.get("load_instructions"),
               "unload": measured.get("unload_instructions"), "phases": measured.get("phases", {}),
               "info": measured}
        if row["status"] != "OK":
            row["load"] = row["unload"] = None
        rows.append(row)
    return rows


def iram_bound(row: dict) -> int | None:
    if not row["phases"]:
        return None
    return row["phases"]["copying"] + FIXUP_BUDGET * row["fixups"] + IMPORT_BUDGET * row["imports"]


def ram_breakdown(row: dict, record: int | None) -> dict | None:
    """What an app holds while loaded, from the loader's own figures (dynapps_get_info) and the
    heap (free bytes before and after the load).

    IRAM: one executable allocation of code (padded to 16) + data + bss + the export table and
    names (kept there, after bss), and the record. XIP: data + bss at their fixed place in the
    firmware's data arena (not the heap), and the record; its export table is read in place from
    the mapped slot. `ram` (the loader's ram_bytes) = everything above; bookkeeping = the record
    (`record`: sizeof(struct dynapps_app) read from the firmware's DWARF).
    """
    info = row["info"]
    if row["status"] != "OK":
        return None
    data, bss = info["data_size"], info["bss_size"]
    imports = 4 * info["imports"]  # the import slots, inside the data segment
    iram = row["strategy"] == "iram"
    code = (info["code_size"] + 15) // 16 * 16 if iram else 0
    placed = code + data + bss
    bookkeeping = record if record is not None else info["ram"] - placed
    export_table = info["ram"] - placed - bookkeeping
    placed += export_table if iram else 0
    record_block = (bookkeeping + 8 + 7) // 8 * 8  # the emulator heap's 8-byte header, 8-byte rounding
    return {
        "code": code, "data": data - imports, "imports": imports, "bss": bss, "fixup_table": 0,
        "export_table": export_table,
        "bookkeeping": bookkeeping, "held": info["ram"], "heap": info["heap"],
        "heap_headers": info["heap"] - bookkeeping - (placed if iram else 0),
        # XIP: the heap grew by the record's block and nothing else, else code (or more) went to RAM
        "xip_code_in_ram": info["heap"] - record_block if not iram else None,
        "arena": 0 if iram else data + bss,
    }


# ---------------------------------------------------------------- targets


def targets(results: dict) -> list[Target]:
    out: list[Target] = []
    quick = results["quick"]

    build = results.get("build")
    if build:
        for run, limit in ((build, COLD_LIMIT), (build.get("small"), SMALL_COLD_LIMIT)):
            if run is None:  # results of a run before the small project was measured
                continue
            out.append(Target(f"cold `scons apps` of {run['apps']} apps ≤ {limit}× the direct compiler commands",
                              f"{run['scons_median']:.2f} s vs {run['direct_median']:.2f} s (-j{run['jobs']})",
                              f"{limit}×", run["ratio"], run["ratio"] <= limit))

    noop = results.get("noop")
    if noop:
        wanted = noop["target_apps"]
        largest = max(noop["projects"], key=lambda p: p["apps"] if p.get("median") is not None else -1)
        failed = [p for p in noop["projects"] if p.get("median") is None]
        measured = f"{largest['median']:.2f} s median with {largest['apps']} apps"
        if largest.get("cpu_ratio") is not None:
            ratio = largest["cpu_ratio"]
            full = (f"; without the record (SCons reads the project): {largest['full_cpu_median']:.2f} s, "
                    f"{largest['full_cpu_ratio']:.1f}×" if largest.get("full_cpu_median") is not None else "")
            out.append(Target(f"no-op `scons apps` of {largest['apps']} apps ≤ {NOOP_CPU_LIMIT}× the CPU time of "
                              "SCons on an empty SConstruct",
                              f"{largest['cpu_median']:.2f} s vs {largest['empty_cpu_median']:.2f} s CPU (user + "
                              f"system, medians, side by side), with the last build's record{full}",
                              f"{NOOP_CPU_LIMIT}×", ratio, ratio <= NOOP_CPU_LIMIT))
        elif failed:
            f = failed[0]
            out.append(Target(f"no-op `scons apps` with {wanted} apps ≤ 1.0 s median",
                              f"{wanted} apps do not build ({f['error']}); {measured}", "1.0 s",
                              largest["median"] / 1.0, False,
                              f"with {largest['apps']} apps (the most that build) the no-op takes "
                              f"{largest['median']:.2f} s: {'within' if largest['median'] <= 1.0 else 'over'} 1.0 s"))
        else:
            out.append(Target(f"no-op `scons apps` with {largest['apps']} apps ≤ 1.0 s median", measured, "1.0 s",
                              largest["median"] / 1.0, largest["median"] <= 1.0,
                              "quick mode: fewer apps than the issue's 100" if quick else ""))

    if results.get("load"):
        rows = load_rows(results)
        xip = {r["nominal"]: r for r in rows if r["strategy"] == "xip" and r["load"] is not None}
        base = xip.get(4096)
        top = xip[max(xip)] if xip else None
        if base and top and top is not base:
            ratio = top["load"] / base["load"]
            out.append(Target(f"XIP load cost at {top['nominal'] // 1024} KB ≤ 1.05× at 4 KB (same data)",
                              f"{top['load']:,} vs {base['load']:,} instructions", "1.05×", ratio, ratio <= 1.05,
                              f"hashing is {top['phases'].get('hashing', 0) / top['load']:.2%} of the "
                              f"{top['nominal'] // 1024} KB load" if top["phases"] else ""))
        timed = {n: r for n, r in xip.items() if r["info"].get("time_us")}
        if 4096 in timed and max(timed) != 4096:
            small, large = timed[4096]["info"]["time_us"], timed[max(timed)]["info"]["time_us"]
            large_hashed = timed[max(timed)]["info"].get("sha_bytes") or 0
            ratio = large["total"] / small["total"]
            out.append(Target(f"XIP load time at {max(timed) // 1024} KB ≤ 1.1× at 4 KB (modelled µs)",
                              f"{large['total']:,.1f} vs {small['total']:,.1f} µs", "1.1×", ratio, ratio <= 1.1,
                              f"flash reads {large['flash']:,.1f} µs and SHA {large['sha']:,.1f} µs of the "
                              f"{max(timed) // 1024} KB load, booted with the trust marks the first boot wrote "
                              f"({large_hashed:,} bytes hashed; a first load hashes the whole image)"))
        iram = [r for r in rows if r["strategy"] == "iram" and r["load"] is not None and iram_bound(r)]
        if iram:
            worst = max(iram, key=lambda r: r["load"] / iram_bound(r))
            ratios = [r["load"] / iram_bound(r) for r in iram]
            no_hash = max((r["load"] - r["phases"]["hashing"]) / iram_bound(r) for r in iram)
            per_fixup = max(r["phases"]["fixing up"] / max(r["fixups"], 1) for r in iram)
            per_import = max(r["phases"]["binding"] / max(r["imports"], 1) for r in iram)
            out.append(Target("IRAM load cost ≤ copy + 10 instructions/fix-up + 100/import",
                              f"worst {worst['name']}: {worst['load']:,} vs bound {iram_bound(worst):,}",
                              "1.0×", max(ratios), max(ratios) <= 1.0,
                              f"without hashing {no_hash:.2f}× the bound; fix-ups cost {per_fixup:.0f} "
                              f"instructions each, imports {per_import:.0f}"))
        big = [r for r in rows if r["nominal"] >= 4096]
        if big:
            worst = max(big, key=lambda r: r["image"] / r["raw"])
            ratio = worst["image"] / worst["raw"]
            out.append(Target("image ≤ 1.03× raw section bytes (apps of 4 KB or more)",
                              f"worst {worst['name']}: {worst['image']:,} B vs {worst['raw']:,} B", "1.03×", ratio,
                              ratio <= 1.03, _image_note(rows)))
        record = results["load"]["run"].get("app_record_bytes")
        xips = [(r, ram_breakdown(r, record)) for r in rows if r["strategy"] == "xip" and r["status"] == "OK"]
        if xips:
            code_in_ram = max(b["xip_code_in_ram"] for _, b in xips)
            extra = max(b["held"] - b["bookkeeping"] - (b["data"] + b["imports"] + b["bss"]) for _, b in xips)
            out.append(Target("XIP app RAM = data + bss + import table, nothing for code",
                              f"code in RAM: {code_in_ram} B; held besides data + bss + import table + "
                              f"bookkeeping: {extra} B", "0 B", None, code_in_ram == 0 and extra == 0))
        booked = [(r, ram_breakdown(r, record)) for r in rows if r["status"] == "OK"]
        if booked:
            worst_row, worst = max(booked, key=lambda item: item[1]["bookkeeping"])
            out.append(Target("loader bookkeeping ≤ 64 bytes per app",
                              f"{worst['bookkeeping']} B ({worst_row['name']}; {worst['bookkeeping'] + 8} B with the "
                              f"heap block header)", "64 B", worst["bookkeeping"] / 64, worst["bookkeeping"] <= 64,
                              _bookkeeping_note(results, worst_row)))

    iteration = results.get("iteration")
    if iteration:
        edits = iteration["edits"]
        worst = max(edits, key=lambda e: e["written"] / e["image_region"])
        ratio = worst["written"] / worst["image_region"]
        out.append(Target("edit one app → flash-apps writes ≤ its image rounded up to 4 KB (+ an XIP image's "
                          "trust-mark sector)",
                          f"{worst['written']:,} B written for {worst['app']} ({worst['image']:,} B image, "
                          f"{worst['image_region']:,} B in sectors with its mark's)", "1.0×", ratio, ratio <= 1.0,
                          f"a full reflash is {iteration['full_reflash']['total']:,} B"))
        median = iteration["median_seconds"]
        out.append(Target("edit → app running in the emulator ≤ 2 s", f"{median:.2f} s median of {len(edits)} edits",
                          "2.0 s", median / 2.0, median <= 2.0))

    call = results.get("call")
    if call:
        limit = call["limit"]
        for run in call["runs"]:
            how = "one amoadd each way" if run["atomics"] else "no atomic instructions: interrupts masked around each count"
            out.append(Target(f"wrapped call ≤ {limit} instructions over a raw indirect call ({run['chip']})",
                              f"{run['overhead']} instructions over ({run['wrapped']} vs {run['raw']})",
                              f"{limit}", run["overhead"] / limit, run["overhead"] <= limit,
                              f"{run['march']}: {how}"))

    live = results.get("live")
    if live:
        flash = f"by flash-apps + reboot in the same run: {live['flash_median_seconds']:.2f} s median"
        if live.get("watch_median_seconds") is not None:  # results from before dynapps watch have none
            median = live["watch_median_seconds"]
            out.append(Target("edit → running by push ≤ 1 s in the emulator, with `dynapps watch`",
                              f"{median:.2f} s median of {len(live['watches'])} edits", "1.0 s", median / 1.0,
                              median <= 1.0, flash))
        median = live["push_median_seconds"]
        out.append(Target("edit → running by push ≤ 1 s in the emulator, one `scons push` per edit",
                          f"{median:.2f} s median of {len(live['pushes'])} pushes",
                          "1.0 s", median / 1.0, median <= 1.0,
                          f"{flash}; of the push path, the build (the app's image, as `scons push` builds it) "
                          f"{live['build_median_seconds']:.2f} s, push + reload + call "
                          f"{live['push_only_median_seconds']:.3f} s"))
    return out


def _bookkeeping_note(results: dict, row: dict) -> str:
    record = results["load"]["run"].get("app_record_bytes")
    return f"the app record, struct dynapps_app: {record} B on rv32 per DWARF; export tables are not bookkeeping"


def _image_note(rows: list[dict]) -> str:
    misses = sorted({r["nominal"] // 1024 for r in rows if r["nominal"] >= 4096 and r["image"] / r["raw"] > 1.03})
    return f"over 1.03× at {', '.join(f'{k} KB' for k in misses)}" if misses else ""


# ---------------------------------------------------------------- Markdown


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _load_line(meta: dict) -> str:
    """How busy the machine was. The load before the run is other work (the run's own builds and
    emulator are in the one at its end): timings are ratios measured side by side, but other work
    still makes them noisier. Results recorded before the load was kept say so."""
    load = meta.get("load_average")
    if load is None:
        return "Machine load: not recorded by this run."
    other = load["before"] / meta["cpus"]
    verdict = "quiet" if other < 0.25 else "busy: timings are noisier than usual" if other < 1 else \
        "overloaded: timings are unreliable, instruction counts and sizes are not affected"
    return (f"Machine load: 1-minute load average {load['before']:.2f} when the run started (other work: "
            f"{verdict}), {load['after']:.2f} at its end (its own builds included), on {meta['cpus']} CPUs.")


def markdown(results: dict, target_list: list[Target]) -> str:
    meta = results["meta"]
    parts = [
        "# dynapps benchmarks",
        "",
        f"Generated by `{meta['command']}` on {meta['date']} ({'quick, reduced sizes' if results['quick'] else 'full run'}).",
        f"Machine: {meta['cpus']} CPUs (`nproc`), {meta['cpu_model']}, {meta['system']}, Python {meta['python']}.",
        _load_line(meta),
        f"Chip profile: **{meta['chip']}** (emulator memory map); compiler `{meta['compiler']}`; "
        f"parallelism -j{meta['jobs']}; benchmark wall time {meta['seconds']:.0f} s ("
        + ", ".join(f"{name} {meta['stage_seconds'][name]:.0f} s" for name in ("build", "noop", "load", "iteration", "call",
                                                                                 "live")
                    if name in meta.get("stage_seconds", {})) + ").",
        "How each figure is measured: [docs/performance.md](../docs/performance.md).",
        "",
        "## Targets",
        "",
        _table(["target", "measured", "limit", "ratio", "result"],
               [[t.name, t.measured + (f" — {t.note}" if t.note else ""), t.limit, _ratio(t.ratio), f"**{t.verdict}**"]
                for t in target_list]),
    ]
    if results.get("build"):
        parts += _build_section(results["build"])
    if results.get("noop"):
        parts += _noop_section(results["noop"])
    if results.get("load"):
        parts += _load_sections(results)
    if results.get("iteration"):
        parts += _iteration_section(results["iteration"])
    if results.get("call"):
        parts += _call_section(results["call"])
    if results.get("live"):
        parts += _live_section(results["live"])
    return "\n".join(parts) + "\n"


def _build_section(build: dict) -> list[str]:
    commands = build["commands"]
    return [
        "",
        f"## Figure 1: build overhead ({build['apps']} generated apps, -j{build['jobs']}, median of {build['repeats']})",
        "",
        _table(["build", "median s", "runs s"], [
            ["cold `scons apps`", f"{build['scons_median']:.2f}", " ".join(f"{s:.2f}" for s in build["scons_seconds"])],
            ["the same compiler commands, run directly", f"{build['direct_median']:.2f}",
             " ".join(f"{s:.2f}" for s in build["direct_seconds"])],
            ["ratio", _ratio(build["ratio"]), ""],
        ] + _small_rows(build.get("small")) + _shared_cache_rows(build.get("shared_cache"))),
        "",
        f"Commands SCons ran (from `scons VERBOSE=1 apps`): {commands['compile']} compiles, {commands['stubs']} "
        f"import-stub assemblies, {commands['link']} links (an auto app that ends up XIP is linked twice). "
        f"Apps: {build['description']}.",
    ] + ([
        "",
        "Second clone: the project copied without its build, built cold with `CACHE_DIR` pointing at a cache "
        f"the first clone filled ({build['shared_cache']['retrieved']} targets retrieved from it in the last run); "
        "the ratio is to the uncached cold `scons apps` above (docs/performance.md, \"Teams\").",
    ] if build.get("shared_cache") else [])


def _small_rows(small: dict | None) -> list[list[str]]:
    if not small:
        return []
    return [[f"cold `scons apps`, {small['apps']} of the apps", f"{small['scons_median']:.2f}",
             " ".join(f"{s:.2f}" for s in small["scons_seconds"])],
            ["the same compiler commands, run directly", f"{small['direct_median']:.2f}",
             " ".join(f"{s:.2f}" for s in small["direct_seconds"])],
            ["ratio", _ratio(small["ratio"]), ""]]


def _shared_cache_rows(shared: dict | None) -> list[list[str]]:
    if not shared:
        return []
    return [["second clone, cold `scons apps` from a warm shared cache", f"{shared['median']:.2f}",
             " ".join(f"{s:.2f}" for s in shared["seconds"])],
            ["its ratio to the uncached cold build", _ratio(shared["ratio"]), ""]]


def _cpu(project: dict, key: str) -> str:
    return "-" if project.get(key) is None else f"{project[key]:.2f}"


def _noop_section(noop: dict) -> list[str]:
    rows = []
    for project in noop["projects"]:
        if project.get("median") is None:
            rows.append([str(project["apps"]), f"fails after {project['failed_after_seconds']:.1f} s"]
                        + ["-"] * 7 + [project["error"]])
        else:
            cold = "-" if project["cold_seconds"] is None else f"{project['cold_seconds']:.2f}"
            full = ([f"{project['full_median']:.2f}", _cpu(project, "full_cpu_median"), _ratio(project["full_cpu_ratio"])]
                    if project.get("full_median") is not None else ["-", "-", "-"])  # results from before the record
            rows.append([str(project["apps"]), cold, f"{project['median']:.2f}",
                         " ".join(f"{s:.2f}" for s in project["seconds"]), _cpu(project, "cpu_median"),
                         _cpu(project, "empty_cpu_median"), _ratio(project.get("cpu_ratio"))] + full
                        + [project.get("note", "")])
    inc = noop["incremental"]
    return [
        "",
        f"## Figure 2: no-op and incremental `scons apps` (-j{noop['jobs']}, median of {noop['repeats']})",
        "",
        _table(["apps", "cold build s", "no-op median s", "no-op runs s", "no-op CPU s", "empty SConstruct CPU s",
                "CPU ratio", "without the record: median s", "its CPU s", "its CPU ratio", "note"], rows),
        "",
        "No-op: the SConstruct finds the record of the last complete build (build/uptodate.json) and every file as "
        "it says, and stops before reading the project. Without the record: the same run after deleting it, SCons "
        "reading the project and finding every target up to date (what the first no-op after a racy edit costs). "
        "The two alternate. CPU: user + system time of the scons process (medians), each pair next to a run of "
        "SCons on an empty SConstruct; other work on the machine adds to wall time, much less to CPU time.",
        "",
        f"One app's source edited among {inc['apps']} apps, then `scons apps`: median **{inc['median']:.2f} s** "
        f"(runs: {' '.join(f'{s:.2f}' for s in inc['seconds'])}); each rebuilt exactly CC + LINK + IMAGE of that app.",
        f"Apps: {noop['description']}.",
    ]


def _load_sections(results: dict) -> list[str]:
    load = results["load"]
    rows = load_rows(results)
    by_size: dict[int, dict[str, dict]] = {}
    for row in rows:
        by_size.setdefault(row["nominal"], {})[row["strategy"]] = row
    table = []
    for size in sorted(by_size):
        cells = [f"{size // 1024} KB"]
        for strategy in ("iram", "xip"):
            row = by_size[size].get(strategy)
            if row is None or row["load"] is None:
                cells += [f"{row['code_size']:,}" if row else "-", f"n/a ({row['status']})" if row else "-", "-"]
                cells += ["-"] if strategy == "iram" else []
                continue
            phases = row["phases"]
            shares = " / ".join(f"{phases.get(p, 0) / row['load']:.1%}" for p in NAMED_PHASES) if phases else "-"
            bound = _count(iram_bound(row)) if strategy == "iram" else "-"
            cells += [f"{row['code_size']:,}", f"{row['load']:,}", shares] + ([bound] if strategy == "iram" else [])
        table.append(cells)
    parts = [
        "",
        f"## Figure 3: load cost in executed RV32 instructions ({load['chip']})",
        "",
        f"Exact counts between the marks around `dynapps_load()` (an empty pair of marks, {load['run']['empty_mark_pair']} "
        f"instructions, subtracted). Shares: hashing / copying / fixing up / binding. Every app has the same data: "
        f"{load['fixed']}. IRAM bound = copying + {FIXUP_BUDGET} × fix-ups + {IMPORT_BUDGET} × imports.",
        "",
        _table(["code", "IRAM code B", "IRAM load", "IRAM shares", "IRAM bound", "XIP code B", "XIP load",
                "XIP shares"], table),
        "",
        "![load cost against code size](load_cost.png)",
        "",
        "Every phase, in instructions (the phases add up to the exact total):",
        "",
        _table(["app", "total"] + list(PHASES) + ["unload"],
               [[r["name"], _count(r["load"])] + [_count(r["phases"].get(p)) if r["phases"] else "-" for p in PHASES]
                + [_count(r["unload"])] for r in rows]),
        "",
        "Phases: " + "; ".join(f"**{p}**: {PHASE_MEANING[p]}" for p in PHASES) + ".",
    ] + _time_section(load["chip"], rows)
    if load["run"]["warnings"]:
        parts += ["", "Profile warnings: " + "; ".join(load["run"]["warnings"])]
    parts += [
        "",
        "## Figure 4: image size against the app's section bytes and its ELF",
        "",
        _table(["app", "text", "rodata", "data", "raw (text+rodata+data)", "fix-ups", "imports", "image", "image/raw",
                "ELF", "image/ELF"],
               [[r["name"], f"{r['text']:,}", f"{r['rodata']:,}", f"{r['data_section']:,}", f"{r['raw']:,}",
                 str(r["fixups"]), str(r["imports"]), f"{r['image']:,}", _ratio(r["image"] / r["raw"]),
                 f"{r['elf']:,}", f"{r['image'] / r['elf']:.3f}"] for r in rows]),
        "",
        f"Image overhead: {image.HEADER_SIZE}-byte header, 32-byte SHA-256, 4 B per fix-up, 8 B per import, 12 B per export, the "
        "names; IRAM code padded to 16 B. The ELF carries debug information, symbols and (--emit-relocs) relocations.",
        "",
        "## Figure 5: RAM held per loaded app (bytes)",
        "",
    ]
    ram_rows = []
    for r in rows:
        b = ram_breakdown(r, load["run"].get("app_record_bytes"))
        if b is None:
            ram_rows.append([r["name"], r["strategy"], f"n/a ({r['status']})"] + ["-"] * 10)
            continue
        ram_rows.append([r["name"], r["strategy"], f"{b['code']:,}", f"{b['data']:,}", f"{b['bss']:,}",
                         f"{b['imports']}", f"{b['fixup_table']}", f"{b['export_table']}", f"{b['bookkeeping']}",
                         f"{b['heap_headers']}",
                         f"{b['held']:,}", f"{b['heap']:,}", f"{b['arena']:,}"])
    parts += [
        _table(["app", "strategy", "code", "data", "bss", "import table", "fix-up table", "export table",
                "loader bookkeeping",
                "heap headers", "held (loader's ram_bytes)", "heap taken", "data arena"], ram_rows),
        "",
        "code: the IRAM copy (code padded to 16 B); XIP code stays in flash. data: initialised data (IRAM: with "
        ".rodata) without the import slots, which are the import table (4 B per import, inside the data segment). "
        "Fix-up tables are read from the image in flash and never held. Export table: an IRAM app's export records "
        "(12 B each) and names, kept in its executable allocation after bss; an XIP app's are read in place from "
        "the mapped slot (0 B). Bookkeeping: the loader's record of the app "
        f"(struct dynapps_app, {load['run'].get('app_record_bytes')} B on rv32). Heap headers: the emulator port's "
        "allocator (8 B per block, rounding to 8). XIP data and bss live in the firmware's data arena, not the heap.",
    ]
    return parts


def _iteration_section(iteration: dict) -> list[str]:
    reflash = iteration["full_reflash"]
    rows = [[str(i + 1), e["app"], e["strategy"], f"{e['written']:,}", ", ".join(e["regions"]),
             f"{e['image_sectors']:,}", f"{e['written'] / reflash['total']:.1%}", f"{e['seconds']:.2f}",
             "yes" if e["result_changed"] else "NO"]
            for i, e in enumerate(iteration["edits"])]
    return [
        "",
        f"## Figure 6: iteration, one app edited among {iteration['apps']}",
        "",
        _table(["edit", "app", "strategy", "flash-apps wrote B", "regions", "image in 4 KB sectors",
                "of a full reflash", "edit → running s", "new code ran"], rows),
        "",
        f"Full reflash: {reflash['total']:,} B = firmware {reflash['firmware']:,} B (emulator firmware's loadable "
        f"segments) + partition table {reflash['partition_table']:,} B + {len(reflash['images'])} app images "
        f"({sum(reflash['images'].values()):,} B), each rounded up to 4 KB sectors. "
        f"First `scons run` (build everything, flash, run): {iteration['first_run_seconds']:.2f} s, "
        f"{iteration['first_written']:,} B written. Edit → running: from the edit to `scons run` returning after "
        f"the bench firmware loaded and called every app in the emulator. Median {iteration['median_seconds']:.2f} s.",
    ]


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _time_section(chip: str, rows: list[dict]) -> list[str]:
    """Figure 3's loads as modelled time on the chip (dynapps.timing), per strategy and size."""
    from dynapps import timing

    t = timing.timing(chip)
    table = []
    for r in rows:
        info = r["info"]
        time = info.get("time_us") if r["load"] is not None else None
        table.append([r["name"], f"{r['image']:,}", _count(r["load"]), _count(info.get("flash_lines")),
                      _count(info.get("sha_bytes")), _us(time and time["cpu"]), _us(time and time["flash"]),
                      _us(time and time["sha"]), f"**{_us(time and time['total'])}**"])
    return [
        "",
        f"Modelled load time on the {chip} (`src/dynapps/timing.py`; docs/performance.md, \"Load time\"): "
        f"instructions at {t.cpu_mhz.value:g} MHz, one per cycle; each {t.cache_line_bytes.value:g}-byte cache line "
        f"the load reads from flash, once, at {t.flash_line_us():.2f} µs (Quad I/O at {t.flash_mhz.value:g} MHz); "
        f"SHA-256 at {t.sha_block_us():.3f} µs per 64-byte block ({t.sha_mb_per_s.value:g} MB/s). Copies into RAM "
        "are instructions (the emulator firmware's memcpy/memset copy words).",
        "",
        _table(["app", "image B", "instructions", "flash lines read", "bytes hashed", "CPU µs", "flash µs", "SHA µs",
                "load µs"], table),
    ]


def _call_section(call: dict) -> list[str]:
    rows = [[r["chip"], r["march"], str(r["raw"]), str(r["wrapped"]), str(r["overhead"]),
             f"{r['overhead_ns']:.1f}", "yes" if r["atomics"] else "no"] for r in call["runs"]]
    return [
        "",
        "## Figure 7: the call path, in exact RV32 instructions",
        "",
        _table(["chip", "ISA", "raw indirect call", "through the wrapper", "overhead", "overhead ns (modelled)",
                "atomic instructions"], rows),
        "",
        f"The call: {call['call']}, between two marks, through the address dynapps_find_export gave and through "
        "the generated wrapper (app loaded), in the same loop of bench/firmware/call_cost.c; both counts include "
        "the app's own instructions. The wrapper counts the call in and out of its own state word, without a lock. "
        "Modelled time: the overhead's instructions at the chip's CPU clock, one per cycle (src/dynapps/timing.py).",
    ]


def _live_section(live: dict) -> list[str]:
    rows = [[str(i + 1), p["app"], p["strategy"], f"{p['image']:,}", f"{p['build_seconds']:.2f}",
             f"{p['push_seconds']:.3f}", f"{p['seconds']:.2f}", f"{f['seconds']:.2f}",
             f"{p['projected_uart_seconds']:.2f}", f"{p['projected_usb_seconds']:.2f}",
             "yes" if p["result_changed"] else "NO"]
            for i, (p, f) in enumerate(zip(live["pushes"], live["flashes"]))]
    watches = live.get("watches", [])
    runs = " ".join(f"{w['seconds']:.2f}" for w in watches)
    watched = [f"With `dynapps watch` (watch.py: one SCons process in interactive mode, the project read once, "
               f"each edit built and pushed through the open connection), the same edits after those above, timed "
               f"from the file's writing to the edited export's new result: median "
               f"**{live['watch_median_seconds']:.2f} s** (runs: {runs}; "
               f"new code ran: {'yes' if all(w['result_changed'] for w in watches) else 'NO'}).", ""] if watches else []
    call = live["call"]
    return [
        "",
        f"## Figure 8: the live loop, one app edited among {live['apps']}",
        "",
        _table(["edit", "app", "strategy", "image B", "build s", "push + reload s", "edit → running by push s",
                "by flash-apps + reboot s", "projected, UART s", "projected, USB s", "new code ran"], rows),
        "",
        f"Medians: by push {live['push_median_seconds']:.2f} s, by flash-apps + reboot "
        f"{live['flash_median_seconds']:.2f} s (the two alternate, same project, same run). By push: scons builds the "
        "edited app's image (`scons build/apps/<app>.dapp`, what `scons push APP=<app>` builds), then the host pushes the image to the agent of the firmware already running in the emulator (pty, "
        "pyserial, dynapps.remote) and calls the edited export. By flash: `scons run` (build, flash-apps, boot, "
        f"every app loaded and called). Projected on a board: {live['assumptions']}; medians "
        f"{live['projected_uart_median_seconds']:.2f} s (UART), {live['projected_usb_median_seconds']:.2f} s (USB).",
        "",
        *watched,
        f"Host call round trip, crc.crc32_compute over a {call['array_bytes']} B array (buffer alloc, write, call, "
        f"free: {call['frames']} frames each way): {call['array_median_seconds'] * 1000:.1f} ms median of "
        f"{call['repeats']} in the emulator; without an array {call['plain_median_seconds'] * 1000:.1f} ms; "
        f"projected on a board at the UART's speed {call['projected_uart_seconds'] * 1000:.0f} ms.",
    ]


def targets_text(target_list: list[Target]) -> str:
    width = max(len(t.name) for t in target_list)
    lines = []
    for t in target_list:
        lines.append(f"  {t.verdict:6}  {t.name.ljust(width)}  {_ratio(t.ratio):>8}  {t.measured}")
    return "\n".join(lines)


# ---------------------------------------------------------------- plot


@dataclass(frozen=True)
class Series:
    """One line of the plot: which panel, its points, and how it is told apart from the others
    (colour, line style and marker, unique within its panel; points shifted sideways where two
    series would lie on top of each other)."""

    panel: int  # 0 instructions, 1 modelled time, 2 phases
    label: str
    xs: tuple[float, ...]
    ys: tuple[float | None, ...]
    colour: str
    style: str  # matplotlib line style
    marker: str


STRATEGY_COLOURS = {"iram": "tab:orange", "xip": "tab:blue"}
STRATEGY_MARKERS = {"iram": "o", "xip": "s"}
STRATEGY_SHIFT = {"iram": 0.94, "xip": 1.06}  # x factor on the log axis: IRAM left, XIP right of each size
PHASE_COLOURS = {"hashing": "tab:red", "copying": "tab:green", "fixing up": "tab:purple", "binding": "tab:brown",
                 "the rest": "tab:gray"}


def _points(rows: list[dict], strategy: str, need_phases: bool = False) -> list[dict]:
    return [r for _, r in sorted((r["code_size"], r) for r in rows if r["strategy"] == strategy
                                 and r["load"] is not None and (r["phases"] or not need_phases))]


def plot_series(results: dict) -> list[Series]:
    rows = load_rows(results)
    out: list[Series] = []
    for strategy in ("iram", "xip"):
        points = _points(rows, strategy)
        if not points:
            continue
        name, colour, marker = strategy.upper(), STRATEGY_COLOURS[strategy], STRATEGY_MARKERS[strategy]
        xs = tuple(r["code_size"] / 1024 * STRATEGY_SHIFT[strategy] for r in points)
        out.append(Series(0, f"{name} load", xs, tuple(r["load"] for r in points), colour, "-", marker))
        if strategy == "iram" and points[0]["phases"]:
            out.append(Series(0, f"IRAM target: copy + {FIXUP_BUDGET}/fix-up + {IMPORT_BUDGET}/import", xs,
                              tuple(iram_bound(r) for r in points), "grey", "-.", "x"))
        if all(r["info"].get("time_us") for r in points):
            times = [r["info"]["time_us"] for r in points]
            out.append(Series(1, f"{name} load time", xs, tuple(t["total"] for t in times), colour, "-", marker))
            out.append(Series(1, f"{name} of which flash reads", xs, tuple(t["flash"] for t in times), colour, ":", "^"))
            out.append(Series(1, f"{name} of which SHA", xs, tuple(t["sha"] for t in times), colour, "--", "v"))
        for phase, phase_colour in PHASE_COLOURS.items():
            with_phases = _points(rows, strategy, need_phases=True)
            if phase == "the rest":
                ys = [sum(v for p, v in r["phases"].items() if p not in NAMED_PHASES) for r in with_phases]
            else:
                ys = [r["phases"].get(phase, 0) for r in with_phases]
            if any(ys):
                out.append(Series(2, f"{name} {phase}",
                                  tuple(r["code_size"] / 1024 * STRATEGY_SHIFT[strategy] for r in with_phases),
                                  tuple(y if y > 0 else None for y in ys), phase_colour,
                                  "-" if strategy == "iram" else "--", marker))
    return out


def plot(results: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = load_rows(results)
    fig, axes = plt.subplots(1, 3, figsize=(19, 5.6))
    for series in plot_series(results):
        axes[series.panel].plot(series.xs, series.ys, linestyle=series.style, marker=series.marker,
                                color=series.colour, markersize=4, label=series.label)
    xip = {r["nominal"]: r for r in _points(rows, "xip")}
    if 4096 in xip:
        axes[0].axhline(1.05 * xip[4096]["load"], color=STRATEGY_COLOURS["xip"], linewidth=0.8, alpha=0.5,
                        label="XIP target: 1.05× the 4 KB load")
        if xip[4096]["info"].get("time_us"):
            axes[1].axhline(1.1 * xip[4096]["info"]["time_us"]["total"], color=STRATEGY_COLOURS["xip"],
                            linewidth=0.8, alpha=0.5, label="XIP target: 1.1× the 4 KB load time")
    for row in rows:
        if row["load"] is None:
            axes[0].annotate(f"{row['strategy'].upper()} {row['nominal'] // 1024} KB: n/a",
                             (row["code_size"] / 1024, 0), xycoords=("data", "axes fraction"), xytext=(0, 4),
                             textcoords="offset points", fontsize=7, rotation=90,
                             color=STRATEGY_COLOURS[row["strategy"]])
    ticks = sorted({r["nominal"] // 1024 for r in rows})
    chip = results["meta"]["chip"]
    labels = (("RV32 instructions to load (exact)", f"Load cost against code size ({chip}, data held fixed)"),
              ("modelled load time, µs", f"Modelled load time on the {chip} (src/dynapps/timing.py)"),
              ("instructions in the phase (exact, split at the loader's phase marks)",
               "Load cost by phase (IRAM solid, XIP dashed)"))
    for axis, (ylabel, title) in zip(axes, labels):
        axis.set_xscale("log", base=2)
        axis.set_xticks(ticks)
        axis.set_xticklabels([str(t) for t in ticks])
        axis.set_yscale("log")
        axis.set_xlabel("app code (KB, built size; IRAM points left of each size, XIP right)")
        axis.set_ylabel(ylabel)
        axis.set_title(title, fontsize=10)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=6, loc="upper left", ncol=2 if axis is axes[2] else 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
