"""How the emulator firmware is built for a chip: its sources, include folders, compile and link
flags, -D values and linker script, as one typed object (`FirmwareBuildSpec`).

The emulator firmware is the loader core, the emulator port, the platform (start-up, UART,
exit, panic: firmware/emulator/), its main, then the project's `firmware.emulator_sources` and
the generated wrappers and export table. It is always compiled with Debian's
riscv64-unknown-elf-gcc and picolibc (the emulator's C library), whatever compiles the apps.
scons_tool.py turns the spec into SCons builders; tests compile small programs with it directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import chips, idf_versions, native, render, sdkconfig, toolchain

COMPONENT = native.COMPONENT  # the package's copy when installed, the checkout's otherwise
EMULATOR_FIRMWARE_DIR = native.EMULATOR_FIRMWARE_DIR
PLATFORM_SOURCES = (EMULATOR_FIRMWARE_DIR / "start.S", EMULATOR_FIRMWARE_DIR / "emu_platform.c")
PORT_SOURCES = (COMPONENT / "port" / "emulator" / "dynapps_port_emulator.c",)
PORT_CORE_SOURCES = (COMPONENT / "src" / "dynapps_window.c",)  # the core code the port itself calls
MAIN_SOURCE = EMULATOR_FIRMWARE_DIR / "emu_main.c"
INCLUDE_DIRS = (EMULATOR_FIRMWARE_DIR / "include", COMPONENT / "include")
# The live agent (docs/live.md): its protocol core and the emulator's port of it; main serves it.
AGENT_SOURCES = (COMPONENT / "agent" / "dynapps_agent.c", EMULATOR_FIRMWARE_DIR / "emu_agent.c")
AGENT_INCLUDE_DIR = COMPONENT / "agent"
COMPILER_PREFIX = "riscv64-unknown-elf"  # picolibc's GCC: the emulator firmware's C library
LINKER_SCRIPT_TEMPLATE = "emulator_firmware.ld.j2"
# Optimisation and warnings of the firmware's C files (not of its .S files).
C_ONLY_FLAGS = ("-O2", "-g", "-Wall", "-Wextra", "-Werror")
DEFAULT_STACK_SIZE = 32 * 1024


def core_sources() -> tuple[Path, ...]:
    """The loader core's C files, in name order (the order they are linked in)."""
    return tuple(sorted((COMPONENT / "src").glob("*.c")))


def firmware_defines(profile: chips.ChipProfile, idf: idf_versions.IdfRelease | None = None,
                     require_signed: bool = False,
                     table_offset: int = sdkconfig.DEFAULT_TABLE_OFFSET, trust_marks: bool = True) -> dict[str, int]:
    """The -D values every firmware file gets (firmware/emulator/include/dynapps_emu.h lists them);
    `idf`: the ESP-IDF release the firmware stands for (None: idf_versions.DEFAULT);
    `require_signed`: the loader refuses unsigned images (dynapps.yaml signing.require);
    `table_offset`: the project's CONFIG_PARTITION_TABLE_OFFSET, where flash-apps writes the table;
    `trust_marks`: the loader trusts an XIP slot's mark after one full verification (docs/design.md)."""
    e, p = profile.emulator, profile
    idf = idf or idf_versions.release()
    return {
        "DYNAPPS_REQUIRE_SIGNED_IMAGES": int(require_signed),
        # CONFIG_DYNAPPS_TRUST_MARKS (default y, off with required signing): XIP slots' trust marks
        "DYNAPPS_TRUST_MARKS": int(trust_marks and not require_signed),
        "DYNAPPS_PARTITION_TABLE_OFFSET": table_offset,  # dynapps_partition.h's default otherwise
        "DYNAPPS_CHIP_ID": p.chip_id,  # the loader core checks images against it
        "DYNAPPS_EMU_UART_BASE": e.uart,
        "DYNAPPS_EMU_CTRL_BASE": e.control,
        "DYNAPPS_EMU_I_D_OFFSET": p.i_d_offset,
        "DYNAPPS_EMU_FLASH_IBUS_BASE": p.flash_ibus.start,
        "DYNAPPS_EMU_FLASH_IBUS_SIZE": p.flash_ibus.size,
        "DYNAPPS_EMU_FLASH_DBUS_BASE": p.flash_dbus.start,
        "DYNAPPS_EMU_FLASH_DBUS_SIZE": p.flash_dbus.size,
        "DYNAPPS_EMU_FLASH_DATA_VIEW_FROM": e.flash_data_view_from,
        "DYNAPPS_EMU_FLASH_SCRATCH_VADDR": p.flash_scratch_vaddr,
        "DYNAPPS_EMU_MMU_PAGE_SIZE": p.mmu_page_size,
        "DYNAPPS_EMU_DATA_ARENA_SIZE": e.data_arena.size,
        "DYNAPPS_EMU_PSRAM_BASE": e.psram.start if e.psram else 0,
        "DYNAPPS_EMU_PSRAM_SIZE": e.psram.size if e.psram else 0,
        "DYNAPPS_EMU_IDF_MAP_VIRT": int(idf.map_virt),  # the port maps the apps window at its address
    }


