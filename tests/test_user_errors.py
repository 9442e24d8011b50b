"""Issue 9 item 11: a user's mistake is one `error:` line (file and line, or app and symbol, and what
was expected), a non-zero exit and never a Python traceback.

Every case runs the real scons (and, for `run`, the real emulator) on a temporary project.
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TOOLS

from test_manifest_errors import GOOD_MANIFEST, GOOD_SOURCE, single_error_line

DEBIAN_GCC = shutil.which("riscv64-unknown-elf-gcc")


def _adder(project, manifest: str = GOOD_MANIFEST) -> None:
    project.write("apps/adder/add.c", GOOD_SOURCE)
    project.write("apps/adder/app.yaml", manifest)


def _append_bytes(path: Path, data: bytes) -> int:
    """Append `data` as a new last line; returns that line's number."""
    text = path.read_bytes()
    if not text.endswith(b"\n"):
        text += b"\n"
    path.write_bytes(text + data + b"\n")
    return text.count(b"\n") + 1


# ------------------------------------------------------------------ text that is not clean UTF-8

TEXT_FILES = ["apps/adder/app.yaml", "dynapps.yaml", "firmware/exports.yaml", "firmware/partitions-base.csv"]
BAD_TEXT = [
    ("not UTF-8", b"# caf\xe9 latin-1", r"not UTF-8 text: byte 0xe9 at column 6"),
    ("control character", b"# bell\x07here", r"control character U\+0007 at column 7"),
]


@pytest.mark.parametrize("relative", TEXT_FILES)
@pytest.mark.parametrize("case, data, message", BAD_TEXT, ids=[c[0] for c in BAD_TEXT])
def test_text_that_is_not_clean_utf8(empty_project, relative, case, data, message):
    _adder(empty_project)
    line = _append_bytes(empty_project.root / relative, data)
    error = single_error_line(empty_project.scons("apps", check=False))
    assert error.startswith(f"{relative}:{line}: "), error
    assert re.search(message, error), error


def test_control_character_from_a_yaml_escape(empty_project):
    _adder(empty_project, GOOD_MANIFEST + 'description: "tab\\tis fine, escape\\x1b is not"\n')
    error = single_error_line(empty_project.scons("apps", check=False))
    assert re.fullmatch(r"apps/adder/app\.yaml:4: description: control character U\+001B in the value.*", error), error


CSV_ROWS = [
    ("type over a byte", "extra, 0x1ff, 0x1f, 0x300000, 4K", r"Type: expected 0x00\.\.0xfe, got 0x1ff"),
    ("subtype over a byte", "extra, data, 999, 0x300000, 4K", r"SubType: expected 0x00\.\.0xfe, got 0x3e7"),
    ("empty name", ", data, nvs, 0x300000, 4K", r"Name: expected a partition name"),
]


@pytest.mark.parametrize("case, row, message", CSV_ROWS, ids=[c[0] for c in CSV_ROWS])
def test_partition_row_out_of_range(empty_project, case, row, message):
    _adder(empty_project)
    line = _append_bytes(empty_project.root / "firmware/partitions-base.csv", row.encode())
    error = single_error_line(empty_project.scons("apps", check=False))
    assert error.startswith(f"firmware/partitions-base.csv:{line}: "), error
    assert re.search(message, error), error


# ------------------------------------------------------------------ YAML structure

@pytest.mark.parametrize("key, kind", [("[a, b]", "a list"), ("{a: 1}", "a mapping"), ("? - a\n", "a list")])
def test_collection_used_as_a_key(empty_project, key, kind):
    _adder(empty_project, GOOD_MANIFEST + f"{key}: 1\n")
    error = single_error_line(empty_project.scons("apps", check=False))
    assert error.startswith("apps/adder/app.yaml:4: "), error
    assert f"a key must be a name, got {kind}" in error, error


# ------------------------------------------------------------------ source paths

