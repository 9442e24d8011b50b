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
