"""The typed contracts between the stages: what each stage reads and what it hands on.

The SCons tool builds these from the project (manifest, layout, chips, firmware, toolchain) and
hands each builder exactly one of them; the stages read their fields, never a dict's keys. They
are frozen dataclasses of tuples and other frozen dataclasses, so their repr is a deterministic
signature: a change to any field rebuilds what depends on it. LinkAnalysis also travels through
a file (<app>.link.json), so it has a versioned to_json/from_json.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from . import firmware, layout, manifest, partitions, project, toolchain, wrappers
from .chips import ChipProfile
from .errors import DynappsError
from .firmware import ExportTable
from .layout import Layout, Slot
from .manifest import Export, Manifest
from .project import Project
from .toolchain import Toolchain


@dataclass(frozen=True)
class ProjectPlan:
    """The project read and checked once, before any target is defined: the stages' inputs."""
    project: Project
    apps: tuple[Manifest, ...]
    firmware: ExportTable
    layout: Layout
    partitions: partitions.Table
    tools: Toolchain

    @classmethod
    def load(cls, root: Path, chip: str | None, toolchain_choice: str | None,
             sdkconfig: Path | None = None) -> ProjectPlan:
        proj = project.load(root, chip, toolchain_choice, sdkconfig)
        apps = manifest.load_all(root)
        wrappers.check_names(apps)
        exports = firmware.load_exports(proj)
        plan = layout.plan(proj, apps, firmware.data_arena(proj))
        base = partitions.read_csv(root / proj.base_partitions, proj.base_partitions, proj.profile.bootloader_offset,
                                   proj.partition_table_offset)
        table = partitions.build(base, plan, proj.flash_size, proj.partition_table_offset)
        return cls(proj, tuple(apps), exports, plan, table, toolchain.discover(proj.toolchain))


@dataclass(frozen=True)
class MemoryPartition:
    name: str
    offset: int
    size: int


@dataclass(frozen=True)
class MemoryMap:
    """What the size report and the layout picture (size.py) read besides the built apps."""
    chip: str
    flash_size: int
    partitions: tuple[MemoryPartition, ...]  # bootloader, table, the firmware's, the slots
    region_offset: int
    region_size: int
    arena_address: int
    arena_size: int
    arena_source: str

    @classmethod
    def of(cls, plan: ProjectPlan) -> MemoryMap:
        bootloader, table_offset = plan.project.profile.bootloader_offset, plan.partitions.table_offset
        fixed = (MemoryPartition("bootloader", bootloader, table_offset - bootloader),
                 MemoryPartition("partition table", table_offset, partitions.TABLE_SECTOR))
        table = tuple(MemoryPartition(p.name, p.offset, p.size) for p in plan.partitions.partitions)
        arena = plan.layout.arena
        return cls(plan.project.chip, plan.project.flash_size, fixed + table, plan.layout.region_offset,
                   plan.layout.region_size, arena.address, arena.size, arena.source)


@dataclass(frozen=True)
class ExportSpec:
    """An app's entry points, parsed once by manifest.py: its exports (signature and manifest line)
    and its lifecycle functions."""
    exports: tuple[Export, ...]
    init: str | None
    deinit: str | None
    init_line: int
    deinit_line: int

    @classmethod
    def of(cls, app: Manifest) -> ExportSpec:
        return cls(app.exports, app.init, app.deinit, app.init_line, app.deinit_line)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(export.name for export in self.exports)

    def line(self, name: str) -> int:
        return next((export.line for export in self.exports if export.name == name), 1)

    def lifecycle(self) -> list[tuple[str, str, int]]:
        """(manifest key, function name, manifest line) of init and deinit, when declared."""
        declared = (("init", self.init, self.init_line), ("deinit", self.deinit, self.deinit_line))
        return [(key, name, line) for key, name, line in declared if name]

    def roots(self) -> list[str]:
        """What the link must keep: every export, init and deinit."""
        return list(self.names) + [name for _, name, _ in self.lifecycle()]


@dataclass(frozen=True)
class LinkConfig:
    """Everything link.py reads besides the app's object files."""
    app: str
    manifest: str  # the app.yaml path, for messages
    strategy: str  # the manifest's: iram | xip | psram | auto
    threshold: int  # strategy auto: code + data at or above this goes XIP
    auto_copy: str  # strategy auto: where an app under the threshold is copied (iram | psram)
    i_d_offset: int
    rodata_delta: int  # data-bus address - instruction-bus address of one flash byte
    slot: Slot
    exports: ExportSpec
    firmware: ExportTable  # what the app may import, in table order
    cc: str
    arch_flags: tuple[str, ...]
    libc_flags: tuple[str, ...]
    cxx_runtime: tuple[str, ...] = ()  # C++ apps: objects of runtime/cxx_*.c, linked when used (cxx.py)

    @classmethod
    def of(cls, app: Manifest, slot: Slot, profile: ChipProfile, tools: Toolchain, firmware: ExportTable,
           proj: Project, cxx_runtime: tuple[str, ...] = ()) -> LinkConfig:
        return cls(app.name, app.path, app.strategy, proj.hybrid_threshold, proj.auto_copy, profile.i_d_offset,
                   profile.rodata_delta, slot, ExportSpec.of(app), firmware,
                   tools.cc, tuple(tools.arch_flags(profile)), tuple(tools.libc_flags()), cxx_runtime)