@pytest.mark.parametrize("spelling", ["absolute", "dot-dot"])
def test_source_outside_the_project(empty_project, tmp_path_factory, spelling):
    outside = tmp_path_factory.mktemp("elsewhere") / "add.c"
    outside.write_text(GOOD_SOURCE)
    assert outside.parent.parent == empty_project.root.parent  # both under pytest's base folder
    name = str(outside) if spelling == "absolute" else "../" * 3 + f"{outside.parent.name}/add.c"
    _adder(empty_project, GOOD_MANIFEST + f"sources:\n  - {name}\n")
    error = single_error_line(empty_project.scons("apps", check=False))
    assert error.startswith("apps/adder/app.yaml:5: sources: "), error
    assert "is outside the project" in error, error


@pytest.mark.parametrize("spelling", ["absolute", "dot-dot"])
def test_emulator_source_outside_the_project(empty_project, spelling):
    outside = empty_project.root.parent / "outside.c"
    outside.write_text("int outside(void) { return 1; }\n")
    name = str(outside) if spelling == "absolute" else "../outside.c"
    _adder(empty_project)
    project_file = empty_project.root / "dynapps.yaml"
    text = project_file.read_text().replace("    - firmware/main/demo.c\n", f"    - firmware/main/demo.c\n    - {name}\n", 1)
    project_file.write_text(text)
    line = text.splitlines().index(f"    - {name}") + 1
    error = single_error_line(empty_project.scons("apps", check=False))
    assert error.startswith(f"dynapps.yaml:{line}: firmware.emulator_sources: '{name}' is outside the project"), error


def test_source_shared_from_another_folder_inside_the_project(empty_project):
    """`..` that stays inside the project is fine, and a folder of shared sources needs no app.yaml."""
    empty_project.write("apps/common/add.c", GOOD_SOURCE)
    empty_project.write("apps/adder/app.yaml", GOOD_MANIFEST + "sources: [../common/add.c]\n")
    result = empty_project.scons("apps")
    assert "CC apps/common/add.c" in result.stdout, result.stdout


@pytest.mark.parametrize("sources, message", [
    ("[add.c, ../common/add.c]", "'../common/add.c' compiles to add.o, as apps/adder/add.c does"),
    ("[add.c, ./add.c]", "'./add.c' is listed twice"),
])
def test_sources_with_one_object_name(empty_project, sources, message):
    if "common" in sources:
        empty_project.write("apps/common/add.c", GOOD_SOURCE)
    _adder(empty_project, GOOD_MANIFEST + f"sources: {sources}\n")
    error = single_error_line(empty_project.scons("apps", check=False))
    assert error.startswith(f"apps/adder/app.yaml:4: sources: {message}"), error


def test_empty_source_list(empty_project):
    _adder(empty_project, GOOD_MANIFEST + "sources: []\n")
    error = single_error_line(empty_project.scons("apps", check=False))
    assert error == "apps/adder/app.yaml:4: sources: expected at least one .c, .cpp, .cc, .cxx or .S file", error


def test_app_folder_without_manifest(empty_project):
    _adder(empty_project)
    empty_project.write("apps/mixer/mix.c", GOOD_SOURCE.replace("add", "mix"))
    empty_project.write("apps/mixer/app.yml", GOOD_MANIFEST)  # the usual slip: .yml
    error = single_error_line(empty_project.scons("apps", check=False))
    assert error.startswith("apps/mixer/: C sources (mix.c) but no app.yaml"), error
    assert "rename apps/mixer/app.yml to app.yaml" in error, error


# ------------------------------------------------------------------ project file

def test_app_listed_twice_in_order(empty_project):
    _adder(empty_project)
    project_file = empty_project.root / "dynapps.yaml"
    text = re.sub(r"^apps:\n", "apps:\n  order: [adder, adder]\n", project_file.read_text(), count=1, flags=re.M)
    project_file.write_text(text)
    line = text.splitlines().index("  order: [adder, adder]") + 1
    error = single_error_line(empty_project.scons("apps", check=False))
    assert error == f"dynapps.yaml:{line}: apps.order[1]: 'adder' is listed twice", error


ARENAS = [
    ("address 0x10", "0x10", "4K", r"0x10\.\.0x1010 is not in the esp32c3's data RAM 0x3fc80000\.\.0x3fce0000"),
    ("flash data window", "0x3C010000", "4K", r"0x3c010000\.\.0x3c011000 is in the flash data window"),
    ("flash instruction window", "0x42010000", "4K", r"is in the flash instruction window"),
    ("IRAM alias", "0x403D0000", "4K", r"is the IRAM alias of 0x3fcd0000"),
    ("runs past the end of RAM", "0x3FCDF000", "8K", r"0x3fcdf000\.\.0x3fce1000 is not in the esp32c3's data RAM"),
]


