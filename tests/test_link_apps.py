"""The test apps of tests/apps/ (odd-sized data before the import slots, ctype, libm, string
functions and tables, an assembly source) built by the real scons, written by flash-apps, loaded by
the real loader core in the emulator on esp32c3 and esp32p4 with both strategies forced, and
compared with the same C code run on the host."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess

import pytest

from conftest import REPO, Project
from dynapps import chips, emulator
import host_reference

TEST_APPS = REPO / "tests" / "apps"
APPS = ["asmfn", "ctypes", "mathlib", "oddsize", "strtab"]
FIRMWARE_DIR = "firmware/checks"
# libm results may differ from the host's glibc in the last bits (both are within an ulp or so
# of the exact value); everything else must match bit for bit.
ULP_TOLERANT = {"mathlib"}
MAX_ULPS = 2


# picolibc's code for these is built for fixed addresses (medlow): an IRAM blob can't hold it, so
# IRAM and PSRAM runs call the firmware's copies (the firmware exports them); XIP runs link picolibc's.
FIXED_ADDRESS_FUNCTIONS = ["acos", "atan2", "cos", "cosf", "exp", "fmod", "log", "pow", "powf", "sin", "sqrt", "sqrtf", "toupper"]


def make_project(root, chip: str, strategy: str, apps=APPS) -> Project:
    """A project with the test apps (forced to `strategy`) and the checks firmware."""
    for relative in ("SConstruct", "firmware/exports.yaml", "firmware/partitions-base.csv"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / relative, root / relative)
    if strategy in ("iram", "psram"):  # copied blobs: relocated, so no fixed-address code
        exports = root / "firmware/exports.yaml"
        text = exports.read_text().replace("headers: [", "headers: [math.h, ctype.h, ")
        exports.write_text(text + "".join(f"  - {name}\n" for name in FIXED_ADDRESS_FUNCTIONS))
    for app in apps:
        shutil.copytree(TEST_APPS / app, root / "apps" / app)
        manifest = root / "apps" / app / "app.yaml"
        manifest.write_text(manifest.read_text() + f"strategy: {strategy}\n")
    shutil.copytree(TEST_APPS / "firmware", root / FIRMWARE_DIR)
    shutil.copy(REPO / "firmware/main/demo.h", root / FIRMWARE_DIR / "demo.h")
    text = (REPO / "dynapps.yaml").read_text()
    text = re.sub(r"^chip: \S+", f"chip: {chip}", text, flags=re.M)
    text = re.sub(r"^  order: .*\n", "", text, flags=re.M)
    text = re.sub(r"(  emulator_sources:.*\n)(    - .*\n)+",
                  rf"\1    - {FIRMWARE_DIR}/checks_demo.c\n    - {FIRMWARE_DIR}/checks_calls.c\n", text)
    # Exact comparison with the host needs the same rounding: no fused multiply-add on the FPU chip.
    (root / "dynapps.yaml").write_text(text + "cflags: [-O2, -ffp-contract=off]\n")
    return Project(root)


def run_in_emulator(project: Project, chip: str) -> emulator.RunResult:
    project.scons("-j2", "apps", "flash-apps", "build/emulator/firmware.elf")
    machine = emulator.Machine(chips.profile(chip), (project.root / "build/emulator/flash.bin").read_bytes())
    machine.load_firmware(project.root / "build/emulator/firmware.elf")
    return machine.run(timeout_s=60)


def host_results(project: Project, work) -> dict:
    """The same calls compiled natively with the apps' C sources (mac.S has a C twin)."""
    firmware = project.root / FIRMWARE_DIR
    sources = [firmware / "checks_host_main.c", firmware / "checks_calls.c", firmware / "mac_host.c"]
    sources += [path for app in APPS for path in sorted((project.root / "apps" / app).glob("*.c"))]
    includes = [firmware, REPO / "firmware/components/dynapps/include", project.root / "build/generated"]
    binary = work / "host_checks"
    # the generated headers declare the exports as plain functions, linked here from the apps' sources
    subprocess.run(["gcc", "-std=gnu11", "-O2", "-ffp-contract=off", "-DDYNAPPS_CALL_APPS_DIRECTLY", "-o", str(binary),
                    *map(str, sources),
                    *[f"-I{path}" for path in includes], "-lm"], check=True, capture_output=True, text=True)
    output = subprocess.run([str(binary), *APPS], check=True, capture_output=True, text=True).stdout
    return host_reference.parse(output)


