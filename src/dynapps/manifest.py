"""apps/<name>/app.yaml: load and validate one app's manifest (docs/manifest.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from . import csig, project, yamlfile
from .errors import DynappsError
from .schema import Section
from .toolchain import CXX_SUFFIXES

SOURCE_SUFFIXES = (".c", *CXX_SUFFIXES, ".S")
DEFAULT_SOURCE_SUFFIXES = (".c", *CXX_SUFFIXES)  # every one of these in the folder, unless `sources` lists them
# Flags a C++ app can't have: an image carries no unwind tables, personality routine or type_info
# (docs/manifest.md, "C++ sources").
_CXX_REFUSED_FLAGS = {
    "-fexceptions": "C++ exceptions need an unwinder and __gxx_personality_v0, which an image can't carry",
    "-frtti": "RTTI (typeid, dynamic_cast) needs the C++ library's type_info classes, which an image can't carry",
}

STRATEGIES = ("auto", "iram", "xip", "psram")
# Strategies whose image is a relocatable blob, copied into RAM at load and fixed up there:
# internal executable RAM (iram) or PSRAM through the cache (psram). The same image layout and
# fix-ups serve both; only where the loader allocates differs.
COPIED_STRATEGIES = project.AUTO_COPY_PLACES  # ("iram", "psram"): what apps.auto_copy may name
NAME_PATTERN = r"[a-z][a-z0-9_]{0,14}"  # a partition label holds 15 characters
_KEYS = {"name", "version", "description", "sources", "headers", "strategy", "exports", "init",
         "deinit", "limits", "cflags", "defines"}


@dataclass(frozen=True)
class Export:
    signature: csig.Signature
    line: int

    @property
    def name(self) -> str:
        return self.signature.name


@dataclass(frozen=True)
class Manifest:
    name: str
    path: str  # manifest path relative to the project root, for messages
    directory: str  # app folder relative to the project root
    version: str
    description: str
    sources: tuple[str, ...]  # relative to the project root
    headers: tuple[str, ...]  # relative to the project root
    strategy: str
    exports: tuple[Export, ...]
    init: str | None
    deinit: str | None
    flash_limit: int | None
    ram_limit: int | None
    cflags: tuple[str, ...]
    defines: tuple[str, ...]
    name_line: int
    strategy_line: int = 1  # manifest line of `strategy`, for the checks against the chip
    init_line: int = 1  # manifest lines of init and deinit, for the checks against the code
    deinit_line: int = 1

    @property
    def is_cxx(self) -> bool:
        """Some of its sources are C++: it is compiled with g++'s flags and linked with the
        C++ runtime support (docs/manifest.md, "C++ sources")."""
        return has_cxx(self.sources)


def has_cxx(sources) -> bool:
    return any(source.endswith(CXX_SUFFIXES) for source in sources)


def load(root: Path, app_dir: Path) -> Manifest:
    relative_dir = app_dir.relative_to(root).as_posix()
    path = f"{relative_dir}/app.yaml"
    top = Section(yamlfile.load(app_dir / "app.yaml", path), path)
    top.check_keys(_KEYS)
    name = top.string("name", default=app_dir.name, pattern=NAME_PATTERN,
                      expected="an app name: a lower-case letter, then up to 14 of a-z 0-9 _")
    if not re.fullmatch(NAME_PATTERN, name):
        raise DynappsError(f"the folder name '{app_dir.name}' is not a valid app name "
                           "(a lower-case letter, then up to 14 of a-z 0-9 _); set 'name'", path, 1)
    headers = _files(root, app_dir, top, "headers", default=[])
    known_types = _declared_types(root, headers)
    exports = _exports(top, known_types)
    _check_tags_visible(root, top, headers, exports, relative_dir)
    limits = top.section("limits")
    limits.check_keys({"flash", "ram"})
    init, deinit = _lifecycle(top, "init", exports), _lifecycle(top, "deinit", exports)
    if init and init == deinit:
        raise top.error("deinit", f"'{deinit}' is also the init function: the loader would call it as "
                                  "int f(void) after loading and as void f(void) before unloading")
    sources = _files(root, app_dir, top, "sources", suffixes=SOURCE_SUFFIXES,
                     default=sorted(p.name for p in app_dir.iterdir() if p.suffix in DEFAULT_SOURCE_SUFFIXES))
    cflags = top.strings("cflags", default=[])
    if has_cxx(sources):
        _check_cxx_flags(cflags, path)
    return Manifest(
        name=name,
        path=path,
        directory=relative_dir,
        version=top.string("version", default="0.0.0", pattern=r"\d+\.\d+\.\d+",
                           expected="a version such as 1.2.0"),
        description=top.string("description", default=""),
        sources=sources,
        headers=headers,
        strategy=top.choice("strategy", STRATEGIES, default="auto"),
        exports=exports,
        init=init,
        deinit=deinit,
        flash_limit=limits.size("flash", minimum=0x1000, multiple=0x1000),
        ram_limit=limits.size("ram", minimum=16, multiple=16),
        cflags=tuple(f for f, _ in cflags),
        defines=tuple(d for d, _ in top.strings("defines", default=[], pattern=r"[A-Za-z_]\w*(=.*)?",
                                                  expected="NAME or NAME=value")),
        name_line=top.mapping.line_of("name") if top.has("name") else 1,
        strategy_line=top.mapping.line_of("strategy") if top.has("strategy") else 1,
        init_line=top.mapping.line_of("init") if init else 1,
        deinit_line=top.mapping.line_of("deinit") if deinit else 1,
    )


def _files(root: Path, app_dir: Path, top: Section, key: str, default, suffixes=None) -> tuple[str, ...]:
    entries = top.strings(key, default=None)
    if entries is None:
        if key == "sources" and not default:
            raise DynappsError("no C or C++ sources: add .c or .cpp files to the app folder or list them "
                               "under 'sources'", top.path, 1)
        entries = [(name, top.mapping.line) for name in default]
    elif key == "sources" and not entries:
        raise top.error(key, f"expected at least one {_either(suffixes)} file")
    result = []
    for name, line in entries:
        if suffixes and not name.endswith(suffixes):
            raise DynappsError(f"{key}: expected a {_either(suffixes)} file, got '{name}'", top.path, line)
        relative = project.relative_path(root, app_dir, name)
        if relative is None:
            raise DynappsError(project.outside_message(key, name, root, app_dir), top.path, line)
        if not (root / relative).is_file():
            raise DynappsError(f"{key}: '{name}' does not exist in {app_dir.relative_to(root).as_posix()}/",
                               top.path, line)
        if key == "sources":
            _check_object_name(result, relative, name, top.path, line)
        result.append(relative)
    return tuple(result)


def _either(suffixes) -> str:
    return ", ".join(suffixes[:-1]) + f" or {suffixes[-1]}"


def _check_cxx_flags(cflags: list[tuple[str, int]], path: str) -> None:
    for flag, line in cflags:
        if flag in _CXX_REFUSED_FLAGS:
            raise DynappsError(f"cflags: {flag}: {_CXX_REFUSED_FLAGS[flag]} (C++ apps are built with "
                               f"-fno-{flag[2:]}; docs/manifest.md, \"C++ sources\")", path, line)


def _check_object_name(earlier: list[str], relative: str, name: str, path: str, line: int) -> None:
    """An app's objects are build/apps/<app>/<source stem>.o: two sources can't share a stem."""
    stem = Path(relative).stem
    clash = next((source for source in earlier if Path(source).stem == stem), None)
    if clash == relative:
        raise DynappsError(f"sources: '{name}' is listed twice", path, line)
    if clash:
        raise DynappsError(f"sources: '{name}' compiles to {stem}.o, as {clash} does; rename one "
                           "(objects are named after their source)", path, line)


_TYPEDEF = re.compile(r"\btypedef\b[^;]*?\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*;", re.S)
_TYPEDEF_FN = re.compile(r"\btypedef\b[^;]*?\(\s*\*\s*([A-Za-z_]\w*)\s*\)")


def _declared_types(root: Path, headers) -> set[str]:
    """Typedef names declared in the manifest's headers (signatures may use them)."""
    names: set[str] = set()
    for header in headers:
        text = (root / header).read_text(encoding="utf-8", errors="replace")
        text = re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)
        while re.search(r"\{[^{}]+\}", text):  # drop struct/union/enum bodies: their ';' end members
            text = re.sub(r"\{[^{}]+\}", "{}", text)
        names.update(_TYPEDEF.findall(text))
        names.update(_TYPEDEF_FN.findall(text))
    return names


