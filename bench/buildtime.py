"""Figures 1 and 2: what `scons apps` costs against the compiler doing the same work directly.

Figure 1, build overhead. A cold `scons -jN apps` (no build folder, no SCons database) against
the same compile and link commands run directly with the cross compiler at the same
parallelism. The commands are the ones SCons ran, read from a `scons VERBOSE=1 apps` log: every
compile, and per app the import-stub assembly and link(s) in the order the link step ran them
(an app with `strategy: auto` that ends up XIP is linked twice: as an IRAM blob first, then as
an XIP image). The direct run keeps the dependencies SCons has (an app's objects before its
link) and runs them in a pool of N worker threads, each starting one compiler process at a time.
The generated linker scripts and stub sources are restored before each direct run (the direct
run does not generate them: that is part of what the tool does). Cold builds and direct runs
alternate; the medians are compared.

Figure 2, no-op and incremental builds: `scons -jN apps` with nothing to do, for projects of
several sizes, and after a real edit of one app's source among the largest project's apps.
"""

from __future__ import annotations

import queue
import re
import shlex
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import workload

from dynapps import uptodate


@dataclass
class Command:
    argv: list[str]
    kind: str  # compile | stubs | link
    app: str


@dataclass
class AppCommands:
    compiles: list[Command] = field(default_factory=list)
    link_steps: list[Command] = field(default_factory=list)  # stubs and links, in the order run


def parse_verbose_log(text: str, cc: str) -> dict[str, AppCommands]:
    """Per app, the compiler commands a `scons VERBOSE=1 apps` log shows.

    With -j, SCons's threads print concurrently and two lines can run into one ("...-o x.o/usr/bin/
    gcc ..."), so commands are found wherever the compiler's path starts one, each ending at the
    next command or the end of its line."""
    apps: dict[str, AppCommands] = {}
    for chunk in re.split(rf"(?={re.escape(cc)} )", text)[1:]:
        line = chunk.split("\n", 1)[0].strip()
        argv = shlex.split(line)
        output = argv[argv.index("-o") + 1] if "-o" in argv else ""
        match = re.match(r"build/apps/([^/]+)/", output)
        if not match:
            continue
        app = match.group(1)
        entry = apps.setdefault(app, AppCommands())
        if "-T" in argv:
            entry.link_steps.append(Command(argv, "link", app))
        elif any(arg.endswith("_imports.S") for arg in argv):
            entry.link_steps.append(Command(argv, "stubs", app))
        else:
            entry.compiles.append(Command(argv, "compile", app))
    return apps


def check_commands(apps: dict[str, AppCommands], expected_apps: set[str]) -> None:
    """Every app compiled and linked, each link after a stub assembly: else the log was misread."""
    problems = sorted(expected_apps - set(apps))
    for app, entry in apps.items():
        kinds = [c.kind for c in entry.link_steps]
        if not entry.compiles or not kinds or kinds[-1] != "link" or kinds.count("stubs") != kinds.count("link"):
            problems.append(f"{app}: {len(entry.compiles)} compiles, link steps {kinds}")
    if problems:
        raise RuntimeError("could not read the compiler commands from the VERBOSE=1 log: " + "; ".join(problems))


def run_direct(root: Path, apps: dict[str, AppCommands], jobs: int) -> float:
    """Run the commands with `jobs` workers, an app's link steps after its compiles; wall seconds."""
    ready: queue.Queue = queue.Queue()
    lock = threading.Lock()
    pending = {app: len(entry.compiles) for app, entry in apps.items()}
    remaining = [sum(len(e.compiles) + (1 if e.link_steps else 0) for e in apps.values())]
    errors: list[str] = []
    done = threading.Event()

    def finish_one() -> None:
        remaining[0] -= 1
        if remaining[0] == 0:
            done.set()

    def work() -> None:
        while not done.is_set():
            try:
                item = ready.get(timeout=0.05)
            except queue.Empty:
                continue
            commands = item if isinstance(item, list) else [item]
            for command in commands:
                result = subprocess.run(command.argv, cwd=root, capture_output=True, text=True)
                if result.returncode != 0:
                    errors.append(f"{' '.join(command.argv)}\n{result.stderr[-1500:]}")
            with lock:
                if isinstance(item, Command):  # a compile: the app's link steps may become ready
                    pending[item.app] -= 1
                    if pending[item.app] == 0 and apps[item.app].link_steps:
                        ready.put(apps[item.app].link_steps)
                finish_one()

    for app, entry in apps.items():
        for command in entry.compiles:
            ready.put(command)
        if not entry.compiles and entry.link_steps:
            ready.put(entry.link_steps)
    if remaining[0] == 0:
        return 0.0
    started = time.perf_counter()
    workers = [threading.Thread(target=work, daemon=True) for _ in range(jobs)]
    for worker in workers:
        worker.start()
    done.wait()
    seconds = time.perf_counter() - started
    for worker in workers:
        worker.join()
    if errors:
        raise RuntimeError("direct build failed:\n" + "\n".join(errors[:3]))
    return seconds


