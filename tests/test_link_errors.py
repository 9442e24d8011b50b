"""Link-time mistakes are one-line errors naming the app, object, section and symbol."""

from __future__ import annotations

import re


def _error(project) -> str:
    result = project.scons("apps", check=False)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line[len("error: "):] for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def _app(project, source: str, manifest: str):
    project.write("apps/bad/bad.c", source)
    project.write("apps/bad/app.yaml", manifest)


ABSOLUTE_ADDRESS = """#include <stdint.h>
int32_t table[4] = {1, 2, 3, 4};
int32_t read_first(void)
{
    int32_t *p;
    __asm__("lui %0, %%hi(table)\\n\\taddi %0, %0, %%lo(table)" : "=r"(p));
    return *p;
}
"""


def test_absolute_relocation_in_an_iram_blob_names_object_section_symbol(empty_project):
    _app(empty_project, ABSOLUTE_ADDRESS, "strategy: iram\nexports:\n  - int32_t read_first(void)\n")
    error = _error(empty_project)
    assert re.fullmatch(r"app bad: build/apps/bad/bad\.o: section \.text\.read_first: symbol table: "
                        r"R_RISCV_HI20 is an absolute address inside an instruction, .*", error), error


def test_absolute_relocation_is_fine_in_an_xip_image(empty_project):
    _app(empty_project, ABSOLUTE_ADDRESS, "strategy: xip\nexports:\n  - int32_t read_first(void)\n")
    empty_project.scons("apps")


def test_missing_firmware_symbols_are_named(empty_project):
    source = "#include <stdint.h>\nvoid radio_send(int32_t);\nvoid led_on(void);\n" \
             "int32_t go(int32_t x) { radio_send(x); led_on(); return x; }\n"
    _app(empty_project, source, "exports:\n  - int32_t go(int32_t x)\n")
    error = _error(empty_project)
    assert error == ("app bad: the firmware does not export led_on (used by build/apps/bad/bad.o), "
                     "radio_send (used by build/apps/bad/bad.o); add them to firmware/exports.yaml "
                     "or define them in the app"), error


def test_declared_export_missing_from_the_code(empty_project):
    _app(empty_project, "int present(void) { return 1; }\n",
         "exports:\n  - int present(void)\n  - int absent(int x)\n")
    error = _error(empty_project)
    assert error == "apps/bad/app.yaml:3: app bad: 'absent' is declared but the app's sources do not define it"


def test_export_that_is_not_a_function(empty_project):
    _app(empty_project, "int present(void) { return 1; }\nint value = 3;\n",
         "exports:\n  - int present(void)\n  - int value(void)\n")
    assert _error(empty_project) == "apps/bad/app.yaml:3: app bad: 'value' is not a function"


def test_preinit_array_is_refused(empty_project):
    """The loader runs .init_array and .fini_array (tests/test_cpp_apps.py); .preinit_array is
    for an executable's start-up, which an app has not."""
    source = "static int ready;\nstatic void setup(void) { ready = 1; }\n" \
             "__attribute__((used, section(\".preinit_array\"))) static void (*early)(void) = setup;\n" \
             "int is_ready(void) { return ready; }\n"
    _app(empty_project, source, "exports:\n  - int is_ready(void)\n")
    error = _error(empty_project)
    assert re.fullmatch(r"app bad: build/apps/bad/bad\.o: section \.preinit_array can't go into an image \(only "
                        r"\.init_array and \.fini_array constructors/destructors are run\)", error), error


def test_image_larger_than_its_slot(empty_project):
    source = "#include <stdint.h>\nconst uint8_t blob[6000] = {1};\nuint8_t get(uint32_t i) { return blob[i]; }\n"
    _app(empty_project, source, "strategy: iram\nlimits:\n  flash: 4K\nexports:\n  - uint8_t get(uint32_t i)\n")
    error = _error(empty_project)
    assert re.fullmatch(r"app bad: image is \d+ bytes but its slot holds 4096; set limits\.flash: 8K in "
                        r"apps/bad/app\.yaml", error), error


def test_xip_data_larger_than_its_ram_limit(empty_project):
    source = "#include <stdint.h>\nuint8_t buffer[3000];\nuint8_t *get(void) { return buffer; }\n"
    _app(empty_project, source, "strategy: xip\nlimits:\n  ram: 1K\nexports:\n  - uint8_t *get(void)\n")
    error = _error(empty_project)
    assert re.fullmatch(r"app bad: data \+ bss need 30\d\d bytes but limits\.ram gives 1024 "
                        r"\(set limits\.ram: 3K in apps/bad/app\.yaml\)", error), error
