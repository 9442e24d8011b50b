"""Generated wrappers are exact: every qualifier, restrict and long double kept as declared, and the
wrapper's own names can't clash with the manifest's parameter names.

Each test builds a real project (scons apps, flash-apps, the emulator firmware compiled with
-Werror), then calls the app through its wrappers in the emulator."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import REPO
from dynapps import chips, csig, emulator

FIRMWARE = "build/emulator/firmware.elf"
FLASH = "build/emulator/flash.bin"
TEST_MAIN = "firmware/main/wrap_test.c"
GCC = "riscv64-unknown-elf-gcc"

if not shutil.which(GCC):
    pytest.skip(f"{GCC} not installed", allow_module_level=True)


def _firmware_calls(project, body: str, chip: str = "esp32c3") -> None:
    """The emulator firmware runs `body` as dynapps_demo() instead of the example demo."""
    project.write(TEST_MAIN, "#include <stdio.h>\n#include \"dynapps.h\"\n" + body)
    text = (project.root / "dynapps.yaml").read_text()
    text = re.sub(r"^chip: \S+", f"chip: {chip}", text, flags=re.M)
    text = re.sub(r"emulator_sources:.*(\n\s+- \S+)+", f"emulator_sources: [{TEST_MAIN}]", text)
    (project.root / "dynapps.yaml").write_text(text)


def _build_and_run(project, chip: str = "esp32c3", flash: bytes | None = None) -> emulator.RunResult:
    project.scons("apps", "flash-apps", FIRMWARE)
    machine = emulator.Machine(chips.profile(chip), flash or (project.root / FLASH).read_bytes())
    machine.load_firmware(project.root / FIRMWARE)
    return machine.run(timeout_s=60)


def _errors(result) -> list[str]:
    return [line[len("error: "):] for line in result.stderr.splitlines() if line.startswith("error: ")]


# ---------------------------------------------------------------- qualifiers, restrict, long double

EXACT_SOURCE = """#include <stdint.h>
uint32_t peek(const volatile uint32_t *p) { return *p + 1; }
void copy_words(uint32_t *restrict dst, const uint32_t *restrict src, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) dst[i] = src[i];
}
long double same(long double x) { return x; }
long double pick(int32_t first, long double a, long double b) { return first ? a : b; }
"""
EXACT_EXPORTS = [
    "uint32_t peek(const volatile uint32_t *p)",
    "void copy_words(uint32_t *restrict dst, const uint32_t *restrict src, uint32_t count)",
    "long double same(long double x)",
    "long double pick(int32_t first, long double a, long double b)",
]
EXACT_MAIN = """#include "dynapps_exact.h"
static volatile uint32_t reg = 41;
int dynapps_demo(void)
{
    uint32_t source[3] = {7, 8, 9}, target[3] = {0, 0, 0};
    uint32_t peeked = peek(&reg);
    copy_words(target, source, 3);
    /* 1 + 2^-100 needs more than a double's 53 bits: only a real long double carries it. */
    long double tiny = 1.0L + 0x1p-100L, kept = same(tiny), picked = pick(0, -3.0L, tiny);
    printf("PEEK %lu COPY %lu %lu %lu SAME %d PICK %d STATUS %s\\n", (unsigned long)peeked,
           (unsigned long)target[0], (unsigned long)target[1], (unsigned long)target[2],
           kept == tiny && kept != 1.0L, picked == tiny, dynapps_err_name(exact_status()));
    return exact_unload() != DYNAPPS_OK;
}
"""


def _exact_app(project, exports=EXACT_EXPORTS):
    project.write("apps/exact/exact.c", EXACT_SOURCE)
    project.write("apps/exact/app.yaml", "exports:\n" + "".join(f"  - {e}\n" for e in exports))


def test_volatile_is_kept_in_the_generated_prototype(empty_project):
    """The firmware passes a `volatile uint32_t *`: a prototype without volatile fails -Werror."""
    _exact_app(empty_project, EXACT_EXPORTS[:1])
    _firmware_calls(empty_project, """#include "dynapps_exact.h"
