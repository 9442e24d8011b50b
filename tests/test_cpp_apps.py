"""C++ apps (docs/manifest.md, "C++ sources"): .cpp sources compiled by the toolchain's g++ with
-fno-exceptions -fno-rtti, extern "C" exports checked against DWARF, static constructors run at
load before init and destructors at unload after deinit, IRAM and XIP in the emulator on esp32c3
and esp32p4, PSRAM on esp32p4; what an image can't carry (exceptions, RTTI, thread-safe statics, operator
new without the firmware's allocator) is one build error line naming the app."""

from __future__ import annotations

import re
import shutil
import struct

import pytest

from conftest import REPO, Project
from test_link_apps import run_in_emulator
from test_link_errors import _error
from dynapps import chips, image
from dynapps.elf32 import Elf32
from dynapps.errors import DynappsError

TEST_APPS = REPO / "tests" / "apps"
FIRMWARE_DIR = "firmware/cpp"


def make_project(root, chip: str, strategy: str | None = None, app: str = "cppdemo") -> Project:
    """A project with the C++ test app (forced to `strategy`) and its emulator firmware."""
    for relative in ("SConstruct", "firmware/exports.yaml", "firmware/partitions-base.csv"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / relative, root / relative)
    shutil.copytree(TEST_APPS / app, root / "apps" / app)
    exports = root / "firmware/exports.yaml"  # operator new and delete allocate from the firmware's heap
    exports.write_text(exports.read_text() + "  - malloc\n  - free\n")
    if strategy:
        manifest = root / "apps" / app / "app.yaml"
        manifest.write_text(manifest.read_text() + f"strategy: {strategy}\n")
    (root / FIRMWARE_DIR).mkdir(parents=True)
    shutil.copy(TEST_APPS / "firmware" / "cpp_demo.c", root / FIRMWARE_DIR / "cpp_demo.c")
    shutil.copy(REPO / "firmware/main/demo.h", root / FIRMWARE_DIR / "demo.h")
    text = (REPO / "dynapps.yaml").read_text()
    text = re.sub(r"^chip: \S+", f"chip: {chip}", text, flags=re.M)
    text = re.sub(r"^  order: .*\n", "", text, flags=re.M)
    text = re.sub(r"(  emulator_sources:.*\n)(    - .*\n)+", rf"\1    - {FIRMWARE_DIR}/cpp_demo.c\n", text)
    (root / "dynapps.yaml").write_text(text)
    return Project(root)


# PSRAM (esp32p4 only): the IRAM layout copied into PSRAM, its arrays' entries fixed up the same way.
RUNS = [(chip, strategy) for chip in ("esp32c3", "esp32p4") for strategy in ("iram", "xip")] + [("esp32p4", "psram")]


@pytest.mark.parametrize("chip,strategy", RUNS, ids=[f"{c}-{s}" for c, s in RUNS])
def test_cpp_app_runs_constructors_before_init_and_destructors_after_deinit(tmp_path, chip, strategy):
    project = make_project(tmp_path, chip, strategy)
    result = run_in_emulator(project, chip)
    text = result.uart_text
    assert result.faults == [] and result.reason == "exit", text
    assert "LOAD-ERROR" not in text and "CALL-ERROR" not in text, text
    events = [line for line in text.splitlines()
              if re.match(r"(CTOR|INIT|LOADED|RESULT|DEINIT|DTOR|FINI|UNLOADED) ", line)]
    loaded = re.search(r"^LOADED cppdemo \S+ code=(0x[0-9a-f]+)$", text, re.M)
    assert loaded, text
    psram = chips.profile(chip).emulator.psram
    assert (psram is not None and psram.contains(int(loaded[1], 16))) == (strategy == "psram"), text
    events = [re.sub(r" code=0x[0-9a-f]+$", "", line) for line in events]
    assert events == [
        "CTOR first 1",  # .init_array, in source order
        "CTOR second 2",
        "INIT cppdemo constructed=2",  # init after every constructor
        f"LOADED cppdemo {strategy}",
        "RESULT constructed 2",
        "RESULT push 23",  # the template Ring<int32_t, 4>
        "RESULT sum 23",
        "RESULT scaled 42",  # a virtual call: the vtable's words were fixed up (IRAM) or linked in place (XIP)
        "CTOR late 3",  # a function-local static, at its first use
        "RESULT late 3",
        "RESULT late 3",
        "RESULT heap 55",  # new HeapArray<int32_t>(10): operator new and new[], delete and delete[]
        "DEINIT cppdemo",  # deinit before every destructor
        "DTOR late 3",  # __cxa_atexit registrations, last first
        "DTOR second 2",
        "DTOR first 1",
        "FINI cppdemo",  # .fini_array
        "UNLOADED cppdemo DYNAPPS_OK",
    ], text
    assert result.exit_code == 0, text
    img = image.read((project.root / "build/apps/cppdemo.dapp").read_bytes())
    assert {"malloc", "free", "printf"} <= {name for name, _ in img.imports}
    # One constructor (the compile unit's); two destructors: last_words and the runtime's
    # __cxa_atexit runner, which runs first.
    assert (img.init_count, img.fini_count) == (1, 2)
    # Three __cxa_atexit call sites (two globals, one local static): a table of three registrations.
    elf = Elf32(str(project.root / "build/apps/cppdemo/cppdemo.elf"))
    table = {symbol.name: symbol.value for symbol in elf.global_symbols() if symbol.name.startswith("__dynapps_atexit")}
    assert table["__dynapps_atexit_table_end"] - table["__dynapps_atexit_table"] == 3 * 8, table


