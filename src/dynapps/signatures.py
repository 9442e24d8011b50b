"""Check each manifest signature against the compiled code, read from the app's DWARF.

Types are compared by what the ilp32/ilp32f calling convention sees — integer width and
signedness, float width, pointer (and the qualifiers and type of what it points to), struct /
union / enum tag, function-pointer shape — so `int32_t` in a manifest matches `long` in code
where the C library defines it so, but `int16_t *` never matches `uint16_t *`, `const int16_t *`
or `volatile int16_t *`. A parameter's own qualifiers (`int *restrict p`, `const int x`) are not
part of the function's type in C, so they are not compared.

A shape is (kind, detail, detail, qualifiers), qualifiers in csig.QUALIFIERS order.
"""

from __future__ import annotations

from . import csig, dwarf
from .errors import DynappsError

# ilp32 sizes of the C base types and stdint names: (kind, size, signed).
_BASE = {
    "char": ("char", 1, None), "signed char": ("int", 1, True), "unsigned char": ("int", 1, False),
    "short": ("int", 2, True), "unsigned short": ("int", 2, False),
    "int": ("int", 4, True), "unsigned int": ("int", 4, False),
    "long": ("int", 4, True), "unsigned long": ("int", 4, False),
    "long long": ("int", 8, True), "unsigned long long": ("int", 8, False),
    "float": ("float", 4, None), "double": ("float", 8, None), "long double": ("float", 16, None), "bool": ("bool", 1, None), "void": ("void", 0, None),
}
_STDINT = {
    "int8_t": ("int", 1, True), "uint8_t": ("int", 1, False), "int16_t": ("int", 2, True),
    "uint16_t": ("int", 2, False), "int32_t": ("int", 4, True), "uint32_t": ("int", 4, False),
    "int64_t": ("int", 8, True), "uint64_t": ("int", 8, False), "intptr_t": ("int", 4, True),
    "uintptr_t": ("int", 4, False), "size_t": ("int", 4, False), "ptrdiff_t": ("int", 4, True),
    "bool": ("bool", 1, None),
}
_QUALIFIER_TAGS = {"DW_TAG_const_type": "const", "DW_TAG_volatile_type": "volatile",
                   "DW_TAG_restrict_type": "restrict"}
_DWARF_BASE_NAMES = {
    "short int": "short", "short unsigned int": "unsigned short", "long int": "long",
    "long unsigned int": "unsigned long", "long long int": "long long",
    "long long unsigned int": "unsigned long long", "_Bool": "bool",
}


def _is_mangled(die: dwarf.Die) -> bool:
    """A C++ function that is not extern "C" (a namespace's run(), an overload): its symbol is
    its linkage name, so it is not the export of that name."""
    return "DW_AT_linkage_name" in die.attributes or "DW_AT_MIPS_linkage_name" in die.attributes


def _file_scope(die: dwarf.Die):
    """The DIEs declared at file scope (and in C++ namespaces), where an exported function and a
    manifest's typedef are: not the functions' own parameters, locals and blocks, which are most
    of the DIEs and which the reader skips through DW_AT_sibling without decoding."""
    for child in die.children():
        yield child
        if child.tag == "DW_TAG_namespace":
            yield from _file_scope(child)


class _Dwarf:
    """The DIEs of one ELF: subprograms by name, typedefs by name, and type resolution."""

    def __init__(self, info: dwarf.DebugInfo):
        self.functions, self.typedefs = {}, {}
        for unit in info.units:
            for die in _file_scope(unit.top()):
                name, attributes = die.name, die.attributes
                if die.tag == "DW_TAG_subprogram" and name and attributes.get("DW_AT_external") and \
                        not attributes.get("DW_AT_declaration") and not _is_mangled(die):
                    self.functions[name] = die
                elif die.tag == "DW_TAG_typedef" and name:
                    self.typedefs.setdefault(name, die)

    def shape(self, die: dwarf.Die | None) -> tuple:
        """ABI shape of the type a DIE's DW_AT_type names (void when absent)."""
        named = die.type() if die is not None else None
        return ("void", 0, None, ()) if named is None else self._type(named)

    def _type(self, die: dwarf.Die) -> tuple:
        qualifiers = []
        while die.tag == "DW_TAG_typedef" or die.tag in _QUALIFIER_TAGS:
            qualifiers.append(_QUALIFIER_TAGS.get(die.tag))
            die = die.type()
            if die is None:
                return ("void", 0, None, csig.ordered_qualifiers(qualifiers))
        qualifiers = csig.ordered_qualifiers(qualifiers)
        if die.tag == "DW_TAG_base_type":
            name = die.name
            return _BASE.get(_DWARF_BASE_NAMES.get(name, name), ("base:" + name, 0, None)) + (qualifiers,)
        if die.tag == "DW_TAG_pointer_type":
            return ("pointer", self.shape(die), None, qualifiers)
        if die.tag in ("DW_TAG_structure_type", "DW_TAG_union_type", "DW_TAG_enumeration_type"):
            kind = {"DW_TAG_structure_type": "struct", "DW_TAG_union_type": "union"}.get(die.tag, "enum")
            return (kind, die.name or "(anonymous)", None, qualifiers)
        if die.tag == "DW_TAG_subroutine_type":
            params = tuple(_unqualified(self.shape(child)) for child in die.children()
                           if child.tag == "DW_TAG_formal_parameter")
            return ("function", self.shape(die), params, qualifiers)
        return ("unknown:" + die.tag, 0, None, qualifiers)

    def parameters(self, function) -> list:
        return [child for child in function.children() if child.tag == "DW_TAG_formal_parameter"]