@pytest.mark.parametrize("case, address, size, message", ARENAS, ids=[a[0] for a in ARENAS])
def test_data_arena_outside_data_ram(empty_project, case, address, size, message):
    _adder(empty_project)
    project_file = empty_project.root / "dynapps.yaml"
    text = re.sub(r"^firmware:\n", f"firmware:\n  data_arena:\n    address: {address}\n    size: {size}\n",
                  project_file.read_text(), count=1, flags=re.M)
    project_file.write_text(text)
    line = text.splitlines().index(f"    address: {address}") + 1
    error = single_error_line(empty_project.scons("apps", check=False))
    assert error.startswith(f"dynapps.yaml:{line}: firmware.data_arena.address: "), error
    assert re.search(message, error), error


# ------------------------------------------------------------------ command line

def test_unknown_variable(empty_project):
    _adder(empty_project)
    error = single_error_line(empty_project.scons("apps", "PROT=/dev/ttyUSB0", check=False))
    assert error.startswith("command line: unknown variable PROT=/dev/ttyUSB0; the variables are: "), error
    assert "PORT" in error and "CHIP" in error and "VERBOSE" in error, error


@pytest.mark.parametrize("variable, expected", [
    ("CHIP=esp32", "expected one of esp32c3, esp32c6, esp32h2, esp32p4"),
    ("VERBOSE=maybe", "expected 1 or 0 (also yes/no, true/false, on/off)"),
])
def test_bad_variable_value(empty_project, variable, expected):
    _adder(empty_project)
    error = single_error_line(empty_project.scons("apps", variable, check=False))
    assert error == f"command line: {variable}: {expected}", error


# ------------------------------------------------------------------ corrupt objects

@pytest.mark.parametrize("damage", ["truncated", "not ELF"])
def test_corrupt_object_between_compile_and_link(empty_project, damage):
    _adder(empty_project)
    empty_project.scons("apps")
    obj = empty_project.root / "build/apps/adder/add.o"
    obj.write_bytes(obj.read_bytes()[:300] if damage == "truncated" else b"hello, I am not an object\n")
    (empty_project.root / "build/apps/adder/adder.elf").unlink()  # make the link run again
    error = single_error_line(empty_project.scons("apps", check=False))
    assert error.startswith("build/apps/adder/add.o: "), error
    assert re.search(r"not a valid ELF32 object|not an ELF file", error), error
    assert "delete it and build again" in error, error


# ------------------------------------------------------------------ failing compiler

