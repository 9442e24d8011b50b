"""Where each symbol an app needs comes from: the app itself, the firmware (an import), libgcc,
or the toolchain's own C library, linked into the app like libgcc.

The rule (docs/manifest.md, "What an app may call"): pure C library functions, the ones that
keep no state and do no I/O (math.h, string.h, strings.h, ctype.h and a few of stdlib.h), are
linked into the app from the C library the compiler brings (picolibc with Debian's toolchain,
newlib with ESP-IDF's). Everything else of the C library keeps state the app must share with the
firmware (the heap, stdio, errno, locks), so it comes from the firmware's export table or not at
all. A name in the firmware's export table always wins: the app then calls the firmware's copy.

Imports are bound through code stubs, so only functions can be imported: a data object from the
firmware (picolibc's `_ctype_` table, a global variable) is refused at build time.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from . import dwarf
from .elf32 import SHN_UNDEF, STT_OBJECT, Elf32

_MATH = """acos asin atan atan2 cos sin tan cosh sinh tanh acosh asinh atanh exp exp2 exp10 expm1 log
    log10 log2 log1p logb ilogb pow pow10 sqrt cbrt hypot erf erfc tgamma ceil floor trunc round lround
    llround rint lrint llrint nearbyint fmod remainder remquo copysign nan nextafter nexttoward fdim
    fmax fmin fma fabs frexp ldexp modf scalbn scalbln sincos significand isnan isinf finite""".split()
PURE_FUNCTIONS = frozenset(
    [name + suffix for name in _MATH for suffix in ("", "f", "l")]
    + """memchr memrchr memcmp memcpy memmove memset memmem mempcpy memccpy strcat strchr strchrnul
    strcmp strcpy strcspn strlen strncat strncmp strncpy strnlen strpbrk strrchr strspn strstr
    strcasestr stpcpy stpncpy strlcpy strlcat bcmp bcopy bzero explicit_bzero index rindex ffs ffsl
    ffsll strcasecmp strncasecmp""".split()
    + """isalnum isalpha isblank iscntrl isdigit isgraph islower isprint ispunct isspace isupper
    isxdigit tolower toupper isascii toascii""".split()
    + "abs labs llabs div ldiv lldiv qsort bsearch".split()
    # fenv.h: the FPU's own control register, the same from the app as from the firmware
    + """fegetround fesetround feclearexcept feraiseexcept fetestexcept fegetenv fesetenv feholdexcept
    feupdateenv fegetexceptflag fesetexceptflag""".split())
# Constant tables the pure functions' macros read (picolibc's isdigit() reads _ctype_).
PURE_TABLES = frozenset({"_ctype_"})
# Library-internal names (reserved: leading underscore) a pure function may pull in, unless they
# are the C library's state.
_STATEFUL_HELPER = re.compile(r"errno|reent|impure|lock|malloc|free|stdin|stdout|stderr|_sf|atexit|locale|tls",
                              re.I)
_CALLS = {18, 19}  # R_RISCV_CALL, R_RISCV_CALL_PLT: the symbol is certainly a function


def is_pure(name: str) -> bool:
    return name in PURE_FUNCTIONS or name in PURE_TABLES


def _helper_is_pure(name: str) -> bool:
    return name.startswith("_") and not _STATEFUL_HELPER.search(name)


@dataclass(eq=False)
class Member:
    archive: str
    name: str
    elf: Elf32

    @cached_property
    def defined(self) -> set[str]:
        return {s.name for s in self.elf.global_symbols() if s.shndx != SHN_UNDEF}

    @cached_property
    def undefined(self) -> set[str]:
        return {s.name for s in self.elf.global_symbols() if s.shndx == SHN_UNDEF}

    @cached_property
    def data_objects(self) -> set[str]:
        return {s.name for s in self.elf.global_symbols() if s.shndx != SHN_UNDEF and s.type == STT_OBJECT}


class Archive:
    """A GNU ar archive of ELF32 objects, read lazily: its symbol table, then only the members a
    lookup needs."""

    def __init__(self, path: str):
        self.path = path
        self.data = Path(path).read_bytes()
        self.index = _symbol_index(self.data)  # symbol -> member header offset
        self._long_names = _long_names(self.data)
        self._members: dict[int, Member] = {}

    def member(self, symbol: str) -> Member | None:
        offset = self.index.get(symbol)
        if offset is None:
            return None
        if offset not in self._members:
            header = self.data[offset:offset + 60]
            size = int(header[48:58].decode().strip())
            name = self._member_name(header[:16].decode().strip())
            body = self.data[offset + 60:offset + 60 + size]
            self._members[offset] = Member(self.path, name, Elf32.from_bytes(body, f"{self.path}({name})"))
        return self._members[offset]

    def _member_name(self, raw: str) -> str:
        if raw.startswith("/") and raw[1:].isdigit():  # GNU long name: offset into the // member
            start = int(raw[1:])
            return self._long_names[start:self._long_names.index("/\n", start)]
        return raw.rstrip("/")


def _members(data: bytes):
    """(header offset, name field, body) of every member."""
    offset = 8
    while offset + 60 <= len(data):
        header = data[offset:offset + 60]
        size = int(header[48:58].decode().strip())
        yield offset, header[:16].decode().strip(), data[offset + 60:offset + 60 + size]
        offset += 60 + size + (size & 1)


def _symbol_index(data: bytes) -> dict[str, int]:
    """The GNU ar symbol table ('/' member): count, big-endian member offsets, NUL-ended names."""
    if not data.startswith(b"!<arch>\n"):
        return {}
    for _offset, name, body in _members(data):
        if name == "/":
            count = int.from_bytes(body[:4], "big")
            offsets = [int.from_bytes(body[4 + 4 * i:8 + 4 * i], "big") for i in range(count)]
            names = body[4 + 4 * count:].split(b"\0")[:count]
            index: dict[str, int] = {}
            for symbol, member in zip(names, offsets):
                index.setdefault(symbol.decode(), member)
            return index
        break
    return {}


def archive_symbols(path: str) -> set[str]:
    return set(_archive(path).index)


def _long_names(data: bytes) -> str:
    for _offset, name, body in _members(data):
        if name == "//":
            return body.decode(errors="replace")
        if name not in ("/", "/SYM64/"):
            break
    return ""


_ARCHIVES: dict[str, Archive] = {}
_LIBRARY_PATHS: dict[tuple, list[str]] = {}


def _archive(path: str) -> Archive:
    if path not in _ARCHIVES:
        _ARCHIVES[path] = Archive(path)
    return _ARCHIVES[path]


def library_paths(cc: str, flags: list[str]) -> list[str]:
    """The libc.a and libm.a the compiler links for these flags, as its linker finds them (the
    multilib directory of picolibc or newlib)."""
    key = (cc, tuple(flags))
    if key not in _LIBRARY_PATHS:
        result = subprocess.run([cc, *flags, "-nostartfiles", "-nostdlib", "-Wl,--verbose", "-o", "/dev/null",
                                 "-lc", "-lm"], capture_output=True, text=True)
        found = re.findall(r"attempt to open (\S+/lib(?:c|m)\.a) succeeded", result.stdout + result.stderr)
        _LIBRARY_PATHS[key] = list(dict.fromkeys(found))
    return _LIBRARY_PATHS[key]


class Library:
    """The toolchain's C library: libc.a then libm.a, searched in that order."""

    def __init__(self, paths: list[str]):
        self.archives = [_archive(path) for path in paths]

    def member(self, symbol: str) -> Member | None:
        return next((m for m in (a.member(symbol) for a in self.archives) if m), None)

    def defines(self, symbol: str) -> bool:
        return any(symbol in archive.index for archive in self.archives)