@dataclass(frozen=True)
class LinkOutputs:
    """The six files one link writes, named once for the SCons emitter and the link itself."""
    elf: str
    analysis: str  # <app>.link.json: the LinkAnalysis
    script: str  # the generated linker script
    stubs: str  # the import stubs' assembly
    stubs_obj: str
    map: str

    @classmethod
    def for_elf(cls, elf: str) -> LinkOutputs:
        base = elf.removesuffix(".elf")
        return cls(f"{base}.elf", f"{base}.link.json", f"{base}.ld", f"{base}_imports.S", f"{base}_imports.o",
                   f"{base}.map")

    def paths(self) -> list[str]:
        """In the order SCons's targets list them: the ELF first."""
        return list(asdict(self).values())


@dataclass(frozen=True)
class Import:
    name: str
    index: int  # into the firmware's export table


@dataclass(frozen=True)
class ExportSymbol:
    name: str
    vaddr: int
    flags: int  # image.EXPORT_FLAG_INIT / EXPORT_FLAG_DEINIT


@dataclass(frozen=True)
class SectionSizes:
    text: int
    rodata: int
    data: int
    bss: int


@dataclass(frozen=True)
class LinkAnalysis:
    """What the link found in the linked ELF: the image stage's and the summary's input."""
    FORMAT = 2  # of <app>.link.json; raised when its shape changes

    app: str
    strategy: str  # the one chosen: iram | xip | psram
    reason: str  # why that strategy, for the summary
    code_vaddr: int
    data_vaddr: int
    code_size: int
    data_size: int
    bss_size: int
    import_slots_vaddr: int
    imports: tuple[Import, ...]
    exports: tuple[ExportSymbol, ...]
    fixups: tuple[int, ...]  # offsets in the loaded region of every absolute word
    sections: SectionSizes
    align_log2: int
    rodata_delta: int
    slot: Slot
    init_array_vaddr: int = 0  # static constructors: init_count words in the data segment
    init_count: int = 0
    fini_array_vaddr: int = 0  # static destructors, called last first
    fini_count: int = 0

    @property
    def loaded_bytes(self) -> int:
        """What the hybrid threshold compares: code + rodata + data after linking (libgcc included)."""
        return self.code_size + self.data_size

    @property
    def ram_bytes(self) -> int:
        """Bytes held while loaded (in internal RAM, or PSRAM for strategy psram): copied images
        hold their code too."""
        data = self.data_size + self.bss_size
        return data + self.code_size if self.strategy in manifest.COPIED_STRATEGIES else data

    def because(self, reason: str) -> LinkAnalysis:
        return replace(self, reason=reason)

    def to_json(self) -> dict:
        return {"format": self.FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict) -> LinkAnalysis:
        if data["format"] != cls.FORMAT:
            raise DynappsError(f"link analysis of app {data.get('app')} is format {data['format']}, this dynapps "
                               f"reads {cls.FORMAT}: build again (scons -c, then scons apps)")
        fields = {key: value for key, value in data.items() if key != "format"}
        return cls(**{**fields,
                      "imports": tuple(Import(**entry) for entry in data["imports"]),
                      "exports": tuple(ExportSymbol(**entry) for entry in data["exports"]),
                      "fixups": tuple(data["fixups"]),
                      "sections": SectionSizes(**data["sections"]),
                      "slot": Slot(**data["slot"])})


@dataclass(frozen=True)
class ImageSettings:
    """What image.py adds to a link analysis: the chip, the firmware it links against, the version."""
    chip_id: int
    has_fpu: bool
    export_prefix_ids: tuple[int, ...]  # firmware.ExportTable.prefix_ids: the image names the prefix it needs
    manifest: str  # the app.yaml path, named by the "slot too small" hint
    version: str
    slot_alignment: int  # what the slot is laid out in: the size hint is a multiple of it
    signing_key: str = ""  # the private key file images are signed with; "": unsigned


@dataclass(frozen=True)
class AppSlot:
    app: str
    flash_offset: int
    image: str  # the .dapp file written there


@dataclass(frozen=True)
class FlashOptions:
    """What flash-apps and flash-all read: the chip, the flash, which file goes where, esptool's options."""
    chip: str
    flash_size: int
    partition_table: str  # the partition table binary, written at partition_table_offset
    slots: tuple[AppSlot, ...]
    partition_table_offset: int  # CONFIG_PARTITION_TABLE_OFFSET of the firmware's sdkconfig
    port: str = ""  # empty: the emulator's flash image
    baud: str = "460800"
    before: str = "default-reset"
    after: str = "hard-reset"
    no_stub: bool = False
    force: bool = False  # flash-apps: forget the record, write every region
    skip_flashed: bool = False  # offer every region, esptool skips those whose MD5 matches
    idf_build: str = "firmware/build"  # the ESP-IDF build folder flash-all reads the firmware from

    def esptool_options(self) -> dict:
        return {"before": self.before, "after": self.after, "flash_size": self.flash_size, "no_stub": self.no_stub}