static volatile uint32_t reg = 41;
int dynapps_demo(void)
{
    printf("PEEK %lu %s\\n", (unsigned long)peek(&reg), dynapps_err_name(exact_status()));
    return exact_unload() != DYNAPPS_OK;
}
""")
    result = _build_and_run(empty_project)
    header = (empty_project.root / "build/generated/dynapps_exact.h").read_text()
    assert "DYNAPPS_INLINE uint32_t peek(const volatile uint32_t *p)\n{" in header  # the inlined wrapper
    assert (result.exit_code, result.faults) == (0, []), result.uart_text
    assert "PEEK 42 DYNAPPS_OK" in result.uart_text


@pytest.mark.parametrize("chip", ["esp32c3", "esp32p4"])  # ilp32 soft-float and ilp32f
def test_restrict_and_long_double_pass_through_the_wrappers(empty_project, chip):
    _exact_app(empty_project)
    _firmware_calls(empty_project, EXACT_MAIN, chip)
    result = _build_and_run(empty_project, chip)
    header = (empty_project.root / "build/generated/dynapps_exact.h").read_text()
    for export in EXACT_EXPORTS:
        assert f"DYNAPPS_INLINE {export}\n{{" in header
    assert (result.exit_code, result.faults) == (0, []), result.uart_text
    assert "PEEK 42 COPY 7 8 9 SAME 1 PICK 1 STATUS DYNAPPS_OK" in result.uart_text


def test_header_with_restrict_compiles_as_cpp(empty_project):
    """The header has extern "C" guards for C++ firmware, which has no `restrict` keyword."""
    _exact_app(empty_project)
    empty_project.scons("apps")
    main = empty_project.write("firmware/main/uses_exact.cpp",
                               '#include "dynapps_exact.h"\nint restrict = 0;  // still a plain name after it\n'
                               "int main() { uint32_t a[1], b[1] = {1}; copy_words(a, b, 1); return restrict; }\n")
    spec = emulator.build_spec(chips.profile("esp32c3"))
    include = REPO / "firmware" / "components" / "dynapps" / "include"
    command = [GCC.replace("gcc", "g++"), *spec.cflags, "-Wall", "-Wextra", "-Werror", f"-I{include}",
               f"-I{empty_project.root / 'build' / 'generated'}", "-fsyntax-only", str(main)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


DWARF_CASES = [
    ("volatile dropped", "uint32_t peek(const uint32_t *p)",
     "app exact: peek: parameter 1 'p' is const uint32_t * in the manifest but const volatile uint32_t * in the code"),
    ("volatile added", "void copy_words(volatile uint32_t *restrict dst, const uint32_t *restrict src, uint32_t count)",
     "app exact: copy_words: parameter 1 'dst' is volatile uint32_t * in the manifest but uint32_t * in the code"),
    ("long double for double", "long double same(double x)",
     "app exact: same: parameter 1 'x' is double in the manifest but long double in the code"),
    ("double for long double", "double same(long double x)",
     "app exact: same: returns double in the manifest but long double in the code"),
]


@pytest.mark.parametrize("case, wrong, message", DWARF_CASES, ids=[c[0] for c in DWARF_CASES])
def test_dwarf_check_sees_volatile_and_long_double(empty_project, case, wrong, message):
    name = csig.parse(wrong).name
    exports = [wrong if csig.parse(e).name == name else e for e in EXACT_EXPORTS]
    _exact_app(empty_project, exports)
    result = empty_project.scons("apps", check=False)
    line = 2 + [csig.parse(e).name for e in EXACT_EXPORTS].index(name)
    assert _errors(result) == [f"apps/exact/app.yaml:{line}: {message}"], result.stderr


def test_top_level_restrict_does_not_change_the_call(empty_project):
    """Like a parameter's own const, restrict on the pointer itself is not part of the ABI."""
    _exact_app(empty_project, ["void copy_words(uint32_t *dst, const uint32_t *src, uint32_t count)"])
    empty_project.scons("apps")


