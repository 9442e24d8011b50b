"""The code checked against the manifest beyond exports: init is `int f(void)`, deinit is
`void f(void)`, no variadic definitions, init and deinit not the same function."""

from __future__ import annotations

from test_link_errors import _app, _error

EXPORT = "#include <stdint.h>\nint32_t get(void) { return 1; }\n"
MANIFEST = "exports:\n  - int32_t get(void)\n"


def test_init_returning_void_is_refused(empty_project):
    _app(empty_project, EXPORT + "void setup(void) { }\n", MANIFEST + "init: setup\n")
    assert _error(empty_project) == ("apps/bad/app.yaml:3: app bad: init setup: the loader calls it as "
                                     "int setup(void), but the code defines it returning void with 0 parameter(s)")


def test_init_with_a_parameter_is_refused(empty_project):
    _app(empty_project, EXPORT + "int setup(int mode) { return mode; }\n", MANIFEST + "init: setup\n")
    assert _error(empty_project) == ("apps/bad/app.yaml:3: app bad: init setup: the loader calls it as "
                                     "int setup(void), but the code defines it returning int32_t with "
                                     "1 parameter(s)")


def test_deinit_returning_a_value_is_refused(empty_project):
    _app(empty_project, EXPORT + "int teardown(void) { return 0; }\n",
         "description: x\n" + MANIFEST + "deinit: teardown\n")
    assert _error(empty_project) == ("apps/bad/app.yaml:4: app bad: deinit teardown: the loader calls it as "
                                     "void teardown(void), but the code defines it returning int32_t with "
                                     "0 parameter(s)")


def test_right_init_and_deinit_build(empty_project):
    _app(empty_project, EXPORT + "int setup(void) { return 0; }\nvoid teardown(void) { }\n",
         MANIFEST + "init: setup\ndeinit: teardown\n")
    empty_project.scons("apps")


def test_variadic_export_is_refused(empty_project):
    source = "#include <stdarg.h>\n#include <stdint.h>\n" \
             "int32_t sum(int32_t count, ...) { va_list a; va_start(a, count); int32_t s = 0;\n" \
             "  while (count--) s += va_arg(a, int32_t); va_end(a); return s; }\n"
    _app(empty_project, source, "exports:\n  - int32_t sum(int32_t count)\n")
    assert _error(empty_project) == ("apps/bad/app.yaml:2: app bad: sum: the code defines it variadic (...), "
                                     "which a typed call can't pass: give it a fixed parameter list")


def test_variadic_init_is_refused(empty_project):
    _app(empty_project, EXPORT + "int setup(int n, ...) { return n; }\n", MANIFEST + "init: setup\n")
    assert _error(empty_project) == ("apps/bad/app.yaml:3: app bad: init setup: the code defines it variadic "
                                     "(...), which a typed call can't pass: give it a fixed parameter list")


def test_init_and_deinit_naming_the_same_function_is_refused(empty_project):
    _app(empty_project, EXPORT + "int both(void) { return 0; }\n", MANIFEST + "init: both\ndeinit: both\n")
    assert _error(empty_project) == ("apps/bad/app.yaml:4: deinit: 'both' is also the init function: the loader "
                                     "would call it as int f(void) after loading and as void f(void) before "
                                     "unloading")
