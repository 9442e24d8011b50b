"""Host unit tests of the portable loader core (firmware/components/dynapps/src).

Compiles the core, the host test port and the C tests (tests/c/test_*.c, one file per stage of
the core, run by tests/c/test_main.c) with the host gcc under AddressSanitizer and
UndefinedBehaviorSanitizer and with the refusal trace on (-DDYNAPPS_TRACE: the tests assert which
rule refused an image), runs them, and fails if any C test fails.
Further tests check that the core compiles warning-free for rv32 and that its per-app record
(struct dynapps_app) is at most 64 bytes there, from the DWARF of an rv32 build (skipped without
the cross compiler).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPONENT = ROOT / "firmware" / "components" / "dynapps"
CORE_SOURCES = sorted((COMPONENT / "src").glob("*.c"))
TEST_SOURCES = sorted((ROOT / "tests" / "c").glob("*.c"))  # the topic files, fixtures, runner, port

HOST_FLAGS = [
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-g",
    "-pthread",  # the host port's lock is a pthread mutex
]
HOST_LIBS = ["-lcrypto"]  # the host port checks signatures with OpenSSL (Debian libssl-dev)
HOST_DEFINES = [
    "-DDYNAPPS_CHIP_ID=0",  # the test images are built for chip 0
    "-DDYNAPPS_FPU_ABI=0",
    "-DDYNAPPS_APP_CALL_HOOK",  # init/deinit are recorded, not executed (src/dynapps_internal.h)
]
INCLUDES = [f"-I{COMPONENT / 'include'}", f"-I{COMPONENT / 'src'}", f"-I{ROOT / 'tests' / 'c'}"]

RV32_COMPILER = "riscv64-unknown-elf-gcc"
RV32_FLAGS = [
    "--specs=picolibc.specs",  # string.h for a bare-metal target
    "-march=rv32imc",
    "-mabi=ilp32",
    "-Os",
    "-ffreestanding",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-DDYNAPPS_CHIP_ID=5",  # esp32c3
]


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


def test_loader_core_host(tmp_path: Path) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("no host gcc")
    binary = tmp_path / "test_loader"
    build = _run(
        ["gcc", *HOST_FLAGS, *HOST_DEFINES, "-DDYNAPPS_TRACE", *INCLUDES, *map(str, CORE_SOURCES + TEST_SOURCES),
         "-o", str(binary), *HOST_LIBS]
    )
    assert build.returncode == 0, f"compile failed:\n{build.stdout}{build.stderr}"

    run = _run([str(binary)], timeout=300, cwd=tmp_path)
    print(run.stdout)
    print(run.stderr)
    assert run.returncode == 0, f"C tests failed:\n{run.stdout}\n{run.stderr}"
    assert run.stdout.rstrip().endswith(" 0 failed"), run.stdout


@pytest.mark.parametrize(
    "arch",
    [["-march=rv32imc", "-mabi=ilp32"], ["-march=rv32imafc", "-mabi=ilp32f"]],
    ids=["ilp32", "ilp32f"],
)
def test_loader_core_compiles_for_rv32(tmp_path: Path, arch: list[str]) -> None:
    if shutil.which(RV32_COMPILER) is None:
        pytest.skip(f"no {RV32_COMPILER}")
    flags = [f for f in RV32_FLAGS if not f.startswith(("-march", "-mabi"))] + arch
    for source in CORE_SOURCES:
        obj = tmp_path / (source.stem + ".o")
        result = _run([RV32_COMPILER, *flags, *INCLUDES[:2], "-c", str(source), "-o", str(obj)])
        assert result.returncode == 0, f"{source.name}:\n{result.stdout}{result.stderr}"


RECORD_LIMIT = 64  # loader bookkeeping per app on rv32 (docs/loader-api.md)


def _struct_size(obj: Path, name: str) -> int | None:
    """DW_AT_byte_size of struct `name` in an rv32 object, by binutils' readelf (which applies the
    object's relocations to its DWARF)."""
    dump = _run([RV32_COMPILER.replace("gcc", "readelf"), "--debug-dump=info", str(obj)]).stdout
    match = re.search(r"DW_TAG_structure_type\)\n\s+<\w+>\s+DW_AT_name\s+:[^\n]*: " + re.escape(name)
                      + r"\n\s+<\w+>\s+DW_AT_byte_size\s+:\s+(\d+)", dump)
    return int(match.group(1)) if match else None


@pytest.mark.parametrize("arch", [["-march=rv32imc", "-mabi=ilp32"], ["-march=rv32imafc", "-mabi=ilp32f"]],
                         ids=["ilp32", "ilp32f"])
def test_app_record_fits_64_bytes_on_rv32(tmp_path: Path, arch: list[str]) -> None:
    """The loader's bookkeeping is one record per app: its rv32 size, as the bench reads it."""
    if shutil.which(RV32_COMPILER) is None or shutil.which(RV32_COMPILER.replace("gcc", "readelf")) is None:
        pytest.skip(f"no {RV32_COMPILER} / readelf")
    flags = [f for f in RV32_FLAGS if not f.startswith(("-march", "-mabi"))] + arch + ["-g"]
    obj = tmp_path / "dynapps_core.o"
    result = _run([RV32_COMPILER, *flags, *INCLUDES[:2], "-c", str(COMPONENT / "src" / "dynapps_core.c"),
                   "-o", str(obj)])
    assert result.returncode == 0, result.stdout + result.stderr
    size = _struct_size(obj, "dynapps_app")
    print(f"struct dynapps_app: {size} bytes on {arch[1][6:]}")
    assert size is not None and size <= RECORD_LIMIT