@pytest.mark.parametrize("text, printed", [
    ("const volatile uint32_t *peek(volatile uint8_t *const volatile p)",
     "const volatile uint32_t *peek(volatile uint8_t *const volatile p)"),
    ("uint32_t volatile const *peek(void)", "const volatile uint32_t *peek(void)"),
    ("void copy(char *restrict *restrict out, long double const x)",
     "void copy(char *restrict *restrict out, const long double x)"),
    ("void each(void (*const volatile visit)(volatile int *restrict p))",
     "void each(void (*const volatile visit)(volatile int *restrict p))"),
])
def test_printed_prototype_keeps_every_qualifier(text, printed):
    assert csig.parse(text).declare() == printed


def test_unnamed_parameters_get_names_no_written_one_has():
    assert csig.parse("int32_t f(int32_t arg1, int32_t, int32_t arg0)").declare() == \
        "int32_t f(int32_t arg1, int32_t arg1_, int32_t arg0)"


@pytest.mark.parametrize("text, reason", [
    ("void f(restrict int *p)", "'restrict' qualifies pointers only: write it after the '*'"),
    ("restrict int f(void)", "'restrict' qualifies pointers only: write it after the '*'"),
    ("void f(long long double x)", "'long long double' is not a C type"),
    ("const int32_t f(void)", "'const' on the returned value has no effect: drop it"),
    ("int32_t *volatile f(void)", "'volatile' on the returned value has no effect: drop it"),
])
def test_bad_qualifiers_are_refused(text, reason):
    with pytest.raises(csig.SignatureError, match=re.escape(reason)):
        csig.parse(text)


# ---------------------------------------------------------------- the wrapper's own names

NAMES_SOURCE = """#include <stdint.h>
int32_t mix(int32_t result, int32_t err, int32_t function, int32_t handle, int32_t status)
{
    return result + 10 * err + 100 * function + 1000 * handle + 10000 * status;
}
int32_t total(int32_t names, int32_t mix_total) { return names + mix_total; }
"""
NAMES_EXPORTS = [
    "int32_t mix(int32_t result, int32_t err, int32_t function, int32_t handle, int32_t status)",
    "int32_t total(int32_t names, int32_t mix_total)",
]
NAMES_MAIN = """#include "dynapps_names.h"
int dynapps_demo(void)
{
    int32_t mixed = mix(1, 2, 3, 4, 5);
    dynapps_err_t after_mix = names_status();
    int32_t both = total(7, mixed);
    printf("MIX %ld %s TOTAL %ld %s\\n", (long)mixed, dynapps_err_name(after_mix), (long)both,
           dynapps_err_name(names_status()));
    return names_unload() != DYNAPPS_OK;
}
"""


def _names_project(project):
    project.write("apps/names/names.c", NAMES_SOURCE)
    project.write("apps/names/app.yaml", "exports:\n" + "".join(f"  - {e}\n" for e in NAMES_EXPORTS))
    _firmware_calls(project, NAMES_MAIN)


def _without_magic(flash: bytes) -> bytes:
    """The flash image with the one app's image header destroyed: every load of it fails."""
    offset = flash.index(b"DAPP")
    return flash[:offset] + b"\xff" * 4 + flash[offset + 4:]


def test_parameters_named_like_the_wrappers_locals(empty_project):
    """An export using every name the generated wrapper once used for itself (and the names of its
    app) builds, runs, and a failed call still shows in <app>_status()."""
    _names_project(empty_project)
    result = _build_and_run(empty_project)
    assert (result.exit_code, result.faults) == (0, []), result.uart_text
    assert "MIX 54321 DYNAPPS_OK TOTAL 54328 DYNAPPS_OK" in result.uart_text
    failed = _build_and_run(empty_project, flash=_without_magic((empty_project.root / FLASH).read_bytes()))
    assert re.search(r"^MIX 0 DYNAPPS_ERR_\w+ TOTAL 0 DYNAPPS_ERR_\w+$", failed.uart_text, re.M), failed.uart_text
    assert "DYNAPPS_OK" not in failed.uart_text


