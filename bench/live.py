"""Figure 8: the live loop (docs/live.md). Edit one app among several, then get it running:

* by push: scons builds the edited app's image (what `scons push APP=<app>` builds: not the
  other apps, the wrappers or the summary, which a push can't change), then the host pushes the
  image into the agent of the firmware already running in the emulator (its UART on a pty, the
  real dynapps.remote code through pyserial) and calls the edited export: no reset, no reboot;
* by flash: `scons run` (rebuild, flash-apps into the emulator's flash image, boot the bench
  firmware, which loads and calls every app), as in figure 6.

Both paths are measured alternately in the same run, on the same project and machine load, and
reported side by side (medians). Then the same edits once more with `dynapps watch` (watch.py:
one SCons process in interactive mode, the project read once, each edit built and pushed through
the connection already open), timed from the file's writing to the edited export's new result.
Also: the round trip of one host call with a 1 KB array (the example project's
crc.crc32_compute: buffer alloc, write, call, free), and what a push would take on a board at the
transport's speed, projected from the bytes that crossed the line (PROJECTION_ASSUMPTIONS says
what is assumed, not measured).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import threading
import time
import zlib
from pathlib import Path

import workload
from loadcost import parse_bench_lines

from dynapps import liveproto, project, remote, trustmark, watch
from dynapps.emulator.bridge import LiveEmulator

UART_BAUD = 460800  # CONFIG_DYNAPPS_AGENT_UART_BAUD's default
UART_BYTES_PER_S = UART_BAUD / 10  # 8N1: 10 bits a byte
USB_BYTES_PER_S = 1_000_000  # USB-Serial-JTAG (full-speed CDC): an assumption, not measured here
FRAME_TURNAROUND_S = 0.001  # per frame on a board (USB polling, the agent task waking): assumed
SECTOR_ERASE_S = 0.045  # a 4 KiB NOR sector erase, typical datasheet value: assumed
PROJECTION_ASSUMPTIONS = (f"UART {UART_BAUD} baud 8N1 ({UART_BYTES_PER_S / 1000:.0f} KB/s), USB-Serial-JTAG "
                          f"{USB_BYTES_PER_S / 1e6:.0f} MB/s, {FRAME_TURNAROUND_S * 1000:.0f} ms per frame, "
                          f"{SECTOR_ERASE_S * 1000:.0f} ms per 4 KiB sector erased (XIP); the build time as "
                          "measured here")
CALL_REPEATS = 20
FRAME_OVERHEAD = liveproto.HEADER.size + liveproto.CRC.size


def project_chip(root: Path) -> str:
    """The chip the project builds for, read as the build reads it (dynapps.yaml, the sdkconfig)."""
    return project.load(root, None, None).chip


def _wire(image_size: int, max_payload: int) -> tuple[int, int]:
    """(bytes on the line both ways, frames) of one push of `image_size` bytes."""
    piece = max_payload - 4
    pieces = -(-image_size // piece)
    frames = 2 * (pieces + 2)  # begin, the pieces, end: each a command and its answer
    payload = 28 + image_size + 4 * pieces + liveproto.APP_RECORD.size
    return payload + frames * FRAME_OVERHEAD, frames


def projected(build_s: float, image_size: int, strategy: str, max_payload: int, bytes_per_s: float) -> float:
    wire, frames = _wire(image_size, max_payload)
    sectors = trustmark.slot_bytes_needed(image_size) // trustmark.SECTOR  # the image's and its trust mark's
    erase = SECTOR_ERASE_S * sectors if strategy == "xip" else 0.0
    return build_s + wire / bytes_per_s + frames * FRAME_TURNAROUND_S + erase


def _push_edit(root: Path, device: remote.Device, app: str, marker: int, jobs: int) -> dict:
    export = getattr(getattr(device.apps, app), workload.export_name(app))
    before = export(1)
    workload.edit_app(root, app, marker)
    started = time.perf_counter()
    build_s, _ = workload.scons(root, f"-j{jobs}", f"build/apps/{app}.dapp")  # what `scons push APP=` builds
    built = time.perf_counter()
    loaded = device.push(watch.image_path(root, app))
    pushed = time.perf_counter()
    after = export(1)
    done = time.perf_counter()
    image = watch.image_path(root, app).stat().st_size
    return {"app": app, "strategy": loaded.strategy, "seconds": done - started, "build_seconds": built - started,
            "push_seconds": pushed - built, "call_seconds": done - pushed, "image": image,
            "result_changed": after != before}


def _flash_edit(root: Path, app: str, marker: int, jobs: int) -> dict:
    workload.edit_app(root, app, marker)
    seconds, result = workload.scons(root, f"-j{jobs}", "run")
    lines = parse_bench_lines(result.stdout)
    if lines.get(app, {}).get("status") != "OK":
        raise RuntimeError(f"flash path, edit of {app}: the app did not run:\n{result.stdout[-3000:]}")
    return {"app": app, "seconds": seconds}


def measure_edits(root: Path, apps: list[str], jobs: int, repeats: int) -> dict:
    """Edit -> running, by push and by flash-apps + reboot, alternately, in one project."""
    workload.scons(root, f"-j{jobs}", "apps", "flash-apps", "live-firmware", "run")
    live = LiveEmulator(project_chip(root), root / "build/emulator/live/firmware.elf",
                        (root / "build/emulator/flash.bin").read_bytes()).start()
    try:
        with remote.connect(live.port, project=root, on_log=None) as device:
            for app in apps:
                device.push(watch.image_path(root, app))
            pushes, flashes = [], []
            for i in range(repeats):
                app = apps[(3 * i + 1) % len(apps)]
                flashes.append(_flash_edit(root, app, 3000 + 2 * i, jobs))
                pushes.append(_push_edit(root, device, app, 3001 + 2 * i, jobs))
            max_payload = device.info.max_payload
            watches = _watch_edits(root, device, apps, repeats)
    finally:
        live.stop()
    for push in pushes:
        push["projected_uart_seconds"] = projected(push["build_seconds"], push["image"], push["strategy"],
                                                   max_payload, UART_BYTES_PER_S)
        push["projected_usb_seconds"] = projected(push["build_seconds"], push["image"], push["strategy"],
                                                  max_payload, USB_BYTES_PER_S)
    return {"apps": len(apps), "pushes": pushes, "flashes": flashes, "watches": watches,
            "watch_median_seconds": statistics.median(w["seconds"] for w in watches),
            "push_median_seconds": statistics.median(p["seconds"] for p in pushes),
            "push_only_median_seconds": statistics.median(p["push_seconds"] + p["call_seconds"] for p in pushes),
            "build_median_seconds": statistics.median(p["build_seconds"] for p in pushes),
            "flash_median_seconds": statistics.median(f["seconds"] for f in flashes),
            "projected_uart_median_seconds": statistics.median(p["projected_uart_seconds"] for p in pushes),
            "projected_usb_median_seconds": statistics.median(p["projected_usb_seconds"] for p in pushes),
            "assumptions": PROJECTION_ASSUMPTIONS}


def _watch_edits(root: Path, device: remote.Device, apps: list[str], repeats: int) -> list[dict]:
    """Edit -> running with `dynapps watch` (watch.py) serving the same connection: the same
    edits as the push path, each timed from the file's writing to the edited export's new result."""
    pushed, stop, watching = threading.Event(), threading.Event(), threading.Event()
    scons = watch.InteractiveScons(root, [], [sys.executable, "-m", "SCons"], env=workload.scons_env())
    watcher = watch.Watcher(device, root, apps, scons,
                            say=lambda line: watching.set() if line.startswith("watch: ") else None)
    thread = threading.Thread(target=watch.watch, args=(watcher, stop), kwargs={"on_push": lambda _: pushed.set()})
    thread.start()
    edits = []
    try:
        if not watching.wait(120):  # begin(): the project read, the apps built
            raise RuntimeError("dynapps watch did not start within 120 s")
        for i in range(repeats):
            app = apps[(3 * i + 1) % len(apps)]
            export = getattr(getattr(device.apps, app), workload.export_name(app))
            before = export(1)
            pushed.clear()
            started = time.perf_counter()
            workload.edit_app(root, app, 5000 + i)
            if not pushed.wait(60):
                raise RuntimeError(f"dynapps watch did not push the edit of {app} within 60 s")
            after = export(1)
            edits.append({"app": app, "seconds": time.perf_counter() - started, "result_changed": after != before})
    finally:
        stop.set()
        thread.join(60)
    return edits


def measure_call(work: Path, jobs: int) -> dict:
    """Round trip of crc.crc32_compute(1 KB) from the host, and of a call without an array."""
    root = work / "live-call"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for relative in ("SConstruct", "dynapps.yaml", "firmware/exports.yaml", "firmware/partitions-base.csv",
                     "firmware/main/demo.c", "firmware/main/demo.h", "firmware/main/demo_calls.c",
                     "firmware/main/demo_calls.h"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(workload.REPO / relative, root / relative)
    shutil.copytree(workload.REPO / "apps", root / "apps")
    workload.scons(root, f"-j{jobs}", "apps", "flash-apps", "live-firmware")
    data = bytes(range(256)) * 4
    live = LiveEmulator(project_chip(root), root / "build/emulator/live/firmware.elf",
                        (root / "build/emulator/flash.bin").read_bytes()).start()
    try:
        with remote.connect(live.port, project=root, on_log=None) as device:
            device.push(watch.image_path(root, "crc"))
            crc = device.apps.crc
            array_s, plain_s = [], []
            for _ in range(CALL_REPEATS):
                started = time.perf_counter()
                value = crc.crc32_compute(data, len(data))
                array_s.append(time.perf_counter() - started)
                started = time.perf_counter()
                crc.crc32_compute(None, 0)
                plain_s.append(time.perf_counter() - started)
            if value != zlib.crc32(data):
                raise RuntimeError(f"crc32_compute over the 1 KB array returned {value:#x}")
    finally:
        live.stop()
    frames = 4  # alloc, write, call, free: each a command and its answer
    return {"array_bytes": len(data), "repeats": CALL_REPEATS,
            "array_median_seconds": statistics.median(array_s), "plain_median_seconds": statistics.median(plain_s),
            "frames": frames, "wire_bytes": len(data) + 2 * frames * FRAME_OVERHEAD + 64,
            "projected_uart_seconds": (len(data) + 2 * frames * FRAME_OVERHEAD + 64) / UART_BYTES_PER_S
            + 2 * frames * FRAME_TURNAROUND_S}


def measure(work: Path, root: Path, apps: list[str], jobs: int, repeats: int) -> dict:
    return {**measure_edits(root, apps, jobs, repeats), "call": measure_call(work, jobs)}
