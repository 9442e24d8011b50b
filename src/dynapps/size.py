"""The size report: how full each memory region the apps use is, like `idf.py size`, with the
change against the previous build, as text, as JSON (build/size.json, `dynapps size --json`) and
as a picture of the flash and RAM layout (build/layout.svg). Written by the summary step of
every build; `dynapps size` prints the last one.

Regions:
- flash, app slots: the apps region of dynapps.yaml; used = the slots laid out in it;
- flash, images in their slots: the bytes the images take of their slots;
- RAM, data arena: the ranges laid out for the data and bss of every slot that may run in place
  (strategy auto or xip: limits.ram each), also when the app was built for IRAM this time;
- RAM, executable: what IRAM-copy apps hold while loaded (code copy, data, bss). Its total is the
  firmware's executable heap at run time, which the build can't know: no free or percent;
- PSRAM: what PSRAM-copy apps hold, when there are any (its total is likewise the heap's).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from . import render
from .contracts import LinkAnalysis, MemoryMap
from .errors import DynappsError

FORMAT_VERSION = 1
SIZE_JSON = "build/size.json"
LAYOUT_SVG = "build/layout.svg"


@dataclass(frozen=True)
class Region:
    name: str
    used: int
    total: int | None  # None: decided at run time (a heap)
    change: int | None = None  # used - the previous build's; None: no previous build

    @property
    def free(self) -> int | None:
        return None if self.total is None else self.total - self.used

    @property
    def percent(self) -> float | None:
        return None if not self.total else 100.0 * self.used / self.total


@dataclass(frozen=True)
class SizeReport:
    chip: str
    regions: tuple[Region, ...]
    totals: tuple[Region, ...]  # flash (slots), RAM (arena + executable + PSRAM)

    def to_json(self) -> dict:
        def region(r: Region) -> dict:
            return {**asdict(r), "free": r.free, "percent": None if r.percent is None else round(r.percent, 1)}
        return {"version": FORMAT_VERSION, "chip": self.chip, "regions": [region(r) for r in self.regions],
                "totals": [region(r) for r in self.totals]}

    def text(self) -> str:
        header = ("region", "used", "free", "total", "used %", "change")
        rows = [header] + [_cells(r) for r in (*self.regions, *self.totals)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
                 .rstrip() for row in rows]
        lines.insert(len(self.regions) + 1, "-" * len(lines[0]))
        return f"Memory used by the apps ({self.chip}; change: against the previous build)\n" + "\n".join(lines)


def _cells(region: Region) -> tuple[str, ...]:
    def number(value: int | None) -> str:
        return "-" if value is None else str(value)
    percent = "-" if region.percent is None else f"{region.percent:.1f}%"
    change = "-" if region.change is None else f"{region.change:+d}"
    return region.name, str(region.used), number(region.free), number(region.total), percent, change


def report(memory: MemoryMap, rows: list[tuple[LinkAnalysis, int]], previous: dict | None) -> SizeReport:
    """rows: (link analysis, image size) per app; previous: the last build's size.json, or None."""
    by_strategy: dict[str, int] = {}
    for analysis, _ in rows:
        by_strategy[analysis.strategy] = by_strategy.get(analysis.strategy, 0) + analysis.ram_bytes
    slots_total = sum(analysis.slot.size for analysis, _ in rows)
    arena_used = sum(analysis.slot.ram_size or 0 for analysis, _ in rows)  # None: a strategy: iram slot
    regions = [Region("flash: app slots", slots_total, memory.region_size),
               Region("flash: images in their slots", sum(size for _, size in rows), slots_total),
               Region("RAM: data arena (XIP-capable slots)", arena_used, memory.arena_size),
               Region("RAM: executable (IRAM-copy apps)", by_strategy.get("iram", 0), None)]
    if "psram" in by_strategy:
        regions.append(Region("PSRAM (PSRAM-copy apps)", by_strategy["psram"], None))
    ram_used = arena_used + by_strategy.get("iram", 0) + by_strategy.get("psram", 0)
    totals = [Region("total flash (slots)", slots_total, memory.region_size), Region("total RAM", ram_used, None)]
    earlier = _previous_used(previous)
    return SizeReport(memory.chip, tuple(_with_change(r, earlier) for r in regions),
                      tuple(_with_change(r, earlier) for r in totals))


def _previous_used(previous: dict | None) -> dict[str, int]:
    if not previous or previous.get("version") != FORMAT_VERSION:
        return {}
    return {r["name"]: r["used"] for r in previous.get("regions", []) + previous.get("totals", [])}


