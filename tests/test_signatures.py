"""A manifest signature that differs from the compiled code fails the build, naming app,
function and parameter (checked against the app's DWARF)."""

from __future__ import annotations

import subprocess

import pytest

HEADER = "#pragma once\n#include <stdint.h>\nstruct point { int16_t x, y; };\nstruct pair { int32_t a, b; };\n"
SOURCE = """#include <stdint.h>
#include <stdbool.h>
#include "sig_types.h"
typedef void (*visit_t)(int32_t value, void *context);
int64_t scale(const int16_t *samples, uint32_t count, double factor) { return (int64_t)(samples[0] * factor) + count; }
struct point mirror(struct point p) { struct point q = {p.y, p.x}; return q; }
void each(visit_t visit, void *context) { visit(1, context); }
bool flag(uint8_t bits) { return bits & 1; }
"""
GOOD = [
    "int64_t scale(const int16_t *samples, uint32_t count, double factor)",
    "struct point mirror(struct point p)",
    "void each(void (*visit)(int32_t value, void *context), void *context)",
    "bool flag(uint8_t bits)",
]

CASES = [
    ("parameter type", 0, "int64_t scale(const uint16_t *samples, uint32_t count, double factor)",
     "app sig: scale: parameter 1 'samples' is const uint16_t * in the manifest but const int16_t * in the code"),
    ("const-ness of the pointee", 0, "int64_t scale(int16_t *samples, uint32_t count, double factor)",
     "app sig: scale: parameter 1 'samples' is int16_t * in the manifest but const int16_t * in the code"),
    ("float for double", 0, "int64_t scale(const int16_t *samples, uint32_t count, float factor)",
     "app sig: scale: parameter 3 'factor' is float in the manifest but double in the code"),
    ("return type", 0, "int32_t scale(const int16_t *samples, uint32_t count, double factor)",
     "app sig: scale: returns int32_t in the manifest but int64_t in the code"),
    ("parameter count", 0, "int64_t scale(const int16_t *samples, uint32_t count)",
     "app sig: scale: the manifest declares 2 parameter(s), the code has 3"),
    ("struct tag", 1, "struct point mirror(struct pair p)",
     "app sig: mirror: parameter 1 'p' is struct pair in the manifest but struct point in the code"),
    ("callback shape", 2, "void each(void (*visit)(int64_t value, void *context), void *context)",
     "app sig: each: parameter 1 'visit' is void (*)(int64_t, void *) in the manifest but "
     "void (*)(int32_t, void *) in the code"),
    ("bool for int", 3, "int32_t flag(uint8_t bits)", "app sig: flag: returns int32_t in the manifest but bool in the code"),
]


def _manifest(signatures, headers="headers: [sig_types.h]\n"):
    return headers + "exports:\n" + "".join(f"  - {s}\n" for s in signatures)


def _write(project, signatures, headers="headers: [sig_types.h]\n"):
    project.write("apps/sig/sig_types.h", HEADER)
    project.write("apps/sig/sig.c", SOURCE)
    project.write("apps/sig/app.yaml", _manifest(signatures, headers))


def test_matching_signatures_build(empty_project):
    _write(empty_project, GOOD)
    empty_project.scons("apps")
    wrapper = (empty_project.root / "build/generated/dynapps_sig.h").read_text()
    assert '#include "sig_types.h"' in wrapper and (empty_project.root / "build/generated/sig_types.h").exists()


def test_struct_the_wrappers_cannot_see(empty_project):
    _write(empty_project, GOOD, headers="")
    result = empty_project.scons("apps", check=False)
    errors = [l[len("error: "):] for l in result.stderr.splitlines() if l.startswith("error: ")]
    assert errors == ["apps/sig/app.yaml:3: exports: mirror uses struct point, which no header under 'headers' "
                      "defines: the firmware's wrappers can't see it. Move its definition into a header "
                      "(e.g. apps/sig/sig_types.h) and list it under 'headers'"], result.stderr