def _stand_in_compiler(folder: Path, crash_when: str) -> str:
    """A riscv64-unknown-elf-gcc that runs the real one, except that it crashes (SIGSEGV) when
    its arguments match the shell pattern `crash_when`."""
    script = folder / "riscv64-unknown-elf-gcc"
    script.write_text(f'#!/bin/sh\ncase " $* " in\n  {crash_when}) kill -SEGV $$ ;;\nesac\nexec {DEBIAN_GCC} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(folder)


@pytest.mark.skipif(DEBIAN_GCC is None, reason="needs Debian's riscv64-unknown-elf-gcc")
@pytest.mark.parametrize("stage, pattern, expected", [
    ("compile", "*' -c '*", r"^build/apps/adder/add\.o: .*riscv64-unknown-elf-gcc was killed by SIGSEGV"),
    ("link", "*-print-libgcc-file-name*",
     r"^build/apps/adder/adder\.elf: .*riscv64-unknown-elf-gcc .*-print-libgcc-file-name was killed by SIGSEGV"),
])
def test_compiler_that_crashes(empty_project, tmp_path_factory, stage, pattern, expected):
    _adder(empty_project)
    folder = _stand_in_compiler(tmp_path_factory.mktemp("bin"), pattern)
    result = empty_project.scons("apps", "TOOLCHAIN=riscv64-unknown-elf", check=False, path_prefix=folder)
    error = single_error_line(result)
    assert re.search(expected, error), error


@pytest.mark.skipif(DEBIAN_GCC is None, reason="needs Debian's riscv64-unknown-elf-gcc")
def test_compiler_part_missing(empty_project, tmp_path_factory):
    """gcc found, but a program it runs is not there (exit status 127 from the shell)."""
    _adder(empty_project)
    folder = tmp_path_factory.mktemp("bin")
    script = folder / "riscv64-unknown-elf-gcc"
    script.write_text("#!/bin/sh\nexec /nonexistent/cc1 \"$@\"\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    result = empty_project.scons("apps", "TOOLCHAIN=riscv64-unknown-elf", check=False, path_prefix=str(folder))
    error = single_error_line(result)
    assert re.search(r"^build/apps/adder/add\.o: .*riscv64-unknown-elf-gcc: command not found", error), error


# ------------------------------------------------------------------ the emulator

def test_firmware_fault_in_run_is_one_line(example_project):
    source = example_project.root / "apps/pid/pid.c"
    text = source.read_text()
    source.write_text(text.replace("    state.kp = kp;\n", "    *(volatile int *)0x10 = 1; /* a bug */\n"
                                                       "    state.kp = kp;\n", 1))
    result = example_project.scons("run", check=False)
    error = single_error_line(result)
    assert re.fullmatch(r"the emulator firmware faulted: write_unmapped at pc 0x[0-9a-f]{8}: address 0x00000010 .*; "
                        r"the pc is in iram\+0x[0-9a-f]+; the last app it loaded was pid", error), error
    assert "emulator:" not in result.stderr, result.stderr


def test_firmware_failure_in_run_names_its_last_line(example_project):
    source = example_project.root / "apps/crc/crc.c"
    source.write_text(source.read_text().replace("    return crc ^ 0xFFFFFFFFu;", "    return crc; /* a bug */", 1))
    error = single_error_line(example_project.scons("run", check=False))
    assert error == "the emulator firmware exited with code 1; its last line saying so: DEMO FAILED: 1 failure(s)", error


def test_internal_error_is_one_line_and_verbose_shows_the_traceback(empty_project):
    """A bug of dynapps itself (here: the image stage fed a corrupt link analysis) is reported as one
    line naming the step; VERBOSE=1 prints the traceback for the bug report."""
    _adder(empty_project)
    empty_project.scons("apps")
    analysis = empty_project.root / "build/apps/adder/adder.link.json"
    analysis.write_text("{}")
    error = single_error_line(empty_project.scons("apps", check=False))
    assert re.fullmatch(r"build/apps/\S+: internal error \(KeyError: .*\); this is a dynapps bug: "
                        r"VERBOSE=1 shows the traceback", error), error
    verbose = empty_project.scons("apps", "VERBOSE=1", check=False)
    assert "Traceback (most recent call last)" in verbose.stderr, verbose.stderr


@pytest.fixture
def truncated_firmware(example_project) -> Path:
    """The example's emulator firmware, built by scons and then cut short (a killed copy, a full disk)."""
    example_project.scons("build/emulator/firmware.elf")
    elf = example_project.root / "build/emulator/firmware.elf"
    elf.write_bytes(elf.read_bytes()[:20000])
    return elf


def test_truncated_firmware_in_run_is_one_line(example_project, truncated_firmware):
    error = single_error_line(example_project.scons("run", check=False))
    assert re.fullmatch(r".*build/emulator/firmware\.elf: segment 0x[0-9a-f]+ is cut short: the file is truncated",
                        error), error


@pytest.mark.parametrize("arguments, message", [
    ([], r"firmware\.elf: segment 0x[0-9a-f]+ is cut short"),
    (["--flash-size", "0x1234"], r"flash size 0x1234 must be a multiple of 0x10000"),
    (["--flash", "/nonexistent/flash.bin"], r"/nonexistent/flash\.bin: No such file or directory"),
])
def test_emulator_command_line_errors(truncated_firmware, arguments, message):
    command = [sys.executable, "-m", "dynapps.emulator", "--chip", "esp32c3", "--firmware", str(truncated_firmware),
               *arguments]
    result = subprocess.run(command, capture_output=True, text=True, env={"PYTHONPATH": str(TOOLS), "PATH": "/usr/bin"})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and re.search(message, errors[0]), result.stderr