def _stash_generated(root: Path, stash: Path) -> list[Path]:
    """Copy the linker scripts and stub sources scons generated (the direct run's inputs)."""
    if stash.exists():
        shutil.rmtree(stash)
    files = sorted(list((root / "build/apps").glob("*/*.ld")) + list((root / "build/apps").glob("*/*_imports.S")))
    for path in files:
        target = stash / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    return files


def _restore_generated(root: Path, stash: Path) -> None:
    for path in stash.rglob("*"):
        if path.is_file():
            target = root / path.relative_to(stash)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)


def cold_vs_direct(root: Path, jobs: int, repeats: int, cc: str) -> dict:
    workload.clean_build(root)
    capture_seconds, result = workload.scons(root, f"-j{jobs}", "VERBOSE=1", "apps")
    apps = parse_verbose_log(result.stdout, cc)
    check_commands(apps, {p.name for p in (root / "apps").iterdir() if (p / "app.yaml").is_file()})
    stash = root.parent / (root.name + "-generated")
    _stash_generated(root, stash)
    scons_times, direct_times = [], []
    for _ in range(repeats):
        workload.clean_build(root)
        seconds, _ = workload.scons(root, f"-j{jobs}", "apps")
        scons_times.append(seconds)
        workload.clean_build(root)
        _restore_generated(root, stash)
        direct_times.append(run_direct(root, apps, jobs))
    workload.clean_build(root)
    counts = {kind: sum(1 for e in apps.values() for c in e.compiles + e.link_steps if c.kind == kind)
              for kind in ("compile", "stubs", "link")}
    scons_median, direct_median = statistics.median(scons_times), statistics.median(direct_times)
    return {
        "apps": len(apps), "jobs": jobs, "repeats": repeats, "commands": counts,
        "scons_seconds": scons_times, "direct_seconds": direct_times,
        "scons_median": scons_median, "direct_median": direct_median,
        "ratio": scons_median / direct_median if direct_median else None,
        "verbose_capture_seconds": capture_seconds,
    }


