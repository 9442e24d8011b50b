"""C function signatures as written in manifests: parse, normalise and print them.

Covers what the RISC-V ilp32/ilp32f ABIs can pass: integer types of every width, bool, float,
double, long double (128-bit, passed by reference), pointers, struct/union/enum types by value,
typedef names from headers the manifest lists, and function pointers (callbacks). Every qualifier
(const, volatile, restrict) is kept where it was written, so the printed prototype declares the
same type as the manifest's. Variadic functions are refused, and so are names the generated C
can't use (keywords, reserved names, names of the standard headers the wrappers include).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"\s*(?:([A-Za-z_]\w*)|(\.\.\.)|([*(),;\[\]]))")

STDINT_TYPES = {
    "int8_t", "uint8_t", "int16_t", "uint16_t", "int32_t", "uint32_t", "int64_t", "uint64_t",
    "intptr_t", "uintptr_t", "size_t", "ptrdiff_t", "bool",
}
QUALIFIERS = ("const", "volatile", "restrict")  # the order they are printed in
_BASE_WORDS = {"void", "char", "short", "int", "long", "signed", "unsigned", "float", "double", "_Bool"}
_TAGS = {"struct", "union", "enum"}

# Names a declarator can't have: the generated header is C (C23 keywords included: newer compilers
# default to C23) and may be included from C++ (it has extern "C" guards).
C_KEYWORDS = frozenset("""
    auto break case char const continue default do double else enum extern float for goto if inline
    int long register restrict return short signed sizeof static struct switch typedef union unsigned
    void volatile while asm _Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn
    _Static_assert _Thread_local alignas alignof bool constexpr false nullptr static_assert
    thread_local true typeof typeof_unqual _BitInt _Decimal32 _Decimal64 _Decimal128
""".split())
CPP_KEYWORDS = frozenset("""
    and and_eq bitand bitor catch char8_t char16_t char32_t class co_await co_return co_yield compl
    concept const_cast consteval constinit decltype delete dynamic_cast explicit export friend mutable
    namespace new noexcept not not_eq operator or or_eq private protected public reinterpret_cast
    requires static_cast template this throw try typeid typename using virtual wchar_t xor xor_eq