@dataclass
class Plan:
    imports: list[str]  # firmware symbols, sorted
    members: list[Member] = field(default_factory=list)  # C library members linked into the app
    missing: dict[str, str] = field(default_factory=dict)  # symbol -> who needs it
    stateful: dict[str, str] = field(default_factory=dict)  # C library symbols only the firmware may provide
    needed_by: dict[str, str] = field(default_factory=dict)  # every symbol resolved -> who needs it
    called_as: dict[str, str] = field(default_factory=dict)  # member name -> the function the app called

    @property
    def member_names(self) -> set[tuple[str, str]]:
        return {(m.archive, m.name) for m in self.members}


def plan(undefined: dict[str, str], defined: set[str], firmware: set[str], libgcc: set[str],
         library: Library) -> Plan:
    """Resolve `undefined` (symbol -> first object using it) in order: firmware export, libgcc,
    pure C library member (and what it needs in turn); `defined`: what the app defines itself.
    Names nothing resolves are `missing`."""
    result = Plan(imports=[])
    linked: set[str] = set(defined)
    queue = [(name, user, None) for name, user in sorted(undefined.items())]
    while queue:
        name, user, called = queue.pop(0)  # called: the function the app called that needs `name`
        if name in linked or name in result.needed_by:
            continue
        result.needed_by[name] = user
        if name in firmware:
            result.imports.append(name)
        elif name in libgcc:
            continue
        elif library.defines(name) and (is_pure(name) or (called and _helper_is_pure(name))):
            member = library.member(name)
            result.members.append(member)
            result.called_as[member.name] = called or name
            linked |= member.defined
            via = user if called else f"the C library's {name}, used by {user}"
            queue += [(needed, via, called or name) for needed in sorted(member.undefined - linked)]
        elif library.defines(name):
            result.stateful[name] = user
        else:
            result.missing[name] = user
    result.imports.sort()
    return result


def needing(library_plan: Plan, kinds: set[int]) -> list[str]:
    """The functions the app called whose C library code has a relocation of one of `kinds`."""
    return sorted({library_plan.called_as[member.name] for member in library_plan.members
                   if any(kind in kinds for rela, target in member.elf.relocation_sections() if target.allocated
                          for _offset, kind, _index, _addend in member.elf.relocations(rela))})


def data_imports(imports: list[str], facts, library: Library, library_plan: Plan, elf_path: str) -> dict[str, str]:
    """Imports that are data objects, not functions: symbol -> who uses it. An import is data if
    the C library defines it as an object or the app's debug information declares it as a
    variable (read from the linked ELF, whose DWARF is relocated; only for symbols the app does
    more with than call)."""
    wanted = set(imports)
    found: dict[str, str] = {}
    for name in wanted:
        member = library.member(name) if library.defines(name) else None
        if member and name in member.data_objects:
            found[name] = library_plan.needed_by.get(name, "the app")
    referenced = {facts.files[path].symbol(index).name
                  for path, _section, kind, index, _addend in facts.relocations if kind not in _CALLS}
    suspects = (referenced & wanted) - set(found)
    if suspects:
        found.update({name: library_plan.needed_by[name] for name in _declared_variables(elf_path, suspects)})
    return found


def _declared_variables(path: str, names: set[str]) -> set[str]:
    """Which of `names` the ELF's DWARF declares as variables (extern data the app uses)."""
    info = dwarf.read(path)
    if info is None:
        return set()
    with dwarf.reading(path):
        return {die.name for die in info.every_die() if die.tag == "DW_TAG_variable" and die.name in names}
