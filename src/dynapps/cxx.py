"""C++ apps at link time (docs/manifest.md, "C++ sources"): what an image can't carry is refused
with one line naming the app, the symbol and the object using it; the C++ runtime support an app
needs is chosen from dynapps' own small runtime (runtime/*.c), like archive members: a runtime
object is linked only when it defines a symbol the app's objects use.

- static destructors: g++ registers them with __cxa_atexit; runtime/cxx_atexit.c keeps the
  registrations in a table the linker script sizes (one entry per call site) and runs them from
  its .fini_array entry at unload;
- operator new/delete: runtime/cxx_new.c, on the firmware's malloc and free;
- __cxa_pure_virtual (abstract classes' vtables): runtime/cxx_pure_virtual.c.
"""

from __future__ import annotations

from pathlib import Path

from .errors import DynappsError

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
RUNTIME_SOURCES = tuple(sorted(RUNTIME_DIR.glob("cxx_*.c")))
ATEXIT = "__cxa_atexit"
# What the linker script defines for the runtime (the __cxa_atexit table): not an import.
LINKER_SCRIPT_SYMBOLS = ("__dynapps_atexit_table", "__dynapps_atexit_table_end")

# Symbols whose use means a feature an image can't carry, and why.
_EXCEPTIONS = {"__gxx_personality_v0", "_Unwind_Resume", "__cxa_throw", "__cxa_rethrow", "__cxa_allocate_exception",
               "__cxa_begin_catch", "__cxa_end_catch", "__cxa_call_unexpected", "__cxa_end_cleanup"}
_GUARDS = ("__cxa_guard_acquire", "__cxa_guard_release", "__cxa_guard_abort")
_NEW_DELETE = {"_Znwj", "_Znaj", "_ZdlPv", "_ZdaPv", "_ZdlPvj", "_ZdaPvj"}
_ALLOCATOR = ("malloc", "free")


def _is_rtti(name: str) -> bool:
    """type_info objects (_ZTI...) and the C++ library's type_info classes, dynamic_cast."""
    return name.startswith(("_ZTI", "_ZTS", "_ZTVN10__cxxabiv1")) or name == "__dynamic_cast"


def check(app: str, undefined: dict, firmware_symbols, exports_path: str) -> None:
    """`undefined`: symbol -> first object using it, of the app's own objects. Raises for the
    first C++ feature the image can't express."""
    firmware = set(firmware_symbols)
    for name, user in sorted(undefined.items()):
        if name in _EXCEPTIONS:
            raise DynappsError(f"app {app}: {user} uses C++ exceptions ({name}): an image has no unwinder; "
                               "remove -fexceptions from the cflags and try/throw from the sources")
        if _is_rtti(name):
            raise DynappsError(f"app {app}: {user} uses RTTI ({name}): an image has no type_info; "
                               "remove -frtti from the cflags and typeid/dynamic_cast from the sources")
    guards = sorted(name for name in undefined if name in _GUARDS and name not in firmware)
    if guards:
        raise DynappsError(f"app {app}: {undefined[guards[0]]} uses thread-safe statics ({', '.join(guards)}), "
                           f"which the firmware does not export: add {', '.join(_GUARDS)} to {exports_path} "
                           "or remove -fthreadsafe-statics from the cflags")
    news = sorted(name for name in undefined if name in _NEW_DELETE)
    missing = [name for name in _ALLOCATOR if name not in firmware]
    if news and missing:
        raise DynappsError(f"app {app}: {undefined[news[0]]} uses operator new/delete ({', '.join(news)}), which "
                           f"allocate from the firmware's heap: add {' and '.join(missing)} to {exports_path}")


def check_extern_c(config, defined: set) -> None:
    """An export, init or deinit defined in C++ without extern "C" has a mangled name
    (_Z<length><name>...): the loader and the wrappers look for the C name."""
    spec = config.exports
    lines = {**{name: spec.line(name) for name in spec.names}, **{name: line for _, name, line in spec.lifecycle()}}
    for name, line in lines.items():
        mangled = sorted(symbol for symbol in defined if symbol.startswith(f"_Z{len(name)}{name}"))
        if name not in defined and mangled:
            raise DynappsError(f"app {config.app}: '{name}' is defined in C++ as {mangled[0]}, not under its C "
                               f"name: declare it extern \"C\"", config.manifest, line)


def needed_runtime(runtime: dict, undefined: dict) -> list[str]:
    """The runtime objects (path -> symbols each defines) that define a symbol the app uses."""
    return [path for path, defined in runtime.items() if defined & set(undefined)]


def atexit_slots(call_sites: int, runtime_linked: list[str]) -> int:
    """Entries of the __cxa_atexit table: one per call site, when cxx_atexit is linked."""
    return max(call_sites, 1) if any(Path(path).stem.endswith("cxx_atexit") for path in runtime_linked) else 0
