"""A manifest signature that differs from the compiled code fails the build, naming app,
function and parameter (checked against the app's DWARF)."""

from __future__ import annotations

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