def manifest_shape(ctype: csig.CType, dwarf: _Dwarf) -> tuple:
    """The same ABI shape for a manifest type (typedef names resolved through the app's DWARF)."""
    qualifiers = ctype.qualifiers
    if ctype.kind == "base":
        return _BASE[ctype.name] + (qualifiers,)
    if ctype.kind == "named":
        if ctype.name in dwarf.typedefs:
            kind, a, b, inner = dwarf._type(dwarf.typedefs[ctype.name])
            return (kind, a, b, csig.ordered_qualifiers(inner + qualifiers))
        if ctype.name in _STDINT:
            return _STDINT[ctype.name] + (qualifiers,)
        return ("typedef:" + ctype.name, 0, None, qualifiers)
    if ctype.kind in ("struct", "union", "enum"):
        return (ctype.kind, ctype.name, None, qualifiers)
    if ctype.kind == "pointer":
        return ("pointer", manifest_shape(ctype.target, dwarf), None, qualifiers)
    if ctype.kind == "function":
        return ("function", manifest_shape(ctype.target, dwarf),
                tuple(_unqualified(manifest_shape(p.type, dwarf)) for p in ctype.params), ())
    raise AssertionError(ctype.kind)


def _unqualified(shape: tuple) -> tuple:
    """The shape without its own top-level qualifiers (what a parameter's type means to a call)."""
    return shape[:3] + ((),)


def _same(manifest: tuple, code: tuple) -> bool:
    """Equal shapes; a parameter's own top-level qualifiers do not change the call."""
    return _unqualified(manifest) == _unqualified(code)


def describe(shape: tuple) -> str:
    kind, a, b, qualifiers = shape
    prefix = "".join(f"{q} " for q in qualifiers)
    if kind == "int":
        return f"{prefix}{'' if b else 'u'}int{a * 8}_t"
    if kind in ("float", "bool", "void", "char"):
        return prefix + {"float": {4: "float", 8: "double"}.get(a, "long double")}.get(kind, kind)
    if kind == "pointer":
        if a[0] == "function":
            return describe(a)  # already spelled as a pointer: void (*)(...)
        return f"{describe(a)} *" + "".join(f" {q}" for q in qualifiers)
    if kind in ("struct", "union", "enum"):
        return f"{prefix}{kind} {a}"
    if kind == "function":
        return f"{describe(a)} (*)({', '.join(describe(p) for p in b) or 'void'})"
    return kind


# What the loader calls init and deinit as (docs/manifest.md): the ABI shape each must return.
LIFECYCLE = {"init": ("int {}(void)", ("int", 4, True, ())), "deinit": ("void {}(void)", ("void", 0, None, ()))}


def check(elf_path: str, app: str, manifest_path: str, exports: list, lifecycle: list = ()) -> None:
    """`exports`: the manifest's Export objects; `lifecycle`: (key, function name, manifest line)
    of init and deinit. Raises DynappsError at the first difference."""
    info = dwarf.read(elf_path)
    if info is None:
        raise DynappsError(f"app {app}: no debug information to check signatures against (keep -g)")
    with dwarf.reading(elf_path):
        declared = _Dwarf(info)
        for export in exports:
            _check_export(declared, app, manifest_path, export)
        for key, name, line in lifecycle:
            _check_lifecycle(declared, app, manifest_path, key, name, line)


def _fail(app: str, label: str, manifest_path: str, line: int):
    def fail(message: str) -> DynappsError:
        return DynappsError(f"app {app}: {label}: {message}", manifest_path, line)
    return fail


def _definition(dwarf: _Dwarf, name: str, fail):
    """The function's DWARF definition: external, with a fixed parameter list."""
    function = dwarf.functions.get(name)
    if function is None:
        raise fail("the code defines no such external function")
    if any(child.tag == "DW_TAG_unspecified_parameters" for child in function.children()):
        raise fail("the code defines it variadic (...), which a typed call can't pass: give it a fixed "
                   "parameter list")
    return function


def _check_lifecycle(dwarf: _Dwarf, app: str, manifest_path: str, key: str, name: str, line: int) -> None:
    prototype, returns = LIFECYCLE[key]
    fail = _fail(app, f"{key} {name}", manifest_path, line)
    function = _definition(dwarf, name, fail)
    params, have = dwarf.parameters(function), dwarf.shape(function)
    if params or not _same(returns, have):
        raise fail(f"the loader calls it as {prototype.format(name)}, but the code defines it returning "
                   f"{describe(have)} with {len(params)} parameter(s)")


def _check_export(dwarf: _Dwarf, app: str, manifest_path: str, export) -> None:
    signature = export.signature
    fail = _fail(app, signature.name, manifest_path, export.line)
    function = _definition(dwarf, signature.name, fail)
    params = dwarf.parameters(function)
    if len(params) != len(signature.params):
        raise fail(f"the manifest declares {len(signature.params)} parameter(s), the code has {len(params)}")
    want, have = manifest_shape(signature.returns, dwarf), dwarf.shape(function)
    if not _same(want, have):
        raise fail(f"returns {describe(_unqualified(want))} in the manifest but {describe(_unqualified(have))} "
                   "in the code")
    for index, (param, die) in enumerate(zip(signature.params, params), start=1):
        want, have = manifest_shape(param.type, dwarf), dwarf.shape(die)
        if not _same(want, have):
            raise fail(f"parameter {index} '{param.name}' is {describe(_unqualified(want))} in the manifest "
                       f"but {describe(_unqualified(have))} in the code")
