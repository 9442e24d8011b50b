"""Figure 6: iteration. Edit one app among several, then `scons run`: rebuild what changed, let
flash-apps write what changed into the emulator's flash image, boot the bench firmware in the
emulator, which loads and calls every app.

Measured per edit: the bytes flash-apps wrote (it prints `flash-apps: wrote N bytes into ...
(labels)`) and which regions; the wall time from the edit to `scons run` returning with the
firmware done (every app loaded and called, the edited one returning its new result).

The full reflash it is compared with is what a first flash of everything writes, in 4 KB erase
sectors: the firmware (the emulator firmware's loadable segments, `PT_LOAD` file bytes, as
esptool would write the app binary), the partition table sector and every app image. An
ESP-IDF firmware adds a second-stage bootloader (about 20 KB) and is usually far larger than
this emulator firmware, so the ratio is conservative.
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

from elftools.elf.elffile import ELFFile

import workload
from dynapps import trustmark
from loadcost import parse_bench_lines

SECTOR = 0x1000
# Not anchored: with -j, SCons threads' prints may interleave (a summary's newline can come after it).
_WROTE = re.compile(r"flash-apps: wrote (\d+) bytes into \S+ \(([^)]*)\)")


def _sectors(size: int) -> int:
    return (size + SECTOR - 1) // SECTOR * SECTOR


def firmware_flash_bytes(elf_path: Path) -> int:
    with open(elf_path, "rb") as stream:
        return sum(segment["p_filesz"] for segment in ELFFile(stream).iter_segments()
                   if segment["p_type"] == "PT_LOAD")


def full_reflash(root: Path, apps: list[str]) -> dict:
    firmware = firmware_flash_bytes(root / "build/emulator/firmware.elf")
    images = {app: (root / "build/apps" / f"{app}.dapp").stat().st_size for app in apps}
    table = (root / "build/partition-table.bin").stat().st_size
    total = _sectors(firmware) + _sectors(table) + sum(_sectors(size) for size in images.values())
    return {"firmware": firmware, "partition_table": table, "images": images, "total": total}


def _run(root: Path, jobs: int) -> tuple[float, str]:
    seconds, result = workload.scons(root, f"-j{jobs}", "run")
    return seconds, result.stdout


def measure(root: Path, apps: list[str], jobs: int, repeats: int) -> dict:
    first_seconds, first_out = _run(root, jobs)  # build + flash + run everything once
    first = _WROTE.search(first_out)
    results = {app: info.get("result") for app, info in parse_bench_lines(first_out).items()}
    if any(info.get("status") != "OK" for info in parse_bench_lines(first_out).values()):
        raise RuntimeError(f"the iteration project did not run cleanly:\n{first_out[-3000:]}")
    edits = []
    for i in range(repeats):
        app = apps[(3 * i + 1) % len(apps)]
        workload.edit_app(root, app, 2000 + i)
        started = time.perf_counter()
        seconds, out = _run(root, jobs)
        wall = time.perf_counter() - started
        wrote = _WROTE.search(out)
        lines = parse_bench_lines(out)
        if not wrote or lines.get(app, {}).get("status") != "OK":
            raise RuntimeError(f"edit of {app}: no flash-apps line or the app did not run:\n{out[-3000:]}")
        new_result = lines[app]["result"]
        data = (root / "build/apps" / f"{app}.dapp").read_bytes()
        image = len(data)
        edits.append({
            "app": app, "strategy": lines[app]["strategy"], "seconds": wall, "written": int(wrote.group(1)),
            "regions": [label.strip() for label in wrote.group(2).split(",")],
            "image": image, "image_sectors": _sectors(image),
            # what flash-apps must write for it: its sectors, and for an XIP image the erased sector
            # after it, which holds the slot's trust mark (flash.regions: a rewrite destroys the mark)
            "image_region": _sectors(image) + len(trustmark.erased_sector(data)),
            "result_changed": new_result != results.get(app),
        })
        results[app] = new_result
    reflash = full_reflash(root, apps)
    return {
        "apps": len(apps), "first_run_seconds": first_seconds,
        "first_written": int(first.group(1)) if first else None,
        "edits": edits, "median_seconds": statistics.median(e["seconds"] for e in edits),
        "full_reflash": reflash,
    }