def firmware_linker_script(profile: chips.ChipProfile, stack_size: int = DEFAULT_STACK_SIZE) -> str:
    """The emulator firmware's linker script for `profile` (templates/emulator_firmware.ld.j2)."""
    e = profile.emulator
    return render.render(LINKER_SCRIPT_TEMPLATE, chip=profile.name, limit=profile.emulator_firmware_flash_size,
                         unified_flash_window=profile.unified_flash_window, flash_ibus=profile.flash_ibus,
                         flash_dbus=profile.flash_dbus, firmware_ram=e.firmware_ram, data_arena=e.data_arena,
                         heap=e.heap, stack_size=stack_size)


@dataclass(frozen=True)
class FirmwareBuildSpec:
    """Everything needed to compile and link the emulator firmware for one chip."""

    chip: str
    compiler_prefix: str
    defines: dict[str, int]  # the -D values in `cflags`, by name (also usable from .S files)
    cflags: tuple[str, ...]  # every C and .S file: arch, picolibc, -D, -I
    c_only_flags: tuple[str, ...]  # C files only: optimisation, warnings
    ldflags: tuple[str, ...]  # the final link, without the linker script's -T
    linker_script: str  # its text
    include_dirs: tuple[Path, ...]  # the -I folders of `cflags`
    platform_sources: tuple[Path, ...]  # start-up, stdio/exit/panic
    port_sources: tuple[Path, ...]  # the emulator port
    port_core_sources: tuple[Path, ...]  # the loader core's files the port calls (in core_sources too)
    core_sources: tuple[Path, ...]  # the loader core
    main_source: Path  # the firmware's main: calls the project's dynapps_emu_app_main
    project_sources: tuple[str, ...]  # the project's firmware.emulator_sources, project-relative
    project_include_dirs: tuple[str, ...]  # project-relative: generated files, then each source's folder
    agent_sources: tuple[Path, ...] = ()  # the live agent, when built with it (main then serves it)

    @property
    def ccflags(self) -> tuple[str, ...]:
        return self.cflags + self.c_only_flags

    @property
    def dynapps_sources(self) -> tuple[Path, ...]:
        """The checkout's part of the firmware, in link order; the project's sources follow."""
        return (self.platform_sources + self.port_sources + self.core_sources + self.agent_sources
                + (self.main_source,))

    def link_flags(self, linker_script_path) -> list[str]:
        return [*self.ldflags, f"-T{linker_script_path}"]

    def write_linker_script(self, path) -> Path:
        """Write the linker script to `path` (left alone when it holds that text already)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != self.linker_script:
            path.write_text(self.linker_script)
        return path


def build_spec(profile: chips.ChipProfile, project_sources: Sequence[str] = (), generated_dir: str = "",
               stack_size: int = DEFAULT_STACK_SIZE, idf: idf_versions.IdfRelease | None = None,
               require_signed: bool = False,
               table_offset: int = sdkconfig.DEFAULT_TABLE_OFFSET, agent: bool = False,
               trust_marks: bool = True) -> FirmwareBuildSpec:
    """The emulator firmware of `profile`; `project_sources` (firmware.emulator_sources) and
    `generated_dir` (wrappers, export table) are relative to the project's root; `table_offset`
    is the project's partition table offset. With `agent`, its main serves the live agent on the
    UART instead of running the demo (docs/live.md)."""
    defines = firmware_defines(profile, idf, require_signed, table_offset, trust_marks)
    agent_flags = ("-DDYNAPPS_AGENT=1", f"-I{AGENT_INCLUDE_DIR}") if agent else ()
    arch = tuple(toolchain.debian_arch_flags(profile))
    picolibc = ("--specs=picolibc.specs",)
    cflags = (*arch, *picolibc, "-ffunction-sections", "-fdata-sections",
              *(f"-D{name}={value:#x}" for name, value in defines.items()),
              *(f"-I{directory}" for directory in INCLUDE_DIRS), *agent_flags)
    source_dirs = sorted({Path(source).parent.as_posix() for source in project_sources})
    return FirmwareBuildSpec(
        chip=profile.name, compiler_prefix=COMPILER_PREFIX, defines=defines, cflags=cflags,
        c_only_flags=C_ONLY_FLAGS, ldflags=(*arch, *picolibc, "-nostartfiles", "-Wl,--gc-sections"),
        linker_script=firmware_linker_script(profile, stack_size),
        include_dirs=INCLUDE_DIRS + ((AGENT_INCLUDE_DIR,) if agent else ()),
        platform_sources=PLATFORM_SOURCES, port_sources=PORT_SOURCES, port_core_sources=PORT_CORE_SOURCES,
        core_sources=core_sources(),
        main_source=MAIN_SOURCE, project_sources=tuple(project_sources),
        project_include_dirs=tuple(([generated_dir] if generated_dir else []) + source_dirs),
        agent_sources=AGENT_SOURCES if agent else ())
