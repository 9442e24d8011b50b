"""Which RISC-V compiler drives the build, and the flags it needs for a chip.

ESP-IDF's riscv32-esp-elf-gcc takes the chip's -march as ESP-IDF writes it
(rv32imc_zicsr_zifencei). Debian's riscv64-unknown-elf-gcc picks its rv32 multilib from the
plain ISA string only, so it gets the ISA without the _zicsr_zifencei suffix plus
-misa-spec=2.2, which implies both extensions.
"""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass

from .chips import ChipProfile
from .errors import DynappsError

ESP_IDF_GCC = "riscv32-esp-elf-gcc"
DEBIAN_GCC = "riscv64-unknown-elf-gcc"

# Compile flags every app gets (DESIGN constraints 2 and 3): PC-relative code, no relaxation
# (gp belongs to the firmware), one section per function so --gc-sections drops the unused.
# GCC must not turn a call the source makes into one it does not (malloc + memset into calloc,
# printf into puts): those functions come from the firmware, and a missing one must be named as
# the source calls it.
APP_CFLAGS = ["-mcmodel=medany", "-mno-relax", "-fno-pic", "-ffunction-sections", "-fdata-sections",
              "-fno-common", "-fno-builtin-malloc", "-fno-builtin-printf", "-fno-builtin-fprintf",
              "-fno-builtin-fputs", "-g", "-Wall", "-Wextra"]
APP_ASFLAGS = ["-mno-relax", "-g"]
# C++ sources (.cpp/.cc/.cxx), on top of APP_CFLAGS (docs/manifest.md, "C++ sources"): an image
# has no unwinder and no type_info, so no exceptions and no RTTI; a function-local static is
# initialised without the __cxa_guard_* locks the firmware does not provide; and a `new` that
# gets NULL from the firmware's malloc constructs nothing and yields NULL (no std::bad_alloc).
APP_CXXFLAGS = ["-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics", "-fcheck-new"]
CXX_SUFFIXES = (".cpp", ".cc", ".cxx")


def debian_arch_flags(profile: ChipProfile) -> list[str]:
    """-march/-mabi as Debian's riscv64-unknown-elf-gcc takes them (see the module docstring);
    also what the emulator firmware and tools/idf_port_check.py compile with."""
    return [f"-march={profile.plain_march}", "-misa-spec=2.2", f"-mabi={profile.mabi}"]


@dataclass(frozen=True)
class Toolchain:
    kind: str  # esp-idf | riscv64-unknown-elf
    prefix: str  # full path prefix, e.g. /usr/bin/riscv64-unknown-elf-

    def tool(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def cc(self) -> str:
        return self.tool("gcc")

    @property
    def cxx(self) -> str:
        """The C++ driver beside gcc (Debian's gcc-riscv64-unknown-elf ships it)."""
        return self.tool("g++")

    def arch_flags(self, profile: ChipProfile) -> list[str]:
        if self.kind == "esp-idf":
            return [f"-march={profile.march}", f"-mabi={profile.mabi}"]
        return debian_arch_flags(profile)

    def libc_flags(self) -> list[str]:
        """Headers of the C library the firmware links (picolibc on Debian, newlib in ESP-IDF)."""
        return ["--specs=picolibc.specs"] if self.kind == "riscv64-unknown-elf" else []

    def app_cflags(self, profile: ChipProfile) -> list[str]:
        """What every app's C sources are compiled with, before the project's and the app's own."""
        return self.arch_flags(profile) + self.libc_flags() + APP_CFLAGS

    def app_cxxflags(self) -> list[str]:
        """What C++ sources get besides app_cflags (SCons puts them before CCFLAGS)."""
        return list(APP_CXXFLAGS)

    def app_asflags(self, profile: ChipProfile) -> list[str]:
        """.S sources: the same ISA and ABI as the C objects."""
        return self.arch_flags(profile) + APP_ASFLAGS


def _idf_tools_candidates() -> list[str]:
    root = os.environ.get("IDF_TOOLS_PATH", os.path.expanduser("~/.espressif"))
    pattern = os.path.join(root, "tools", "riscv32-esp-elf", "*", "riscv32-esp-elf", "bin", ESP_IDF_GCC)
    return sorted(glob.glob(pattern), reverse=True)


def _find(kind: str) -> str | None:
    if kind == "esp-idf":
        found = shutil.which(ESP_IDF_GCC)
        if found:
            return found
        candidates = _idf_tools_candidates()
        return candidates[0] if candidates else None
    return shutil.which(DEBIAN_GCC)


def discover(choice: str) -> Toolchain:
    """`choice` is auto, esp-idf or riscv64-unknown-elf (project file or TOOLCHAIN=)."""
    kinds = ["esp-idf", "riscv64-unknown-elf"] if choice == "auto" else [choice]
    for kind in kinds:
        gcc = _find(kind)
        if gcc:
            return Toolchain(kind, gcc[: -len("gcc")])
    if choice == "esp-idf":
        raise DynappsError(f"toolchain esp-idf: {ESP_IDF_GCC} is neither on PATH nor under "
                           "IDF_TOOLS_PATH; run ESP-IDF's export.sh, or set toolchain: auto")
    raise DynappsError(f"no RISC-V compiler: neither {ESP_IDF_GCC} (ESP-IDF) nor {DEBIAN_GCC} "
                       "(Debian gcc-riscv64-unknown-elf) was found; ./dev installs the latter")