def _exports(top: Section, known_types: set[str]) -> tuple[Export, ...]:
    entries = top.strings("exports", required=True, expected="a C prototype such as 'int32_t f(int32_t x)'")
    if not entries:
        raise top.error("exports", "expected at least one exported function")
    exports: list[Export] = []
    for index, (text, line) in enumerate(entries):
        try:
            signature = csig.parse(text, known_types)
        except csig.SignatureError as error:
            raise DynappsError(f"exports[{index}]: bad C signature '{text.strip()}': {error}", top.path, line) from None
        if any(e.name == signature.name for e in exports):
            raise DynappsError(f"exports[{index}]: '{signature.name}' is exported twice", top.path, line)
        exports.append(Export(signature, line))
    return tuple(exports)


def _tags(ctype: csig.CType):
    """struct/union/enum tags a type mentions, at any depth."""
    if ctype.kind in ("struct", "union", "enum"):
        yield ctype.kind, ctype.name
    if ctype.target is not None:
        yield from _tags(ctype.target)
    for param in ctype.params:
        yield from _tags(param.type)


def _check_tags_visible(root: Path, top: Section, headers, exports, app_dir: str) -> None:
    """The firmware's wrappers include the manifest's headers: every tagged type must be there."""
    text = " ".join(re.sub(r"/\*.*?\*/|//[^\n]*", " ", (root / h).read_text(errors="replace"), flags=re.S)
                    for h in headers)
    for export in exports:
        signature = export.signature
        types = [signature.returns] + [p.type for p in signature.params]
        for kind, tag in (t for ctype in types for t in _tags(ctype)):
            if not re.search(rf"\b{kind}\s+{re.escape(tag)}\s*\{{", text):
                raise DynappsError(f"exports: {signature.name} uses {kind} {tag}, which no header under 'headers' "
                                   f"defines: the firmware's wrappers can't see it. Move its definition into a header "
                                   f"(e.g. {app_dir}/{top.path.split('/')[-2]}_types.h) and list it under 'headers'",
                                   top.path, export.line)