def _ulps(kind: str, a: str, b: str) -> int:
    """Distance in units in the last place of two finite floats/doubles given as bit patterns."""
    fmt, width = ("<f", "<I") if kind == "f" else ("<d", "<Q")

    def ordered(bits: str) -> int:
        value = int(bits, 16)
        sign = 1 << (31 if kind == "f" else 63)
        return -(value & (sign - 1)) if value & sign else value
    assert struct.calcsize(fmt) == struct.calcsize(width)
    return abs(ordered(a) - ordered(b))


def mismatches(actual: dict, expected: dict) -> list:
    different = []
    for key, (app, _call) in ((k, k) for k in sorted(set(actual) | set(expected))):
        a, e = actual.get(key), expected.get(key)
        if a == e:
            continue
        close = (a and e and app in ULP_TOLERANT and a[0] == e[0] and a[0] in "fd"
                 and _ulps(a[0], a[1], e[1]) <= MAX_ULPS)
        if not close:
            different.append((key, a, e))
    return different


RUNS = [(chip, strategy) for chip in ("esp32c3", "esp32p4") for strategy in ("iram", "xip")]


@pytest.mark.parametrize("chip,strategy", RUNS, ids=[f"{c}-{s}" for c, s in RUNS])
def test_test_apps_run_in_the_emulator_as_on_the_host(tmp_path, chip, strategy):
    project = make_project(tmp_path / "project", chip, strategy)
    result = run_in_emulator(project, chip)
    text = result.uart_text
    assert result.faults == [] and result.reason == "exit", text
    assert "LOAD-ERROR" not in text and "CALL-ERROR" not in text, text
    for app in APPS:
        assert re.search(rf"^LOADED {app} {strategy} ", text, re.M), text
    assert "CHECKS OK: 0 failure(s)" in text and result.exit_code == 0, text
    # oddsize imports strlen and memcpy from the firmware: the import slots after its 3-byte .data.
    assert re.search(r"^LOADED oddsize \S+ imports=2$", text, re.M), text
    # The pure C library code these apps call was linked into them, not taken from the firmware.
    for app in ("ctypes", "strtab"):
        linked = (project.root / f"build/apps/{app}/{app}.map").read_text().split("\n\n")[1]
        assert re.search(r"/libc\.a\(", linked), (app, linked)
    work = tmp_path / "host"
    work.mkdir()
    expected = host_results(project, work)
    actual = host_reference.parse(text)
    assert len(expected) == 32  # every call above made it into the comparison
    assert mismatches(actual, expected) == []


@pytest.mark.parametrize("chip,strategy", [("esp32c3", "iram"), ("esp32p4", "xip")], ids=["esp32c3-iram", "esp32p4-xip"])
def test_import_slots_after_odd_sized_data_are_aligned(tmp_path, chip, strategy):
    """3 bytes of .data right before the import slots: the slots still start on a word."""
    project = make_project(tmp_path, chip, strategy, apps=["oddsize"])
    result = run_in_emulator(project, chip)
    assert "LOAD-ERROR" not in result.uart_text, result.uart_text
    assert "RESULT oddsize oddsize_greet.2.out s Hi" in result.uart_text, result.uart_text
    assert "CHECKS OK: 0 failure(s)" in result.uart_text


@pytest.mark.parametrize("chip", ["esp32c3", "esp32p4"])
def test_assembly_sources_are_assembled_for_the_chip(tmp_path, chip):
    """A .S source gets the chip's -march/-mabi: an ELF32 RISC-V object with the C objects' ABI."""
    project = make_project(tmp_path, chip, "iram", apps=["asmfn"])
    result = project.scons("apps", check=False)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 0, result.stderr
    c_object = (project.root / "build/apps/asmfn/asmfn.o").read_bytes()
    asm_object = (project.root / "build/apps/asmfn/mac.o").read_bytes()
    assert asm_object[4] == 1  # ELFCLASS32
    assert struct.unpack_from("<H", asm_object, 18)[0] == 243  # EM_RISCV
    assert struct.unpack_from("<I", asm_object, 36)[0] == struct.unpack_from("<I", c_object, 36)[0]  # e_flags: ABI