@pytest.mark.parametrize("case, index, wrong, message", CASES, ids=[c[0] for c in CASES])
def test_mismatch_is_one_line_error(empty_project, case, index, wrong, message):
    signatures = list(GOOD)
    signatures[index] = wrong
    _write(empty_project, signatures)
    result = empty_project.scons("apps", check=False)
    assert result.returncode != 0
    errors = [l[len("error: "):] for l in result.stderr.splitlines() if l.startswith("error: ")]
    assert errors == [f"apps/sig/app.yaml:{index + 3}: {message}"], result.stderr


def _every_die_by_pyelftools(path):
    """(offset, tag, name, DW_AT_type target, children's offsets) of every DIE, as pyelftools reads them."""
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as stream:
        found = []
        for unit in ELFFile(stream).get_dwarf_info(relocate_dwarf_sections=False).iter_CUs():
            for die in unit.iter_DIEs():
                if die.is_null():
                    continue
                name = die.attributes["DW_AT_name"].value if "DW_AT_name" in die.attributes else None
                typed = die.get_DIE_from_attribute("DW_AT_type").offset if "DW_AT_type" in die.attributes else None
                tag = die.tag if isinstance(die.tag, str) and die.tag[7:9] != "0x" else None
                found.append((die.offset, tag, name.decode() if isinstance(name, bytes) else name, typed,
                              [child.offset for child in die.iter_children()]))
        return found


def _every_die(path):
    from dynapps import dwarf

    info = dwarf.read(str(path))
    with dwarf.reading(str(path)):
        return [(die.offset, None if die.tag.startswith("DW_TAG_0x") else die.tag, die.name,
                 die.type().offset if die.type() else None, [child.offset for child in die.children()])
                for die in info.every_die()]


@pytest.mark.parametrize("flags", [[], ["-gdwarf-4"], ["-gdwarf-2"], ["-gz=zlib"]], ids=["dwarf5", "dwarf4", "dwarf2", "zlib"])
def test_dwarf_reader_reads_what_pyelftools_reads(empty_project, flags):
    """dynapps' DWARF reader (dwarf.py) against pyelftools on the same compiler output: every DIE's
    tag, name, type and children, for the linked app and for objects of each DWARF version."""
    _write(empty_project, GOOD)
    empty_project.scons("apps")
    build = empty_project.root / "build/apps/sig"
    compiled = build / "variant.o"
    subprocess.run(["riscv64-unknown-elf-gcc", "-march=rv32imc", "-mabi=ilp32", "--specs=picolibc.specs",
                    "-O2", "-g", *flags, "-c",
                    str(empty_project.root / "apps/sig/sig.c"), "-I", str(empty_project.root / "apps/sig"),
                    "-o", str(compiled)], check=True)
    for path in (build / "sig.elf", compiled):
        theirs = _every_die_by_pyelftools(path)
        assert len(theirs) > 40 and _every_die(path) == theirs, path


@pytest.mark.parametrize("damage, reason", [
    ("abbreviation", "abbreviation 127 at 0xc is not in the unit's table"),
    ("length", "the unit at 0x0 ends past the section"),
], ids=["unknown abbreviation", "unit past the section"])
def test_damaged_debug_information_is_one_error(empty_project, damage, reason):
    from dynapps import signatures
    from dynapps.elf32 import Elf32
    from dynapps.errors import DynappsError

    _write(empty_project, GOOD)
    empty_project.scons("apps")
    path = empty_project.root / "build/apps/sig/sig.elf"
    data = bytearray(path.read_bytes())
    info = Elf32(str(path)).section(".debug_info")
    if damage == "abbreviation":
        data[info.offset + 12] = 0x7F  # the first DIE's abbreviation code (a DWARF 5 unit header is 12 bytes)
    else:
        data[info.offset:info.offset + 4] = (info.size * 2).to_bytes(4, "little")
    damaged = path.with_name("damaged.elf")
    damaged.write_bytes(bytes(data))
    with pytest.raises(DynappsError) as raised:
        signatures.check(str(damaged), "sig", "apps/sig/app.yaml", [], [])
    assert str(raised.value) == (f"{damaged}: its debug information (DWARF) can't be read ({reason}): the file is "
                                 "truncated or corrupt, or built with unusual -g options; delete it and build again")
