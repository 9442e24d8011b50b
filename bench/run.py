#!/usr/bin/env python3
"""dynapps benchmarks: one command, every figure, each target met or MISSED.

    ./dev bench [--quick] [--update] [--work DIR] [--out DIR] [--figures 1,2,3,6,7,8] [--chip esp32c3] [--jobs N]
    ./dev bench --render bench/results.json    (table and plot again from recorded numbers)
    python bench/run.py ...          (the same, with src/ importable: ./dev does it)

Generates its own workloads (dynapps projects with apps of chosen sizes and counts) in a work
folder (default: a temporary one, deleted afterwards), measures

  1  cold `scons apps` against the same compiler commands run directly (same -j)
  2  no-op `scons apps` with 1, 10 and 100 apps; one app edited among the most
  3  load cost in exact RV32 instructions per strategy and code size, with its phases
  4  image size against the app's raw section bytes and its ELF
  5  RAM held per loaded app
  6  edit one app among ten: bytes flash-apps writes, edit -> running in the emulator
  7  the call path: a call through a generated wrapper against a raw indirect call, in exact
     instructions, on the chip without atomic instructions (esp32c3) and one with them (esp32c6)
  8  the live loop: edit -> running by push against flash-apps + reboot, side by side; the
     projected push time on a board; a host call's round trip with a 1 KB array

and writes OUT/results.md (the table), OUT/load_cost.png (the plot) and OUT/results.json (every
number), OUT being bench/ by default (bench/work/quick/ with --quick); prints the table.
docs/performance.md explains the figures.
A missed target is a finding: the exit code is 0 unless the benchmark itself failed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
OUTPUTS = BENCH.parent / "build" / "bench"  # a run's outputs unless --update: never the committed ones
sys.path.insert(0, str(BENCH))

import workload  # noqa: E402  (puts src/ on sys.path)
import buildtime  # noqa: E402
import callcost  # noqa: E402
import iteration  # noqa: E402
import live  # noqa: E402
import loadcost  # noqa: E402
import report  # noqa: E402

KB = 1024


@dataclass(frozen=True)
class Config:
    build_apps: int  # figure 1
    small_build_apps: int  # figure 1's second, smaller project (issue 14: 6 apps)
    build_sizes: tuple[int, ...]  # code sizes, used in turn (strategy auto: small IRAM, large XIP)
    build_repeats: int
    noop_counts: tuple[int, ...]  # figure 2
    noop_size: int
    noop_repeats: int
    incremental_repeats: int
    load_sizes: tuple[int, ...]  # figures 3-5
    iteration_apps: int  # figure 6
    iteration_sizes: tuple[int, ...]
    iteration_repeats: int


FULL = Config(build_apps=16, small_build_apps=6, build_sizes=(4 * KB, 24 * KB), build_repeats=3,
              noop_counts=(1, 10, 91), noop_size=2 * KB, noop_repeats=5, incremental_repeats=5,
              load_sizes=tuple(k * KB for k in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)),
              iteration_apps=10, iteration_sizes=(4 * KB, 24 * KB), iteration_repeats=5)
QUICK = Config(build_apps=4, small_build_apps=2, build_sizes=(4 * KB, 20 * KB), build_repeats=1,
               noop_counts=(1, 4, 8), noop_size=2 * KB, noop_repeats=2, incremental_repeats=1,
               load_sizes=(1 * KB, 4 * KB, 16 * KB),
               iteration_apps=3, iteration_sizes=(4 * KB, 20 * KB), iteration_repeats=1)
CALL_CHIPS = ("esp32c3", "esp32c6")  # figure 7: without and with the RV32 atomic instructions
FIXED_PART = (f"{workload.DATA_WORDS * 4} B of initialised words and 64 B of pointers in .data (the IRAM image's "
              f"{workload.FIXUPS} fix-ups), a 64 B .rodata table and 4 short strings, {workload.BSS_WORDS * 4} B of "
              f".bss, {len(workload.IMPORTS)} imports ({', '.join(workload.IMPORTS)}), 1 export")


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- figures


def figure_build(work: Path, config: Config, calibration, chip: str, jobs: int) -> dict:
    apps = [workload.AppSpec(f"app{i:02d}", config.build_sizes[i % len(config.build_sizes)], "auto",
                             seed=i, ram_limit=KB) for i in range(config.build_apps)]
    root = workload.write_project(work / "build" / "project", workload.ProjectSpec(apps, chip=chip), calibration)
    log(f"figure 1: cold scons apps vs direct commands, {len(apps)} apps, {config.build_repeats} repeats")
    result = buildtime.cold_vs_direct(root, jobs, config.build_repeats, calibration.cc)
    small = workload.write_project(work / "build" / "small", workload.ProjectSpec(apps[:config.small_build_apps],
                                                                                  chip=chip), calibration)
    log(f"figure 1: the same with {config.small_build_apps} apps")
    result["small"] = buildtime.cold_vs_direct(small, jobs, config.build_repeats, calibration.cc)
    log("figure 1: a second clone's cold build from a warm shared cache (CACHE_DIR)")
    result["shared_cache"] = buildtime.shared_cache(root, jobs, config.build_repeats, result["scons_median"])
    sizes = sorted({a.code_bytes for a in apps})
    result["description"] = (f"{len(apps)} apps with strategy auto, about {' and '.join(f'{s // KB} KB' for s in sizes)} "
                             f"of code in turn (hybrid threshold 16 KB: the small ones IRAM, the large ones XIP)")
    return result


def _max_apps() -> int:
    from dynapps import partitions

    base = partitions.read_csv(workload.REPO / "firmware/partitions-base.csv", "partitions-base.csv")
    return partitions.MAX_ENTRIES - len(base)


def figure_noop(work: Path, config: Config, calibration, chip: str, jobs: int) -> dict:
    projects = []
    largest = None
    for count in config.noop_counts:
        apps = [workload.AppSpec(f"app{i:03d}", config.noop_size, "iram", seed=i) for i in range(count)]
        root = workload.write_project(work / "noop" / f"apps{count}", workload.ProjectSpec(apps, chip=chip),
                                      calibration)
        log(f"figure 2: no-op scons apps with {count} apps")
        built, error, cold = buildtime.try_build(root, jobs)
        if not built:
            projects.append({"apps": count, "error": error, "median": None, "failed_after_seconds": cold})
            fitting = min(count, _max_apps())
            if fitting >= count or fitting <= max((p["apps"] for p in projects if p.get("median") is not None),
                                                    default=0):
                continue
            log(f"figure 2: {count} apps do not build ({error}); measuring {fitting}, the most that fit")
            for app in apps[fitting:]:
                shutil.rmtree(root / "apps" / app.name)
            count, apps = fitting, apps[:fitting]
        measured = buildtime.noop(root, jobs, config.noop_repeats)
        if built:
            measured["cold_seconds"] = cold
        else:  # the cold figure would be the remainder of the failed build: not comparable
            measured["cold_seconds"] = None
            measured["note"] = f"the {projects[-1]['apps']}-app project with its last {projects[-1]['apps'] - count} " \
                               "apps removed (no cold figure: it finished the failed build)"
        projects.append({"apps": count, **measured})
        largest = (root, [a.name for a in apps])
    projects.sort(key=lambda p: (p["apps"], p.get("median") is None))
    root, names = largest
    log(f"figure 2: one app edited among {len(names)}")
    incremental = buildtime.incremental(root, names, jobs, config.incremental_repeats)
    incremental["apps"] = len(names)
    return {"projects": projects, "incremental": incremental, "jobs": jobs, "repeats": config.noop_repeats,
            "target_apps": max(config.noop_counts),
            "description": f"strategy iram, about {config.noop_size // KB} KB of code each, same fixed part as "
                           f"figure 3; the partition table holds at most {_max_apps()} apps next to the "
                           f"example's 3 firmware partitions"}


def figure_load(work: Path, config: Config, calibration, chip: str, jobs: int) -> dict:
    apps = [workload.AppSpec(f"{strategy}_{size // KB}k", size, strategy, seed=size, ram_limit=KB)
            for strategy in ("iram", "xip") for size in config.load_sizes]
    spec = workload.ProjectSpec(apps, chip=chip, firmware=True)
    root = workload.write_project(work / "load" / "project", spec, calibration)
    log(f"figures 3-5: building {len(apps)} apps ({', '.join(a.name for a in apps)}) and the bench firmware")
    build_seconds, _ = workload.scons(root, f"-j{jobs}", "apps", "flash-apps", loadcost.FIRMWARE)
    sizes = {app.name: loadcost.sizes(root, app.name) for app in apps}
    log(f"figures 3-5: loading them in the emulator, counting instructions ({jobs} processes)")
    started = time.perf_counter()
    run = loadcost.run(root, chip, [a.name for a in apps], [sizes[a.name]["image"] for a in apps], jobs)
    if run["problems"]:
        raise RuntimeError("the bench firmware failed:\n" + "\n".join(run["problems"]))
    return {"chip": chip, "apps": [asdict(a) for a in apps], "sizes": sizes,
            "run": run, "build_seconds": build_seconds, "emulator_wall_seconds": time.perf_counter() - started,
            "fixed": FIXED_PART}


def _edit_project(folder: Path, config: Config, calibration, chip: str, first_seed: int):
    """The project figures 6 and 8 edit: config.iteration_apps apps of strategy auto, the
    iteration sizes in turn, with the bench firmware; (its apps, its root)."""
    apps = [workload.AppSpec(f"app{i:02d}", config.iteration_sizes[i % len(config.iteration_sizes)], "auto",
                             seed=first_seed + i, ram_limit=KB) for i in range(config.iteration_apps)]
    return apps, workload.write_project(folder, workload.ProjectSpec(apps, chip=chip, firmware=True), calibration)


def figure_iteration(work: Path, config: Config, calibration, chip: str, jobs: int) -> dict:
    apps, root = _edit_project(work / "iteration" / "project", config, calibration, chip, first_seed=100)
    log(f"figure 6: {len(apps)} apps, {config.iteration_repeats} edits, scons run after each")
    return iteration.measure(root, [a.name for a in apps], jobs, config.iteration_repeats)


def figure_call(work: Path, config: Config, calibration, chip: str, jobs: int) -> dict:
    measured = list(dict.fromkeys([chip, *CALL_CHIPS]))
    log(f"figure 7: the call path on {', '.join(measured)}")
    return callcost.figure(work, measured)


def figure_live(work: Path, config: Config, calibration, chip: str, jobs: int) -> dict:
    apps, root = _edit_project(work / "live" / "project", config, calibration, chip, first_seed=200)
    log(f"figure 8: {len(apps)} apps, {config.iteration_repeats} edits by push and by flash-apps + reboot")
    return live.measure(work, root, [a.name for a in apps], jobs, config.iteration_repeats)


# ---------------------------------------------------------------- the run


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _nproc() -> int:
    try:
        return int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)
    except (OSError, ValueError, subprocess.CalledProcessError):
        return os.cpu_count() or 1


def _compiler(cc: str) -> str:
    try:
        first = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        return f"{Path(cc).name} {first.split()[-1]}"
    except (OSError, IndexError):
        return cc


def write_outputs(results: dict, out: Path) -> None:
    """results.md, load_cost.png and results.json into `out`; prints the table and the targets."""
    target_list = report.targets(results)
    results["targets"] = [asdict(t) | {"verdict": t.verdict} for t in target_list]
    text = report.markdown(results, target_list)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(text)
    if "load" in results:
        report.plot(results, out / "load_cost.png")
    (out / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True, default=str) + "\n")
    print(text)
    print("targets:\n" + report.targets_text(target_list))
    log(f"wrote {out / 'results.md'}" + (f", {out / 'load_cost.png'}" if "load" in results else ""))


def render(source: Path, out: Path) -> int:
    write_outputs(json.loads(source.read_text()), out)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes, counts and repeats (for the tests)")
    parser.add_argument("--work", help="work folder for the generated projects (default: a temporary one)")
    parser.add_argument("--out", help="where results.md, load_cost.png, results.json go (default: build/bench/, "
                                      "build/bench/quick/ with --quick; bench/ with --update)")
    parser.add_argument("--update", action="store_true",
                        help="write into bench/: replace the committed results (a full run only)")
    parser.add_argument("--figures", default="1,2,3,6,7,8", help="which to run: 1, 2, 3 (= 3-5), 6, 7, 8")
    parser.add_argument("--chip", default="esp32c3", help="chip profile (default esp32c3)")
    parser.add_argument("--jobs", type=int, default=0, help="parallelism (default: nproc)")
    parser.add_argument("--render", metavar="RESULTS_JSON",
                        help="measure nothing: write the table and plot again from a results.json")
    args = parser.parse_args(argv)
    if args.update and args.quick:
        parser.error("--update replaces the committed results: it takes a full run, not --quick")
    default_out = BENCH if args.update else OUTPUTS / "quick" if args.quick else OUTPUTS
    if args.render:
        return render(Path(args.render), Path(args.out).resolve() if args.out else default_out)
    config = QUICK if args.quick else FULL
    jobs = args.jobs or _nproc()
    figures = {f.strip() for f in args.figures.split(",") if f.strip()}
    out = Path(args.out).resolve() if args.out else default_out
    out.mkdir(parents=True, exist_ok=True)
    work, temporary = workload.make_work_dir(args.work)
    started = time.perf_counter()
    load_before = os.getloadavg()
    try:
        log(f"work folder {work}; {'quick' if args.quick else 'full'} run, -j{jobs}, chip {args.chip}")
        calibration = workload.calibrate(args.chip, work / "calibration")
        results: dict = {"quick": args.quick, "calibration": calibration.to_dict()}
        stages = {}
        for figure, key, function in (("1", "build", figure_build), ("2", "noop", figure_noop),
                                      ("3", "load", figure_load), ("6", "iteration", figure_iteration),
                                      ("7", "call", figure_call), ("8", "live", figure_live)):
            if figure in figures:
                stage_started = time.perf_counter()
                results[key] = function(work, config, calibration, args.chip, jobs)
                stages[key] = time.perf_counter() - stage_started
                log(f"{key}: {stages[key]:.0f} s")
        command = "python bench/run.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
        results["meta"] = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpus": _nproc(), "cpu_model": _cpu_model(), "system": platform.platform(terse=True),
            "python": platform.python_version(), "chip": args.chip, "jobs": jobs,
            "compiler": _compiler(calibration.cc), "command": command.strip(),
            "seconds": time.perf_counter() - started, "stage_seconds": stages,
            # what else ran: timings are only as quiet as the machine (1-minute load averages)
            "load_average": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        }
        write_outputs(results, out)
        log(f"done in {time.perf_counter() - started:.0f} s")
        return 0
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