# ---- what an image can't carry: one error line naming the app -------------------------------

def _cxx_app(project: Project, source: str, manifest: str = "", exports: str = "int32_t run(int32_t x)"):
    project.write("apps/cx/cx.cpp", source)
    project.write("apps/cx/app.yaml", f"exports:\n  - {exports}\n{manifest}")


def _add_firmware_exports(project: Project, *names: str) -> None:
    exports = project.root / "firmware/exports.yaml"
    exports.write_text(exports.read_text() + "".join(f"  - {name}\n" for name in names))


THROWS = """#include <stdint.h>
extern "C" int32_t run(int32_t x) { try { if (x < 0) throw x; return x; } catch (int32_t e) { return -e; } }
"""


@pytest.mark.parametrize("flag", ["-fexceptions", "-frtti"])
def test_exceptions_or_rtti_in_the_manifest_flags(empty_project, flag):
    _cxx_app(empty_project, "#include <stdint.h>\nextern \"C\" int32_t run(int32_t x) { return x; }\n",
             f"cflags: [-O2, {flag}]\n")
    error = _error(empty_project)
    assert error.startswith(f"apps/cx/app.yaml:3: cflags: {flag}: "), error
    assert "an image can't carry" in error and f"built with -fno-{flag[2:]}" in error, error


def test_exceptions_from_the_project_flags(empty_project):
    """The project's cflags come after the fixed flags: the link sees the personality routine."""
    project_file = empty_project.root / "dynapps.yaml"
    project_file.write_text(project_file.read_text() + "cflags: [-O2, -fexceptions]\n")
    _cxx_app(empty_project, THROWS)
    error = _error(empty_project)
    assert re.fullmatch(r"app cx: build/apps/cx/cx\.o uses C\+\+ exceptions \((__cxa_allocate_exception|"
                        r"__cxa_begin_catch|__gxx_personality_v0|_Unwind_Resume)\): an image has no unwinder; remove "
                        r"-fexceptions from the cflags and try/throw from the sources", error), error


def test_rtti_from_the_project_flags(empty_project):
    project_file = empty_project.root / "dynapps.yaml"
    project_file.write_text(project_file.read_text() + "cflags: [-O2, -frtti]\n")
    source = """#include <stdint.h>
struct Base { virtual ~Base() {} virtual int32_t f() const { return 1; } };
struct Derived : Base { int32_t f() const override { return 2; } };
static Derived d;
static Base *volatile p = &d;
extern "C" int32_t run(int32_t x) { return dynamic_cast<Derived *>(p) ? x : -x; }
"""
    _cxx_app(empty_project, source)
    error = _error(empty_project)
    assert re.fullmatch(r"app cx: build/apps/cx/cx\.o uses RTTI \((_ZTI\w+|_ZTVN10__cxxabiv1\w+|__dynamic_cast)\): "
                        r"an image has no type_info; remove -frtti from the cflags and typeid/dynamic_cast from "
                        r"the sources", error), error


LOCAL_STATIC = """#include <stdint.h>
struct Counter { int32_t n; Counter(int32_t start) : n(start) {} };
static Counter &counter(int32_t start) { static Counter c(start); return c; }
extern "C" int32_t run(int32_t x) { return counter(x).n++; }
"""


