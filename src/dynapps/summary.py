"""The per-app table printed after `scons apps`."""

from __future__ import annotations

from .contracts import LinkAnalysis
from .idf_versions import IdfRelease

BOOKKEEPING_NOTE = ("RAM = bytes held while loaded (IRAM: code copy + data + bss; PSRAM: the same, in PSRAM; XIP: "
                    "data + bss), loader bookkeeping excluded")


def table(rows: list[tuple[LinkAnalysis, int]], idf: IdfRelease) -> str:
    """rows: (link analysis, image size) per app; `idf`: the firmware's ESP-IDF release, which decides
    how an XIP app's slot gets mapped (one line per XIP app after the table)."""
    header = ("app", "strategy", "why", "text", "rodata", "data", "bss", "slot", "flash", "RAM")
    lines = [header]
    for analysis, image_size in rows:
        sections, slot = analysis.sections, analysis.slot
        lines.append((
            analysis.app,
            analysis.strategy,
            analysis.reason,
            str(sections.text),
            str(sections.rodata),
            str(sections.data),
            str(sections.bss),
            f"{slot.flash_offset:#x}+{slot.size // 1024}K",
            str(image_size),
            str(analysis.ram_bytes),
        ))
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    numeric = {3, 4, 5, 6, 8, 9}
    text = []
    for row in lines:
        cells = [cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        text.append("  ".join(cells).rstrip())
    text.append(BOOKKEEPING_NOTE)
    for analysis, _ in rows:
        if analysis.strategy == "xip":
            text.append(f"{analysis.app}: XIP, its slot mapped through the apps {idf.xip_mechanism}; "
                        f"firmware on ESP-IDF {idf.name} (IDF=)")
    return "\n".join(text)