def _lifecycle(top: Section, key: str, exports) -> str | None:
    name = top.string(key, pattern=r"[A-Za-z_]\w*", expected="a C function name")
    if name is None:
        return None
    if any(e.name == name for e in exports):
        raise top.error(key, f"'{name}' is also listed under exports; {key} functions are called by the loader")
    return name


def load_all(root: Path) -> list[Manifest]:
    """Every apps/*/app.yaml, sorted by name; duplicate names are an error."""
    manifests: list[Manifest] = []
    for app_dir in sorted(path.parent for path in root.glob("apps/*/app.yaml")):
        manifest = load(root, app_dir)
        clash = next((m for m in manifests if m.name == manifest.name), None)
        if clash:
            raise DynappsError(f"name: duplicate app name '{manifest.name}' (also used by {clash.path})",
                               manifest.path, manifest.name_line)
        manifests.append(manifest)
    _check_folders_without_manifest(root, manifests)
    return sorted(manifests, key=lambda m: m.name)


def _check_folders_without_manifest(root: Path, manifests: list[Manifest]) -> None:
    """A folder under apps/ with C sources but no app.yaml is refused, not skipped: it is usually a
    misnamed manifest (app.yml) or a forgotten one, and an app silently missing from the build
    only shows up on the device. A folder whose sources other apps list is a shared one: fine."""
    listed = {source for m in manifests for source in m.sources}
    folders = sorted(p for p in (root / "apps").glob("*/") if not (p / "app.yaml").exists())
    for folder in folders:
        relative = folder.relative_to(root).as_posix()
        sources = sorted(p.name for p in folder.iterdir() if p.suffix in SOURCE_SUFFIXES and p.is_file())
        if not sources or any(f"{relative}/{name}" in listed for name in sources):
            continue
        misnamed = sorted(p.name for p in folder.iterdir() if re.fullmatch(r"app\.ya?ml.*", p.name, re.I))
        hint = (f"rename {relative}/{misnamed[0]} to app.yaml" if misnamed else
                f"add {relative}/app.yaml (docs/manifest.md) or move the folder out of apps/")
        raise DynappsError(f"C sources ({', '.join(sources)}) but no app.yaml, so it would not be built; {hint}",
                           f"{relative}/")
