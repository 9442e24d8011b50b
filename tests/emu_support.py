"""What the emulator's tests (tests/test_emu_*.py) share: building a test program of
tests/emu_fw/ into emulator firmware for a chip, a machine that runs it, a small flash image.

Needs riscv64-unknown-elf-gcc and picolibc (Debian packages) and unicorn + pyelftools.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

pytest.importorskip("unicorn")
pytest.importorskip("elftools")

from dynapps import chips, emulator, idf_versions  # noqa: E402

GCC = "riscv64-unknown-elf-gcc"
if not shutil.which(GCC):
    pytest.skip(f"{GCC} not installed", allow_module_level=True)

PROGRAMS = REPO / "tests" / "emu_fw"
ALL_CHIPS = chips.names()
ALIASED_CHIPS = [n for n in ALL_CHIPS if chips.profile(n).i_d_offset and not chips.profile(n).iram_byte_access]
FPU_CHIPS = [n for n in ALL_CHIPS if chips.profile(n).has_fpu]
NO_FPU_CHIPS = [n for n in ALL_CHIPS if not chips.profile(n).has_fpu]

APP_SLOT = 0x200000  # flash offset of the test slot ("alpha")
RV_RET = 0x00008067


def rv_li_a0(value: int) -> int:
    return 0x00000513 | (value << 20)


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("emu_build")


_BUILT: dict[str, Path] = {}


def build(build_dir: Path, chip: str, program: str, *, port: bool = False, extra=(), defines=None,
          cflags=(), idf: str | None = None) -> Path:
    """Compile tests/emu_fw/`program` with the emulator platform (and the port) for `chip`;
    `defines` become -D values, `cflags` are added to every compile (e.g. -DDYNAPPS_EMU_SOFTWARE_SHA=1);
    `idf`: the ESP-IDF release the firmware is built for (None: idf_versions.DEFAULT)."""
    flags = [*(f"-D{name}={value}" for name, value in (defines or {}).items()), *cflags]
    key = hashlib.sha256(f"{chip}\0{program}\0{port}\0{extra}\0{flags}\0{idf}".encode()).hexdigest()[:16]
    if key in _BUILT:
        return _BUILT[key]
    out = build_dir / f"{chip}-{Path(program).stem}-{key}"
    out.mkdir()
    spec = emulator.build_spec(chips.profile(chip), idf=idf_versions.release(idf))
    script = spec.write_linker_script(out / "fw.ld")
    ours = [*spec.platform_sources, *(spec.port_sources + spec.port_core_sources if port else ()), PROGRAMS / program]
    objects = []
    extra = [source for source in extra if source not in ours]  # the port brings the core's window code
    for index, source in enumerate([*ours, *extra]):
        obj = out / f"{index}-{Path(source).name}.o"
        strict = ["-Werror"] if source in ours else []  # others' code (loader core) is not judged here
        run([GCC, "-O2", "-g", "-Wall", "-Wextra", *strict, *spec.cflags, f"-I{PROGRAMS}", *flags, "-c", str(source),
             "-o", str(obj)])
        objects.append(str(obj))
    elf = out / "fw.elf"
    run([GCC, "-o", str(elf), *objects, *spec.link_flags(script)])
    _BUILT[key] = elf
    return elf


def run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise AssertionError(f"{' '.join(command)}\n{result.stdout}{result.stderr}")


def machine_for(chip: str, elf: Path, flash: bytes = b"", **options) -> emulator.Machine:
    machine = emulator.Machine(chips.profile(chip), flash, **options)
    machine.load_firmware(elf)
    return machine


def partition_entry(label: str, type_: int, subtype: int, offset: int, size: int) -> bytes:
    return struct.pack("<HBBII16sI", 0x50AA, type_, subtype, offset, size, label.encode(), 0)


def flash_image() -> bytes:
    """Partition table at 0x8000 (ESP-IDF layout) with two app slots, code at the first slot."""
    table = (partition_entry("nvs", 1, 2, 0x9000, 0x6000)
             + partition_entry("factory", 0, 0, 0x10000, 0x1F0000)
             + partition_entry("alpha", 1, 0x40, APP_SLOT, 0x10000)
             + partition_entry("exactly16chars__", 1, 0x40, 0x210000, 0x1000)
             + b"\xeb\xeb" + b"\xff" * 14 + bytes(16)  # the MD5 entry ends the table
             + partition_entry("after_md5", 1, 0x40, 0x220000, 0x1000))
    image = bytearray(b"\xff" * 0x220000)
    image[0x8000:0x8000 + len(table)] = table
    image[APP_SLOT:APP_SLOT + 8] = struct.pack("<II", rv_li_a0(7), RV_RET)
    image[APP_SLOT + 8:APP_SLOT + 18] = b"alpha-slot"
    image[0x210008:0x21000F] = b"sixteen"
    return bytes(image)