""".split())
# The loader's API and the generated wrappers' own names all start with these.
RESERVED_PREFIXES = ("dynapps_", "DYNAPPS_")
# Types and macros of <stdbool.h>, <stddef.h> and <stdint.h>, which every generated header includes.
_STANDARD_TYPE = re.compile(r"u?int(_least|_fast)?(8|16|32|64)_t|u?int(max|ptr)_t|size_t|ptrdiff_t|"
                            r"wchar_t|max_align_t|nullptr_t")
_STANDARD_MACRO = re.compile(r"NULL|offsetof|unreachable|U?INT(_LEAST|_FAST)?(8|16|32|64)_(MIN|MAX)|"
                             r"U?INT(8|16|32|64|MAX)_C|U?INT(MAX|PTR)_(MIN|MAX)|SIZE_MAX|PTRDIFF_(MIN|MAX)|"
                             r"SIG_ATOMIC_(MIN|MAX)|WCHAR_(MIN|MAX)|WINT_(MIN|MAX)")


class SignatureError(ValueError):
    """A signature that is not a C function prototype we support; the text says why."""


def ordered_qualifiers(words) -> tuple[str, ...]:
    """Qualifiers in the order they are printed (a repeated one counts once, as in C)."""
    return tuple(q for q in QUALIFIERS if q in words)


@dataclass(frozen=True)
class CType:
    kind: str  # base | named | struct | union | enum | pointer | function
    name: str = ""  # base: canonical spelling; named: typedef name; struct/union/enum: tag
    qualifiers: tuple[str, ...] = ()  # of this type itself (of the pointer, for a pointer)
    target: "CType | None" = None  # pointer: what it points to; function: return type
    params: tuple = field(default=())  # function: tuple of Param

    @property
    def const(self) -> bool:
        return "const" in self.qualifiers

    def declare(self, declarator: str = "") -> str:
        """C text declaring `declarator` with this type (e.g. 'const int16_t *restrict samples')."""
        qualified = "".join(f"{q} " for q in self.qualifiers)
        if self.kind == "pointer":
            inner = f"*{qualified}{declarator}".rstrip()
            if self.target.kind == "function":
                return self.target.declare(f"({inner})")
            return self.target.declare(inner)
        if self.kind == "function":
            params = ", ".join(p.declare() for p in self.params) or "void"
            return self.target.declare(f"{declarator}({params})")
        spelled = self.name if self.kind in ("base", "named") else f"{self.kind} {self.name}"
        return f"{qualified}{spelled} {declarator}".rstrip()

    def __str__(self) -> str:
        return self.declare()


@dataclass(frozen=True)
class Param:
    name: str
    type: CType

    def declare(self) -> str:
        return self.type.declare(self.name)


@dataclass(frozen=True)
class Signature:
    name: str
    returns: CType
    params: tuple

    def declare(self, name: str | None = None) -> str:
        return CType("function", target=self.returns, params=self.params).declare(name or self.name)

    def __str__(self) -> str:
        return self.declare()


def check_name(what: str, name: str, type_names: set[str] = frozenset()) -> None:
    """Refuse a function or parameter name the generated C could not declare or would misread."""
    if name in C_KEYWORDS:
        raise SignatureError(f"{what} name '{name}' is a C keyword")
    if name in CPP_KEYWORDS:
        raise SignatureError(f"{what} name '{name}' is a C++ keyword (the generated header is also C++)")
    prefix = next((p for p in RESERVED_PREFIXES if name.startswith(p)), None)
    if prefix:
        raise SignatureError(f"{what} name '{name}': names starting with {prefix} are reserved for the "
                             "loader and the generated wrappers")
    if re.match(r"__|_[A-Z]", name):
        raise SignatureError(f"{what} name '{name}' is reserved for the C implementation")
    if name in type_names or _STANDARD_TYPE.fullmatch(name):
        raise SignatureError(f"{what} name '{name}' is a type name")
    if _STANDARD_MACRO.fullmatch(name):
        raise SignatureError(f"{what} name '{name}' is a macro of the standard headers the wrappers include")


def _canonical_base(words: list[str]) -> str:
    signed = "signed" in words
    unsigned = "unsigned" in words
    rest = [w for w in words if w not in ("signed", "unsigned")]
    if signed and unsigned:
        raise SignatureError("both 'signed' and 'unsigned'")
    if rest in ([], ["int"]):
        rest = ["int"]
    elif rest in (["short"], ["short", "int"]):
        rest = ["short"]
    elif rest in (["long"], ["long", "int"]):
        rest = ["long"]
    elif rest in (["long", "long"], ["long", "long", "int"]):
        rest = ["long long"]
    elif rest == ["long", "double"]:
        rest = ["long double"]
    elif rest == ["_Bool"]:
        return "bool"
    elif len(rest) != 1 or rest[0] not in ("char", "void", "float", "double"):
        raise SignatureError(f"'{' '.join(words)}' is not a C type")
    if rest[0] in ("void", "float", "double", "long double") and (signed or unsigned):
        raise SignatureError(f"'{' '.join(words)}' is not a C type")
    base = rest[0]
    if unsigned:
        return f"unsigned {base}"
    if signed and base == "char":
        return "signed char"
    return base


class _Parser:
    def __init__(self, text: str, known_types: set[str]):
        self.tokens = self._tokenize(text)
        self.position = 0
        self.known_types = STDINT_TYPES | known_types

    @staticmethod
    def _tokenize(text: str) -> list[str]:
        tokens, position = [], 0
        text = text.rstrip().rstrip(";")
        while position < len(text):
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                if text[position:].strip() == "":
                    break
                raise SignatureError(f"unexpected '{text[position:].strip()[:12]}'")
            tokens.append(match.group(match.lastindex))
            position = match.end()
        return tokens

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            found = f"'{token}'" if token else "the end"
            raise SignatureError(f"expected '{expected}' but found {found}" if expected else "unexpected end")
        self.position += 1
        return token

    def specifiers(self) -> CType:
        qualifiers: list[str] = []
        words: list[str] = []
        named: CType | None = None
        while True:
            token = self.peek()
            if token in QUALIFIERS:
                qualifiers.append(self.take())
            elif token in _BASE_WORDS and named is None:
                words.append(self.take())
            elif token in _TAGS and not words and named is None:
                self.take()
                tag = self.take()
                if not re.fullmatch(r"[A-Za-z_]\w*", tag):
                    raise SignatureError(f"expected a tag name after '{token}'")
                named = CType(token, tag)
            elif token in self.known_types and not words and named is None:
                named = CType("named", self.take())
            else:
                break
        if named is None and not words:
            token = self.peek()
            if token and re.fullmatch(r"[A-Za-z_]\w*", token):
                raise SignatureError(f"unknown type '{token}' (list the header that declares it under 'headers')")
            raise SignatureError("expected a type")
        if "restrict" in qualifiers and (named is None or named.kind != "named"):
            # A typedef may name a pointer type; a base, struct, union or enum type never is one.
            raise SignatureError("'restrict' qualifies pointers only: write it after the '*' "
                                 "(e.g. 'int *restrict p')")
        if named is not None:
            return CType(named.kind, named.name, ordered_qualifiers(qualifiers))
        return CType("base", _canonical_base(words), ordered_qualifiers(qualifiers))

    def pointer_qualifiers(self) -> tuple[str, ...]:
        qualifiers = []
        while self.peek() in QUALIFIERS:
            qualifiers.append(self.take())
        return ordered_qualifiers(qualifiers)

    def pointers(self, current: CType) -> CType:
        """Any number of '*', each with its own qualifiers."""
        while self.peek() == "*":
            self.take()
            current = CType("pointer", qualifiers=self.pointer_qualifiers(), target=current)
        return current

    def declarator(self, base: CType, allow_abstract: bool) -> tuple[str, CType]:
        """Pointers, a name, or a function-pointer declarator '(*name)(params)'."""
        current = self.pointers(base)
        if self.peek() == "(":
            self.take()
            self.take("*")
            qualifiers = self.pointer_qualifiers()
            name = self.identifier(allow_abstract)
            self.take(")")
            params = self.parameters()
            function = CType("function", target=current, params=params)
            return name, CType("pointer", qualifiers=qualifiers, target=function)
        name = self.identifier(allow_abstract)
        if self.peek() == "[":
            raise SignatureError(f"array parameter '{name}': pass arrays as pointers")
        return name, current

    def identifier(self, allow_abstract: bool, what: str = "parameter") -> str:
        token = self.peek()
        if token and re.fullmatch(r"[A-Za-z_]\w*", token) and token not in _BASE_WORDS | set(QUALIFIERS) | _TAGS:
            check_name(what, token, self.known_types)
            return self.take()
        if allow_abstract:
            return ""
        raise SignatureError(f"expected a {what} name")

    def parameters(self) -> tuple:
        self.take("(")
        params: list[Param] = []
        if self.peek() == "void" and self.position + 1 < len(self.tokens) and self.tokens[self.position + 1] == ")":
            self.take()
            self.take(")")
            return ()
        if self.peek() == ")":
            raise SignatureError("write '(void)' for a function without parameters")
        while True:
            if self.peek() == "...":
                raise SignatureError("variadic functions ('...') can't be exported")
            base = self.specifiers()
            name, ctype = self.declarator(base, allow_abstract=True)
            if ctype.kind == "base" and ctype.name == "void":
                raise SignatureError("a parameter can't have type void")
            params.append(Param(name, ctype))
            if self.peek() == ",":
                self.take()
                continue
            self.take(")")
            return _name_unnamed(params)


def _name_unnamed(params: list[Param]) -> tuple:
    """The wrappers need a name for every parameter: argN, N its position, unless a written name
    already is argN (then argN_, argN__, ...)."""
    written = {p.name for p in params if p.name}
    named = []
    for index, param in enumerate(params):
        name = param.name or f"arg{index}"
        while not param.name and name in written:
            name += "_"
        named.append(Param(name, param.type))
    return tuple(named)


def parse(text: str, known_types: set[str] = frozenset()) -> Signature:
    """Parse one prototype such as 'int32_t fir(const int16_t *x, uint32_t n)'."""
    if not isinstance(text, str) or not text.strip():
        raise SignatureError("expected a C prototype")
    parser = _Parser(text, set(known_types))
    returns = parser.pointers(parser.specifiers())
    if returns.qualifiers:  # C drops them from the returned value, and -Wextra warns about them
        raise SignatureError(f"'{returns.qualifiers[0]}' on the returned value has no effect: drop it")
    name = parser.identifier(allow_abstract=False, what="function")
    params = parser.parameters()
    if parser.peek() is not None:
        raise SignatureError(f"unexpected '{parser.peek()}' after the parameter list")
    names = [p.name for p in params]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SignatureError(f"parameter name '{sorted(duplicates)[0]}' used twice")
    return Signature(name, returns, params)
