"""Where every app goes: flash slot, XIP instruction-bus address, data-arena range.

The one module that computes offsets; partitions, linking and flashing read them from here.
Slots are laid out from the manifests' declared limits (never from built sizes), in a fixed
order, so an app that grows inside its limit never moves another app.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import chips
from .errors import DynappsError
from .manifest import COPIED_STRATEGIES, Manifest
from .project import DataArena, Project, psram_chips_text


@dataclass(frozen=True)
class Slot:
    app: str
    flash_offset: int
    size: int
    xip_capable: bool  # page aligned, has an XIP address and an arena range
    vaddr: int | None  # instruction-bus address the slot is mapped at (XIP)
    ram_address: int | None  # data + bss of the XIP image
    ram_size: int | None


@dataclass(frozen=True)
class Layout:
    chip: str
    region_offset: int
    region_size: int
    arena: DataArena
    slots: tuple[Slot, ...]

    def slot(self, app: str) -> Slot:
        return next(s for s in self.slots if s.app == app)


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def slot_order(project: Project, manifests: list[Manifest]) -> list[Manifest]:
    by_name = {m.name: m for m in manifests}
    for name in project.order:
        if name not in by_name:
            raise DynappsError(f"apps.order: no app named '{name}' in apps/", project.path)
    listed = [by_name[name] for name in project.order]
    return listed + [m for m in manifests if m.name not in project.order]


def plan(project: Project, manifests: list[Manifest], arena: DataArena) -> Layout:
    profile = project.profile
    slots: list[Slot] = []
    offset = project.region_offset
    arena_cursor = arena.address
    for manifest in slot_order(project, manifests):
        _check_strategy(profile, manifest)
        xip_capable = manifest.strategy not in COPIED_STRATEGIES
        alignment = profile.slot_alignment(xip_capable)
        size = _align(manifest.flash_limit or project.default_flash, alignment)
        offset = _align(offset, alignment)
        vaddr = ram_address = ram_size = None
        if xip_capable:
            vaddr = _xip_address(profile, manifest, offset, size)
            ram_size = _align(manifest.ram_limit or project.default_ram, 16)
            ram_address = arena_cursor
            arena_cursor += ram_size
        slots.append(Slot(manifest.name, offset, size, xip_capable, vaddr, ram_address, ram_size))
        offset += size
    _check_fits(project, slots, offset, arena, arena_cursor)
    return Layout(project.chip, project.region_offset, project.region_size, arena, tuple(slots))


def _check_strategy(profile: chips.ChipProfile, manifest: Manifest) -> None:
    if manifest.strategy == "psram" and not profile.has_psram:
        raise DynappsError(f"strategy: psram: app {manifest.name} can't run from PSRAM, the {profile.name} has none "
                           f"({psram_chips_text()}); use iram, xip or auto", manifest.path, manifest.strategy_line)


def _xip_address(profile: chips.ChipProfile, manifest: Manifest, offset: int, size: int) -> int:
    vaddr = profile.xip_vaddr(offset)
    if not profile.flash_ibus.contains(vaddr, size):
        raise DynappsError(f"app {manifest.name}: its slot at flash offset {offset:#x} is outside the "
                           f"{profile.name} instruction-bus window ({profile.flash_ibus.size // 0x100000} MB)")
    return vaddr


def _check_fits(project: Project, slots, end: int, arena: DataArena, arena_end: int) -> None:
    region_end = project.region_offset + project.region_size
    if end > region_end:
        needed = end - project.region_offset
        raise DynappsError(f"apps.region_size: the app slots need {needed:#x} bytes "
                           f"({needed // 1024} KB) but the region has {project.region_size:#x}; "
                           f"raise apps.region_size or lower limits.flash", project.path)
    if arena_end > arena.address + arena.size:
        needed = arena_end - arena.address
        raise DynappsError(f"the XIP apps' RAM (limits.ram) needs {needed} bytes but the data arena "
                           f"({arena.source}) has {arena.size}; lower limits.ram or enlarge the arena")