def test_thread_safe_statics_without_firmware_guards(empty_project):
    _cxx_app(empty_project, LOCAL_STATIC, "cflags: [-O2, -fthreadsafe-statics]\n")
    error = _error(empty_project)
    assert error == ("app cx: build/apps/cx/cx.o uses thread-safe statics (__cxa_guard_acquire, "
                     "__cxa_guard_release), which the firmware does not export: add __cxa_guard_acquire, "
                     "__cxa_guard_release, __cxa_guard_abort to firmware/exports.yaml or remove "
                     "-fthreadsafe-statics from the cflags"), error


def test_thread_safe_statics_with_firmware_guards_import_them(empty_project):
    _add_firmware_exports(empty_project, "__cxa_guard_acquire", "__cxa_guard_release", "__cxa_guard_abort")
    _cxx_app(empty_project, LOCAL_STATIC, "cflags: [-O2, -fthreadsafe-statics]\n")
    empty_project.scons("apps")
    img = image.read((empty_project.root / "build/apps/cx.dapp").read_bytes())
    assert {"__cxa_guard_acquire", "__cxa_guard_release"} <= {name for name, _ in img.imports}


def test_local_statics_without_guards_by_default(empty_project):
    _cxx_app(empty_project, LOCAL_STATIC)
    empty_project.scons("apps")
    img = image.read((empty_project.root / "build/apps/cx.dapp").read_bytes())
    assert [name for name, _ in img.imports] == []


NEW_DELETE = """#include <stdint.h>
struct Box { int32_t v; explicit Box(int32_t x) : v(x) {} };
extern "C" int32_t run(int32_t x) { Box *volatile b = new Box(x); int32_t v = b->v; delete b; return v; }
"""


def test_operator_new_without_the_firmware_allocator(empty_project):
    _cxx_app(empty_project, NEW_DELETE)
    error = _error(empty_project)
    assert error == ("app cx: build/apps/cx/cx.o uses operator new/delete (_ZdlPvj, _Znwj), which allocate from "
                     "the firmware's heap: add malloc and free to firmware/exports.yaml"), error


def test_operator_new_on_the_firmware_allocator(empty_project):
    _add_firmware_exports(empty_project, "malloc", "free")
    exports = empty_project.root / "firmware/exports.yaml"
    _cxx_app(empty_project, NEW_DELETE)
    empty_project.scons("apps")
    img = image.read((empty_project.root / "build/apps/cx.dapp").read_bytes())
    assert {name for name, _ in img.imports} == {"malloc", "free"}, exports.read_text()
    linked = (empty_project.root / "build/apps/cx/cx.map").read_text()
    assert "dynapps_cxx_new.o" in linked and "dynapps_cxx_atexit.o" not in linked.split("Linker script")[0]


def test_export_without_extern_c(empty_project):
    _cxx_app(empty_project, "#include <stdint.h>\nint32_t run(int32_t x) { return x; }\n")
    error = _error(empty_project)
    assert error == ("apps/cx/app.yaml:2: app cx: 'run' is defined in C++ as _Z3runl, not under its C name: "
                     "declare it extern \"C\""), error


def test_export_signature_checked_in_a_cpp_unit(empty_project):
    """The DWARF of a C++ compile unit: an extern "C" definition whose type differs is refused."""
    _cxx_app(empty_project, "#include <stdint.h>\nextern \"C\" int32_t run(int16_t x) { return x; }\n")
    error = _error(empty_project)
    assert error.startswith("apps/cx/app.yaml:2: app cx: run"), error
    assert "int16_t" in error or "short" in error, error


def test_export_signature_not_taken_from_a_cpp_overload(empty_project):
    """A C++ overload run(int16_t) has DW_AT_name "run" too: only the extern "C" definition is the
    export's."""
    source = """#include <stdint.h>
__attribute__((used)) int16_t run(int16_t x) { return x; }
extern "C" int32_t run(int32_t x) { return x + 1; }
"""
    _cxx_app(empty_project, source)
    result = empty_project.scons("apps", check=False)
    assert result.returncode == 0, result.stderr


# ---- the image's constructor and destructor arrays: written, read back, checked ---------------