def test_wrappers_compile_with_wshadow(empty_project):
    """Compiled with -Wall -Wextra -Wshadow -Werror: no parameter shadows or is shadowed."""
    _names_project(empty_project)
    empty_project.scons("apps")
    spec = emulator.build_spec(chips.profile("esp32c3"))
    include = REPO / "firmware" / "components" / "dynapps" / "include"
    generated = empty_project.root / "build" / "generated"
    command = [GCC, *spec.cflags, "-O2", "-Wall", "-Wextra", "-Wshadow", "-Werror", f"-I{include}",
               f"-I{generated}", "-c", str(generated / "dynapps_names.c"), "-o", str(generated / "names.o")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_status_parameter_does_not_hide_a_failed_call(empty_project):
    """A parameter named `status` alone compiles, so it must not be what the failure is stored in."""
    empty_project.write("apps/probe/probe.c", "#include <stdint.h>\nint32_t probe(int32_t status) { return status + 1; }\n")
    empty_project.write("apps/probe/app.yaml", "exports:\n  - int32_t probe(int32_t status)\n")
    _firmware_calls(empty_project, """#include "dynapps_probe.h"
int dynapps_demo(void)
{
    int32_t value = probe(41);
    printf("PROBE %ld %s\\n", (long)value, dynapps_err_name(probe_status()));
    return probe_unload() != DYNAPPS_OK;
}
""")
    result = _build_and_run(empty_project)
    assert (result.exit_code, result.faults) == (0, []), result.uart_text
    assert "PROBE 42 DYNAPPS_OK" in result.uart_text
    failed = _build_and_run(empty_project, flash=_without_magic((empty_project.root / FLASH).read_bytes()))
    assert re.search(r"^PROBE 0 DYNAPPS_ERR_\w+$", failed.uart_text, re.M), failed.uart_text


@pytest.mark.parametrize("parameter, reason", [
    ("int32_t default", "parameter name 'default' is a C keyword"),
    ("int32_t bool", "parameter name 'bool' is a C keyword"),
    ("int32_t class", "parameter name 'class' is a C++ keyword (the generated header is also C++)"),
    ("int32_t dynapps_gen_status", "parameter name 'dynapps_gen_status': names starting with dynapps_ "
                                   "are reserved for the loader and the generated wrappers"),
    ("int32_t DYNAPPS_OK", "parameter name 'DYNAPPS_OK': names starting with DYNAPPS_ are reserved"),
    ("int32_t __x", "parameter name '__x' is reserved for the C implementation"),
    ("int32_t _Value", "parameter name '_Value' is reserved for the C implementation"),
    ("int32_t int32_t", "parameter name 'int32_t' is a type name"),
    ("int32_t NULL", "parameter name 'NULL' is a macro of the standard headers the wrappers include"),
    ("int32_t INT32_MAX", "parameter name 'INT32_MAX' is a macro of the standard headers the wrappers include"),
])
def test_parameter_names_that_cannot_work_are_refused(parameter, reason):
    with pytest.raises(csig.SignatureError, match=re.escape(reason)):
        csig.parse(f"int32_t f({parameter})")


@pytest.mark.parametrize("export, reason", [
    ("int32_t default(int32_t x)", "function name 'default' is a C keyword"),
    ("int32_t dynapps_load(int32_t x)", "function name 'dynapps_load': names starting with dynapps_ are reserved"),
])
def test_export_names_that_cannot_work_are_refused(export, reason):
    with pytest.raises(csig.SignatureError, match=re.escape(reason)):
        csig.parse(export)


@pytest.mark.parametrize("exports, message", [
    (["void mix(void (*names_load)(void))"],
     "exports: mix: parameter 'names_load' has the name of a function of the generated wrappers of app names; rename the parameter"),
    (["void mix(void (*peek)(void))", "void peek(void)"],
     "exports: mix: parameter 'peek' has the name of a function of the generated wrappers of app names; rename the parameter"),
])
def test_parameter_named_like_a_wrapper_function_is_one_line_error(empty_project, exports, message):
    empty_project.write("apps/names/names.c", "void mix(void (*f)(void)) { f(); }\nvoid peek(void) {}\n")
    empty_project.write("apps/names/app.yaml", "exports:\n" + "".join(f"  - {e}\n" for e in exports))
    result = empty_project.scons("apps", check=False)
    assert _errors(result) == [f"apps/names/app.yaml:2: {message}"], result.stderr
