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


def test_source_shared_from_another_folder_inside_the_project(empty_project):
    """`..` that stays inside the project is fine, and a folder of shared sources needs no app.yaml."""
    empty_project.write("apps/common/add.c", GOOD_SOURCE)
    empty_project.write("apps/adder/app.yaml", GOOD_MANIFEST + "sources: [../common/add.c]\n")
    result = empty_project.scons("apps")
    assert "CC apps/common/add.c" in result.stdout, result.stdout


def test_empty_source_list(empty_project):
    _adder(empty_project, GOOD_MANIFEST + "sources: []\n")
    error = single_error_line(empty_project.scons("apps", check=False))
    assert error == "apps/adder/app.yaml:4: sources: expected at least one .c or .S file", error


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