def _iram_image(**changes) -> image.Image:
    """32 bytes of code at the esp32c3 IRAM alias; a constructor and a destructor (code + 0x10,
    + 0x14) in the data segment, each with its fix-up."""
    fields = dict(chip_id=5, strategy="iram", align_log2=4, code=bytes(32),
                  data=struct.pack("<4I", 0x700010, 0x700014, 0, 0), bss_size=0, code_vaddr=0x700000,
                  data_vaddr=32, import_slots_vaddr=0, exports_id=0, fixups=[32, 36], name="cx",
                  init_array_vaddr=32, init_count=1, fini_array_vaddr=36, fini_count=1)
    return image.Image(**{**fields, **changes})


def test_call_arrays_survive_writing_and_reading():
    img = image.read(_iram_image().to_bytes())
    assert img.call_arrays() == (32, 1, 36, 1)
    text = image.describe(img, {5: "esp32c3"})
    assert "ctors       1 at 0x00000020" in text and "dtors       1 at 0x00000024" in text, text


BAD_ARRAYS = {
    "constructor outside the code": (dict(data=struct.pack("<4I", 0x700040, 0x700014, 0, 0)),
                                     "constructor at 0x20 calls 0x700040, outside the code segment"),
    "destructor without its fix-up": (dict(fixups=[32]), "destructor at 0x24 has no fix-up"),
    # a PSRAM blob is the IRAM layout linked at 0: its entries need their fix-ups just the same
    "PSRAM destructor without its fix-up": (dict(chip_id=18, strategy="psram", code_vaddr=0, fixups=[32],
                                                 data=struct.pack("<4I", 0x10, 0x14, 0, 0)),
                                            "destructor at 0x24 has no fix-up"),
    "array past the data": (dict(fini_array_vaddr=44, fini_count=2), "2 destructors at 0x2c are not 4-aligned words"),
    "array off a word": (dict(init_array_vaddr=34), "1 constructors at 0x22 are not 4-aligned words"),
    "array in the code": (dict(init_array_vaddr=0x700000), "1 constructors at 0x700000 are not 4-aligned words"),
}


@pytest.mark.parametrize("case", BAD_ARRAYS, ids=list(BAD_ARRAYS))
def test_bad_call_arrays_are_refused_by_the_writer_and_the_reader(case):
    changes, message = BAD_ARRAYS[case]
    bad = _iram_image(**changes)
    with pytest.raises(DynappsError) as error:
        bad.to_bytes()
    assert str(error.value).startswith("app cx: ") and message in str(error.value), str(error.value)
    with pytest.raises(DynappsError) as error:
        image.read(bad.to_bytes(checked=False), "cx.dapp")
    assert message in str(error.value), str(error.value)


def test_c_and_cpp_sources_in_one_app(empty_project):
    """Two C++ units (.cc and .cxx) instantiating one template (a COMDAT group each, one kept), each with a static
    object, and a C unit with __attribute__((constructor)): three constructors in the image."""
    template = "template <typename T> T twice(T v) { return v + v; }\n"
    empty_project.write("apps/mix/a.cc", "#include <stdint.h>\n" + template +
                        "struct A { int32_t v; A() : v(twice(20)) {} };\nstatic A a;\n"
                        "extern \"C\" int32_t mix_a(void) { return a.v + twice(1); }\n")
    empty_project.write("apps/mix/b.cxx", "#include <stdint.h>\n" + template +
                        "struct B { int32_t v; B() : v(twice(2)) {} };\nstatic B b;\n"
                        "extern \"C\" int32_t mix_b(void) { return b.v + twice(3); }\n")
    empty_project.write("apps/mix/c.c", "#include <stdint.h>\nstatic int32_t ready;\n"
                        "__attribute__((constructor)) static void setup(void) { ready = 5; }\n"
                        "int32_t mix_c(void) { return ready; }\n")
    empty_project.write("apps/mix/app.yaml", "strategy: iram\nexports:\n  - int32_t mix_a(void)\n"
                        "  - int32_t mix_b(void)\n  - int32_t mix_c(void)\n")
    empty_project.scons("apps")
    img = image.read((empty_project.root / "build/apps/mix.dapp").read_bytes())
    assert (img.init_count, img.fini_count) == (3, 0)
    assert img.imports == []  # trivially destructible objects: no __cxa_atexit, no runtime
    linked = (empty_project.root / "build/apps/mix/mix.map").read_text()
    assert "dynapps_cxx_" not in linked.split("Memory Configuration")[0]