def _with_change(region: Region, earlier: dict[str, int]) -> Region:
    if region.name not in earlier:
        return region
    return Region(region.name, region.used, region.total, region.used - earlier[region.name])


def read_previous(path: Path) -> dict | None:
    """The last build's report; one that can't be read counts as none (no change column)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# ---- the picture -------------------------------------------------------------------------------

SVG_WIDTH = 1000
HEAP_KINDS = ("iram", "psram")  # blocks the heap places at run time: no address to show
BAR_X, BAR_WIDTH = 20, 960


@dataclass(frozen=True)
class Item:
    """One block of a bar: `used` bytes of it are drawn filled (an image in its slot)."""
    label: str
    address: int
    size: int
    kind: str  # firmware | slot | arena | reserved | iram | psram: its colour
    used: int | None = None


def _blocks(start: int, length: int, items: list[Item]) -> list[dict]:
    """The items placed along a bar that shows [start, start + length), in address order."""
    scale = BAR_WIDTH / length
    blocks = []
    for item in sorted(items, key=lambda i: i.address):
        note = _human(item.size) if item.kind in HEAP_KINDS else f"{item.address:#x}, {_human(item.size)}"
        if item.used is not None:
            note += f", image {_human(item.used)} ({100 * item.used / item.size:.0f}%)"
        blocks.append({"label": item.label, "x": BAR_X + (item.address - start) * scale,
                       "width": max(item.size * scale, 1.0), "fill": min(item.used, item.size) * scale
                       if item.used is not None else None, "kind": item.kind, "note": note})
    return blocks


def _human(size: int) -> str:
    if size % 1024 == 0 and size >= 1024:
        return f"{size // 1024 // 1024} MB" if size % (1024 * 1024) == 0 else f"{size // 1024} KB"
    return f"{size} B"


def svg(memory: MemoryMap, rows: list[tuple[LinkAnalysis, int]]) -> str:
    """The flash (whole chip, then the apps region) and the RAM the apps use, with names and sizes."""
    images = {analysis.app: size for analysis, size in rows}
    flash = [Item(p.name, p.offset, p.size, "slot" if p.name in images else "firmware") for p in memory.partitions]
    slots = [Item(a.app, a.slot.flash_offset, a.slot.size, "slot", images[a.app]) for a, _ in rows]
    arena = [Item(a.app if a.strategy == "xip" else f"{a.app} (runs {a.strategy})", a.slot.ram_address,
                  a.slot.ram_size, "arena" if a.strategy == "xip" else "reserved")
             for a, _ in rows if a.slot.ram_address is not None]
    held, cursor = [], 0  # executable RAM and PSRAM: heap blocks at run time, drawn one after another
    for analysis, _ in rows:
        if analysis.strategy != "xip":
            held.append(Item(f"{analysis.app} ({analysis.strategy})", cursor, analysis.ram_bytes, analysis.strategy))
            cursor += analysis.ram_bytes
    return render.render("layout.svg.j2", width=SVG_WIDTH, bar_x=BAR_X, bar_width=BAR_WIDTH, chip=memory.chip,
                         flash_size=_human(memory.flash_size), flash=_blocks(0, memory.flash_size, flash),
                         region_title=f"apps region {memory.region_offset:#x}, {_human(memory.region_size)}: "
                                      "slots, the image filled",
                         region=_blocks(memory.region_offset, memory.region_size, slots),
                         arena_title=f"data arena {memory.arena_address:#x}, {_human(memory.arena_size)} "
                                     f"({memory.arena_source}): XIP apps' data and bss, light: reserved",
                         arena=_blocks(memory.arena_address, memory.arena_size, arena),
                         exec_title=f"RAM the copied apps hold while loaded: {_human(cursor)} "
                                    "(heap blocks at run time, shown one after another)",
                         executable=_blocks(0, cursor or 1, held))


# ---- `dynapps size [--json]` --------------------------------------------------------------------

def run(argv: list[str]) -> int:
    if argv not in ([], ["--json"]):
        print("usage: dynapps size [--json]", file=sys.stderr)
        return 2
    path = Path(SIZE_JSON)
    previous = read_previous(path)
    if previous is None:
        raise DynappsError(f"no size report in {path}: build the apps first (dynapps apps)")
    if argv == ["--json"]:
        print(json.dumps(previous, indent=2))
        return 0
    print(from_json(previous).text())
    return 0


def from_json(data: dict) -> SizeReport:
    def regions(key: str) -> tuple[Region, ...]:
        return tuple(Region(r["name"], r["used"], r["total"], r["change"]) for r in data[key])
    return SizeReport(data["chip"], regions("regions"), regions("totals"))
