"""What an app may call (docs/manifest.md): pure C library functions are linked into the app from
the toolchain's own C library, stateful ones only come from the firmware, data is never imported
through a code stub, and an export can't take the name of a firmware or C library function."""

from __future__ import annotations

import json
import re

import pytest

from dynapps import chips, clib, link, toolchain
from dynapps.errors import DynappsError
from test_link_errors import _app, _error

MATH_AND_STRINGS = """#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
double root(double x) { return sqrt(x) + cos(x); }
int32_t digits(const char *s) { int32_t n = 0; for (; *s; s++) n += isdigit((unsigned char)*s) != 0; return n; }
const char *find(const char *s) { return strchr(s, ':'); }
"""
MATH_EXPORTS = "exports:\n  - double root(double x)\n  - int32_t digits(const char *s)\n  - const char *find(const char *s)\n"


def _analysis(project, app: str = "bad") -> dict:
    return json.loads((project.root / f"build/apps/{app}/{app}.link.json").read_text())


def test_pure_c_library_functions_are_linked_into_the_app(empty_project):
    _app(empty_project, MATH_AND_STRINGS, "strategy: xip\n" + MATH_EXPORTS)
    empty_project.scons("apps")
    linked = (empty_project.root / "build/apps/bad/bad.map").read_text().split("\n\n")[1]
    for called in ("sqrt", "cos", "_ctype_", "strchr"):  # each pulled from the C library by the app
        assert re.search(rf"/lib[cm]\.a\(.*\)\n\s+build/apps/bad/bad\.o \({called}\)", linked), (called, linked)
    assert _analysis(empty_project)["imports"] == []


def test_auto_puts_c_library_code_for_fixed_addresses_into_an_xip_image(empty_project):
    _app(empty_project, MATH_AND_STRINGS, MATH_EXPORTS)
    empty_project.scons("apps")
    analysis = _analysis(empty_project)
    assert analysis["strategy"] == "xip"
    assert analysis["reason"] == "auto: C library code for fixed addresses (cos)"


def test_forced_iram_with_c_library_code_for_fixed_addresses_is_one_clear_error(empty_project):
    _app(empty_project, MATH_AND_STRINGS, "strategy: iram\n" + MATH_EXPORTS)
    error = _error(empty_project)
    assert re.fullmatch(r"app bad: strategy iram: cos from the C library uses absolute addresses in the "
                        r"code .*: use strategy xip or auto, or add it to firmware/exports.yaml to call the "
                        r"firmware's copy", error), error


def test_missing_function_is_named_as_the_source_calls_it(empty_project):
    """malloc + memset must not be reported as calloc, which GCC would make of them."""
    source = ("#include <stdint.h>\n#include <stdlib.h>\n#include <string.h>\n"
              "int32_t *make(uint32_t n) { int32_t *p = malloc(n * 4); if (p) memset(p, 0, n * 4); return p; }\n")
    _app(empty_project, source, "exports:\n  - int32_t *make(uint32_t n)\n")
    error = _error(empty_project)
    assert "calloc" not in error
    assert error.startswith("app bad: malloc (used by build/apps/bad/bad.o): the C library's state"), error
    assert error.endswith("add it to firmware/exports.yaml"), error


def test_stateful_c_library_function_only_comes_from_the_firmware(empty_project):
    source = "#include <stdint.h>\n#include <stdlib.h>\nint32_t dice(void) { return rand() % 6; }\n"
    _app(empty_project, source, "exports:\n  - int32_t dice(void)\n")
    assert _error(empty_project) == (
        "app bad: rand (used by build/apps/bad/bad.o): the C library's state (heap, stdio, errno, locks) "
        "belongs to the firmware, so only the firmware can provide it: add it to firmware/exports.yaml")


def _export_from_firmware(project, name: str) -> None:
    exports = project.root / "firmware/exports.yaml"
    exports.write_text(exports.read_text() + f"  - {name}\n")


def test_c_library_table_listed_as_a_firmware_export_is_refused(empty_project):
    """isdigit() reads picolibc's _ctype_ table: never bound through a 12-byte code stub."""
    _export_from_firmware(empty_project, "_ctype_")
    source = "#include <ctype.h>\n#include <stdint.h>\nint32_t is_digit(int32_t c) { return isdigit(c) != 0; }\n"
    _app(empty_project, source, "exports:\n  - int32_t is_digit(int32_t c)\n")
    error = _error(empty_project)
    assert error.startswith("app bad: _ctype_ (used by build/apps/bad/bad.o) in firmware/exports.yaml is a data "
                            "object, but an app reaches the firmware through code stubs"), error
    assert "remove it from firmware/exports.yaml" in error


def test_firmware_variable_listed_as_an_export_is_refused(empty_project):
    _export_from_firmware(empty_project, "firmware_ticks")
    source = "#include <stdint.h>\nextern volatile uint32_t firmware_ticks;\nuint32_t ticks(void) { return firmware_ticks; }\n"
    _app(empty_project, source, "exports:\n  - uint32_t ticks(void)\n")
    error = _error(empty_project)
    assert error.startswith("app bad: firmware_ticks (used by build/apps/bad/bad.o) in firmware/exports.yaml is "
                            "a data object"), error


def test_export_named_like_a_firmware_export_is_refused(empty_project):
    _app(empty_project, "#include <stdint.h>\nint32_t puts(const char *s) { return s[0]; }\n",
         "exports:\n  - int32_t puts(const char *s)\n")
    assert _error(empty_project) == ("apps/bad/app.yaml:2: app bad: export 'puts' has the name of a firmware "
                                     "export; the firmware's wrapper puts() would replace it for the whole "
                                     "firmware: rename it")


def test_export_named_like_a_c_library_function_is_refused(empty_project):
    _app(empty_project, "int isdigit(int c) { return c >= '0' && c <= '9'; }\n",
         "description: x\nexports:\n  - int isdigit(int c)\n")
    assert _error(empty_project) == ("apps/bad/app.yaml:3: app bad: export 'isdigit' has the name of a C library "
                                     "function; the firmware's wrapper isdigit() would replace it for the whole "
                                     "firmware: rename it")


def test_a_c_library_member_the_plan_did_not_allow_is_an_error(empty_project):
    """The map is checked: whatever ld takes from the C library must be what clib planned."""
    _app(empty_project, MATH_AND_STRINGS, "strategy: xip\n" + MATH_EXPORTS)
    empty_project.scons("apps")
    tools = toolchain.discover("riscv64-unknown-elf")
    arch = tools.arch_flags(chips.profile("esp32c3"))
    library = clib.Library(clib.library_paths(tools.cc, arch + tools.libc_flags()))
    only_strchr = clib.plan({"strchr": "bad.o"}, set(), set(), set(), library)
    map_path = str(empty_project.root / "build/apps/bad/bad.map")
    with pytest.raises(DynappsError, match=r"app bad: the link took .*ctype.* from the C library, which dynapps "
                                           r"did not plan"):
        link._check_library_members("bad", map_path, only_strchr)
    link._check_library_members("bad", map_path, clib.plan(
        {"strchr": "bad.o", "_ctype_": "bad.o", "sqrt": "bad.o", "cos": "bad.o"}, set(), set(),
        link.libgcc_symbols(tools.cc, arch), library))
