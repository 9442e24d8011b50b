"""What each ESP-IDF release does when a firmware maps flash (esp_mm), in one table.

The emulator's MMU device allocates like the release it is told (emulator/devices.py, EspMm), the
emulator firmware is built for it (-DDYNAPPS_EMU_IDF_MAP_VIRT), and the build summary says which
mechanism an XIP app's load uses. The ESP-IDF port has the same facts for the C side in
firmware/components/dynapps/port/esp-idf/dynapps_idf_version.h.

Facts checked in components/esp_mm/esp_mmu_map.c and include/esp_mmu_map.h of v5.1.7, v5.3.5,
v5.5.5, v6.0.2 and v6.1-beta1 (v5.2.7 and v5.4.4: the same header, no esp_mmu_map_virt): esp_mmu_map() allocates linear addresses first fit from the lowest
free one after the firmware's own pages; it refuses flash already mapped whole by one block
(ESP_ERR_INVALID_STATE, even with ESP_MMU_MMAP_FLAG_PADDR_SHARED) and flash overlapping a block
(ESP_ERR_INVALID_ARG) unless that flag is given; esp_mmu_map_virt() (a chosen address) first
appears in v6.1-beta1.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import DynappsError


@dataclass(frozen=True)
class IdfRelease:
    name: str  # "5.5"
    map_virt: bool  # esp_mmu_map_virt(): mapping at a chosen linear address

    @property
    def xip_mechanism(self) -> str:
        """How the loader maps the apps window on this release (the build summary's words)."""
        if self.map_virt:
            return "window: esp_mmu_map_virt at its address (IDF>=6.1)"
        return "window: fillers, then esp_mmu_map first fit (IDF<6.1)"


RELEASES = {r.name: r for r in (
    IdfRelease("5.1", map_virt=False),
    IdfRelease("5.2", map_virt=False),
    IdfRelease("5.3", map_virt=False),
    IdfRelease("5.4", map_virt=False),
    IdfRelease("5.5", map_virt=False),
    IdfRelease("6.0", map_virt=False),
    IdfRelease("6.1", map_virt=True),
)}

DEFAULT = "6.0"  # the newest released ESP-IDF


def release(name: str | None = None, source: str = "IDF=") -> IdfRelease:
    """The release called `name` ("5.5", also "v5.5.5" or "5.5.5"); DEFAULT when None. `source`:
    where the name was written, for the error."""
    if name is None:
        return RELEASES[DEFAULT]
    parts = str(name).strip().lstrip("v").split(".")
    key = ".".join(parts[:2]).split("-")[0]
    if key not in RELEASES:
        raise DynappsError(f"{source}{name}: unknown ESP-IDF release; expected one of {', '.join(RELEASES)}")
    return RELEASES[key]


def firmware_release(requested: str | None, configured: str | None = None, where: str = "") -> IdfRelease:
    """The ESP-IDF release the firmware is built with: the version ESP-IDF's build wrote into the
    firmware's sdkconfig (`configured`, read at `where`), else the IDF= build variable, else
    DEFAULT. IDF= naming another release than the sdkconfig is one error naming both."""
    if configured is None:
        return release(requested)
    found = release(configured, f"{where}: ESP-IDF ")
    if requested is not None and release(requested) != found:
        raise DynappsError(f"IDF={requested}, but the firmware's sdkconfig was written by ESP-IDF {configured} "
                           f"({where}): drop IDF= or make them agree")
    return found