def shared_cache(root: Path, jobs: int, repeats: int, uncached_median: float) -> dict:
    """A team's second clone (docs/performance.md, "Teams"): the project built once with CACHE_DIR
    (warming the shared cache), copied without its build (a fresh clone elsewhere), then built cold
    with the same CACHE_DIR, `repeats` times (build folder and SCons database removed each time).
    Its median against the uncached cold build measured in the same run."""
    cache = root.parent / (root.name + "-shared-cache")
    clone = root.parent / (root.name + "-second-clone")
    for path in (cache, clone):
        shutil.rmtree(path, ignore_errors=True)
    workload.clean_build(root)
    warm_seconds, _ = workload.scons(root, f"-j{jobs}", "apps", f"CACHE_DIR={cache}")
    shutil.copytree(root, clone, ignore=shutil.ignore_patterns("build", ".sconsign.dblite", "partitions.csv"))
    times, retrieved = [], 0
    for _ in range(repeats):
        workload.clean_build(clone)
        seconds, result = workload.scons(clone, f"-j{jobs}", "apps", f"CACHE_DIR={cache}")
        times.append(seconds)
        retrieved = sum(1 for line in result.stdout.splitlines() if line.startswith("Retrieved"))
    workload.clean_build(root)
    shutil.rmtree(clone, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    median = statistics.median(times)
    return {"warm_seconds": warm_seconds, "seconds": times, "median": median, "retrieved": retrieved,
            "uncached_median": uncached_median, "ratio": median / uncached_median if uncached_median else None}


def _steps(stdout: str) -> list[tuple[str, str]]:
    return re.findall(r"^(CC|LINK|IMAGE) (\S+)$", stdout, re.M)


def noop(root: Path, jobs: int, repeats: int) -> dict:
    """Median wall and CPU time of `scons apps` with nothing to do (after a first build, also timed),
    two ways in turn: with the record of the last complete build, whose SConstruct stops before
    reading the project (uptodate.py), and without it, SCons reading the project and finding every
    target up to date (what the first no-op after a racy edit costs, or a project whose SConstruct
    does not call dynapps.up_to_date()); each next to a run of SCons on an empty SConstruct (the
    baseline of the CPU-time target)."""
    cold, _ = workload.scons(root, f"-j{jobs}", "apps")  # builds, or finishes what a failed build left
    empty = root.parent / (root.name + "-empty")
    empty.mkdir(exist_ok=True)
    (empty / "SConstruct").write_text("")
    times, cpu, full_times, full_cpu, empty_cpu = [], [], [], [], []
    for _ in range(repeats):
        (root / uptodate.RECORD).unlink(missing_ok=True)
        seconds, result = _noop_run(root, jobs, shortcut=False)
        full_times.append(seconds)
        full_cpu.append(result.cpu_seconds)
        seconds, result = _noop_run(root, jobs, shortcut=True)
        times.append(seconds)
        cpu.append(result.cpu_seconds)
        empty_cpu.append(workload.scons(empty, f"-j{jobs}", "-Q")[1].cpu_seconds)
    cpu_median, full_cpu_median, empty_median = (statistics.median(x) for x in (cpu, full_cpu, empty_cpu))
    return {"cold_seconds": cold, "seconds": times, "median": statistics.median(times),
            "cpu_seconds": cpu, "cpu_median": cpu_median, "empty_cpu_seconds": empty_cpu,
            "empty_cpu_median": empty_median, "cpu_ratio": cpu_median / empty_median if empty_median else None,
            "full_seconds": full_times, "full_median": statistics.median(full_times), "full_cpu_seconds": full_cpu,
            "full_cpu_median": full_cpu_median,
            "full_cpu_ratio": full_cpu_median / empty_median if empty_median else None}


def _noop_run(root: Path, jobs: int, shortcut: bool):
    seconds, result = workload.scons(root, f"-j{jobs}", "apps")
    if "`apps' is up to date." not in result.stdout or _steps(result.stdout):
        raise RuntimeError(f"no-op build of {root} did work:\n{result.stdout[-2000:]}")
    if (uptodate.SHORTCUT_MESSAGE in result.stdout) != shortcut:
        raise RuntimeError(f"no-op build of {root} {'did not take' if shortcut else 'took'} the shortcut:\n"
                           f"{result.stdout[-2000:]}")
    return seconds, result


def incremental(root: Path, apps: list[str], jobs: int, repeats: int) -> dict:
    """Median wall time of `scons apps` after a real edit of one app's source."""
    times, steps = [], []
    for i in range(repeats):
        app = apps[(i * 7) % len(apps)]
        workload.edit_app(root, app, 1000 + i)
        seconds, result = workload.scons(root, f"-j{jobs}", "apps")
        done = _steps(result.stdout)
        expected = [("CC", f"apps/{app}/{app}.c"), ("LINK", app), ("IMAGE", f"{app}.dapp")]
        if done != expected:
            raise RuntimeError(f"editing {app} rebuilt {done}, expected {expected}")
        times.append(seconds)
        steps.append(len(done))
    return {"seconds": times, "median": statistics.median(times), "steps_per_edit": steps}


def try_build(root: Path, jobs: int) -> tuple[bool, str, float]:
    """(built, first error line, wall seconds) of a cold `scons apps` that may fail."""
    workload.clean_build(root)
    seconds, result = workload.scons(root, f"-j{jobs}", "apps", check=False)
    if result.returncode == 0:
        return True, "", seconds
    lines = [l for l in (result.stderr + result.stdout).splitlines() if "error" in l.lower() or "***" in l]
    return False, lines[0].strip() if lines else result.stderr.strip()[-300:], seconds
