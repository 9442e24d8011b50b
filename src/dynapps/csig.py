"""C function signatures as written in manifests: parse, normalise and print them.

Covers what the RISC-V ilp32/ilp32f ABIs can pass: integer types of every width, bool, float,
double, pointers (with const), struct/union/enum types by value, typedef names from headers the
manifest lists, and function pointers (callbacks). Variadic functions are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"\s*(?:([A-Za-z_]\w*)|(\.\.\.)|([*(),;\[\]]))")

STDINT_TYPES = {
    "int8_t", "uint8_t", "int16_t", "uint16_t", "int32_t", "uint32_t", "int64_t", "uint64_t",
    "intptr_t", "uintptr_t", "size_t", "ptrdiff_t", "bool",
}
_QUALIFIERS = {"const", "volatile"}
_BASE_WORDS = {"void", "char", "short", "int", "long", "signed", "unsigned", "float", "double", "_Bool"}
_TAGS = {"struct", "union", "enum"}


class SignatureError(ValueError):
    """A signature that is not a C function prototype we support; the text says why."""


@dataclass(frozen=True)
class CType:
    kind: str  # base | named | struct | union | enum | pointer | function
    name: str = ""  # base: canonical spelling; named: typedef name; struct/union/enum: tag
    const: bool = False
    target: "CType | None" = None  # pointer: what it points to; function: return type
    params: tuple = field(default=())  # function: tuple of Param

    def declare(self, declarator: str = "") -> str:
        """C text declaring `declarator` with this type (e.g. 'const int16_t *samples')."""
        if self.kind == "pointer":
            inner = f"*{'const ' if self.const else ''}{declarator}".rstrip()
            if self.target.kind == "function":
                return self.target.declare(f"({inner})")
            return self.target.declare(inner)
        if self.kind == "function":
            params = ", ".join(p.declare() for p in self.params) or "void"
            return self.target.declare(f"{declarator}({params})")
        prefix = "const " if self.const else ""
        spelled = self.name if self.kind in ("base", "named") else f"{self.kind} {self.name}"
        return f"{prefix}{spelled} {declarator}".rstrip()

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
    elif rest == ["_Bool"]:
        return "bool"
    elif len(rest) != 1 or rest[0] not in ("char", "void", "float", "double"):
        raise SignatureError(f"'{' '.join(words)}' is not a C type")
    if rest[0] in ("void", "float", "double") and (signed or unsigned):
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
        const = False
        words: list[str] = []
        named: CType | None = None
        while True:
            token = self.peek()
            if token in _QUALIFIERS:
                self.take()
                const = const or token == "const"
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
        if named is not None:
            return CType(named.kind, named.name, const)
        if not words:
            token = self.peek()
            if token and re.fullmatch(r"[A-Za-z_]\w*", token):
                raise SignatureError(f"unknown type '{token}' (list the header that declares it under 'headers')")
            raise SignatureError("expected a type")
        return CType("base", _canonical_base(words), const)

    def pointers(self, current: CType) -> CType:
        """Any number of '*', each with its own qualifiers."""
        while self.peek() == "*":
            self.take()
            const = False
            while self.peek() in _QUALIFIERS:
                const = const or self.take() == "const"
            current = CType("pointer", const=const, target=current)
        return current

    def declarator(self, base: CType, allow_abstract: bool) -> tuple[str, CType]:
        """Pointers, a name, or a function-pointer declarator '(*name)(params)'."""
        current = self.pointers(base)
        if self.peek() == "(":
            self.take()
            self.take("*")
            pointer_const = False
            while self.peek() in _QUALIFIERS:
                pointer_const = pointer_const or self.take() == "const"
            name = self.identifier(allow_abstract)
            self.take(")")
            params = self.parameters()
            function = CType("function", target=current, params=params)
            return name, CType("pointer", const=pointer_const, target=function)
        name = self.identifier(allow_abstract)
        if self.peek() == "[":
            raise SignatureError(f"array parameter '{name}': pass arrays as pointers")
        return name, current

    def identifier(self, allow_abstract: bool) -> str:
        token = self.peek()
        if token and re.fullmatch(r"[A-Za-z_]\w*", token) and token not in _BASE_WORDS | _QUALIFIERS | _TAGS:
            return self.take()
        if allow_abstract:
            return ""
        raise SignatureError("expected a function name")

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
            params.append(Param(name or f"arg{len(params)}", ctype))
            if self.peek() == ",":
                self.take()
                continue
            self.take(")")
            return tuple(params)


def parse(text: str, known_types: set[str] = frozenset()) -> Signature:
    """Parse one prototype such as 'int32_t fir(const int16_t *x, uint32_t n)'."""
    if not isinstance(text, str) or not text.strip():
        raise SignatureError("expected a C prototype")
    parser = _Parser(text, set(known_types))
    returns = parser.pointers(parser.specifiers())
    name = parser.identifier(allow_abstract=False)
    params = parser.parameters()
    if parser.peek() is not None:
        raise SignatureError(f"unexpected '{parser.peek()}' after the parameter list")
    names = [p.name for p in params]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SignatureError(f"parameter name '{sorted(duplicates)[0]}' used twice")
    return Signature(name, returns, params)
