"""Every user mistake in a manifest or the project file gives one line: file:line, key, expectation.

Each case runs the real `scons apps` on a temporary project and checks its error output.
"""

from __future__ import annotations

import re

import pytest

GOOD_SOURCE = "#include <stdint.h>\nint32_t add(int32_t a, int32_t b) { return a + b; }\n"
GOOD_MANIFEST = "version: 1.0.0\nexports:\n  - int32_t add(int32_t a, int32_t b)\n"

MANIFEST_CASES = [
    ("unknown key", GOOD_MANIFEST + "colour: blue\n", 4, r"colour: unknown key \(expected one of: .*\)"),
    ("wrong type", "version: 1.0.0\nexports: add\n", 2, r"exports: expected a list, got str 'add'"),
    ("missing exports", "version: 1.0.0\n", 1, r"missing required key 'exports'"),
    ("bad version", "version: one\nexports:\n  - int32_t add(int32_t a, int32_t b)\n", 1,
     r"version: expected a version such as 1\.2\.0, got str 'one'"),
    ("missing source", GOOD_MANIFEST + "sources:\n  - add.c\n  - missing.c\n", 6,
     r"sources: 'missing.c' does not exist in apps/adder/"),
    ("bad signature", "exports:\n  - int32_t add(int32_t a,, int32_t b)\n", 2,
     r"exports\[0\]: bad C signature 'int32_t add\(int32_t a,, int32_t b\)': expected a type"),
    ("empty parameter list", "exports:\n  - int32_t add()\n", 2, r"write '\(void\)'"),
    ("variadic", "exports:\n  - int32_t add(int32_t a, ...)\n", 2, r"variadic functions"),
    ("unknown type", "exports:\n  - sample_t add(int32_t a)\n", 2, r"unknown type 'sample_t'"),
    ("duplicate export", GOOD_MANIFEST + "  - int32_t add(int32_t a, int32_t b)\n", 4, r"'add' is exported twice"),
    ("bad strategy", GOOD_MANIFEST + "strategy: ram\n", 4, r"strategy: expected one of auto, iram, xip, psram, got str 'ram'"),
    ("impossible flash limit", GOOD_MANIFEST + "limits:\n  flash: 1000\n", 5,
     r"limits\.flash: expected at least 4096 bytes, got 1000"),
    ("misaligned flash limit", GOOD_MANIFEST + "limits:\n  flash: 5000\n", 5,
     r"limits\.flash: expected a multiple of 0x1000 bytes"),
    ("size that is not a size", GOOD_MANIFEST + "limits:\n  ram: lots\n", 5, r"limits\.ram: expected a size"),
    ("duplicate key", GOOD_MANIFEST + "version: 2.0.0\n", 4, r"duplicate key 'version'"),
    ("invalid YAML", "exports: [\n", 2, r"invalid YAML"),
    ("bad name", "name: Adder\n" + GOOD_MANIFEST, 1, r"name: expected an app name"),
    ("init listed as export", GOOD_MANIFEST + "init: add\n", 4, r"init: 'add' is also listed under exports"),
]


def single_error_line(result) -> str:
    """The one `error: ` line of a failed scons run (without the prefix); no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0][len("error: "):]


@pytest.mark.parametrize("case, manifest, line, message", MANIFEST_CASES, ids=[c[0] for c in MANIFEST_CASES])
def test_bad_manifest(empty_project, case, manifest, line, message):
    empty_project.write("apps/adder/add.c", GOOD_SOURCE)
    empty_project.write("apps/adder/app.yaml", manifest)
    error = single_error_line(empty_project.scons("apps", check=False))
    assert error.startswith(f"apps/adder/app.yaml:{line}: "), error
    assert re.search(message, error), error


def test_duplicate_app_names(empty_project):
    for folder in ("one", "two"):
        empty_project.write(f"apps/{folder}/add.c", GOOD_SOURCE)
        empty_project.write(f"apps/{folder}/app.yaml", "name: adder\n" + GOOD_MANIFEST)
    error = single_error_line(empty_project.scons("apps", check=False))
    assert error == "apps/two/app.yaml:1: name: duplicate app name 'adder' (also used by apps/one/app.yaml)"


PROJECT_CASES = [
    ("unknown chip", "chip: esp32\n", 1, r"chip: expected one of esp32c3, esp32c6, esp32h2, esp32p4, got str 'esp32'"),
    ("unknown key", "chip: esp32c3\nboard: devkit\n", 2, r"board: unknown key"),
    ("region past flash", "chip: esp32c3\nflash_size: 2M\napps:\n  region_offset: 0x100000\n  region_size: 2M\n", 5,
     r"apps\.region_size: the apps region ends at 0x300000, past the end of the 2 MB flash"),
    ("misaligned region", "chip: esp32c3\napps:\n  region_offset: 0x201000\n", 3,
     r"apps\.region_offset: expected a multiple of 0x10000 bytes"),
]


@pytest.mark.parametrize("case, text, line, message", PROJECT_CASES, ids=[c[0] for c in PROJECT_CASES])
def test_bad_project_file(empty_project, case, text, line, message):
    empty_project.write("apps/adder/add.c", GOOD_SOURCE)
    empty_project.write("apps/adder/app.yaml", GOOD_MANIFEST)
    empty_project.write("dynapps.yaml", text)
    error = single_error_line(empty_project.scons("apps", check=False))
    assert error.startswith(f"dynapps.yaml:{line}: "), error
    assert re.search(message, error), error


def test_slots_that_do_not_fit_the_region(empty_project):
    empty_project.write("apps/adder/add.c", GOOD_SOURCE)
    empty_project.write("apps/adder/app.yaml", GOOD_MANIFEST + "limits:\n  flash: 2M\n")
    error = single_error_line(empty_project.scons("apps", check=False))
    assert re.search(r"apps\.region_size: the app slots need 0x200000 bytes .* raise apps\.region_size", error), error


def _with_lines(node):
    """A loaded document with the line of every key and item, for comparing two loaders."""
    from dynapps.yamlfile import Mapping, Sequence

    if isinstance(node, Mapping):
        return ("map", node.line, [(key, node.line_of(key), _with_lines(value)) for key, value in node.items()])
    if isinstance(node, Sequence):
        return ("seq", node.line, [(node.line_of(i), _with_lines(value)) for i, value in enumerate(node)])
    return node


def test_libyaml_reads_every_yaml_file_as_pyyaml_does():
    """yamlfile parses with libyaml when PyYAML has it (7x faster) and PyYAML's own parser is the
    reference: every YAML file of the repository gives the same values on the same lines."""
    from pathlib import Path

    from dynapps import yamlfile

    assert yamlfile._FastLoader is not None, "PyYAML without libyaml: requirements.txt's wheel has it"
    root = Path(__file__).resolve().parent.parent
    files = sorted(p for p in root.rglob("*.yaml") if ".venv" not in p.parts and "build" not in p.parts)
    assert len(files) > 15
    for path in files:
        text = path.read_text()
        fast, reference = (yamlfile._parse(loader, text, str(path)) for loader in (yamlfile._FastLoader, yamlfile._Loader))
        assert _with_lines(fast) == _with_lines(reference), path
