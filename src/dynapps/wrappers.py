"""What the firmware compiles to call apps: per-app typed wrappers and the firmware export table.

The contexts are plain data (JSON-able) so the SCons builders can track them as Value()s.
"""

from __future__ import annotations

from .errors import DynappsError
from .firmware import ExportTable
from .manifest import Manifest

WRAPPER_SUFFIXES = ("load", "unload", "status", "handle")
# Names of the generated wrappers' own (templates/app_wrappers.*.j2). Like all of the templates'
# names they start with dynapps_, which csig refuses in manifest names: no parameter can clash.
RESULT = "dynapps_gen_result"


def app_context(manifest: Manifest) -> dict:
    exports = []
    for export in manifest.exports:
        signature = export.signature
        param_types = ", ".join(str(p.type) for p in signature.params) or "void"
        returns_void = signature.returns.kind == "base" and signature.returns.name == "void"
        exports.append({
            "name": signature.name,
            "prototype": signature.declare(),
            "slow_name": f"dynapps_gen_call_{signature.name}",
            "slow_prototype": signature.declare(f"dynapps_gen_call_{signature.name}"),
            "run_name": f"dynapps_gen_run_{signature.name}",
            "run_prototype": signature.declare(f"dynapps_gen_run_{signature.name}"),
            "function_type": signature.returns.declare(f"(*)({param_types})"),
            "returns_void": returns_void,
            "return_type": signature.returns.declare(),
            "result": None if returns_void else signature.returns.declare(RESULT),
            "result_name": RESULT,
            "arguments": ", ".join(p.name for p in signature.params),
        })
    return {
        "name": manifest.name,
        "wrapper": f"dynapps_gen_app_{manifest.name}",
        "wrapper_type": f"dynapps_gen_app_{manifest.name}_t",
        "path": manifest.path,
        "version": manifest.version,
        "description": manifest.description,
        "headers": [header.rsplit("/", 1)[-1] for header in manifest.headers],
        "exports": exports,
    }


def check_names(manifests: list[Manifest]) -> None:
    """Wrappers live in one firmware namespace: no export may clash with another app's or a helper."""
    owners: dict[str, Manifest] = {}
    header_owners: dict[str, Manifest] = {}
    for manifest in manifests:
        for header in manifest.headers:
            name = header.rsplit("/", 1)[-1]
            if name in header_owners:
                raise DynappsError(f"headers: '{name}' is also a header of app {header_owners[name].name}; the "
                                   "generated wrappers include headers by name, so give it a distinct name",
                                   manifest.path)
            header_owners[name] = manifest
        helpers = {f"{manifest.name}_{suffix}" for suffix in WRAPPER_SUFFIXES}
        for export in manifest.exports:
            if export.name in helpers:
                raise DynappsError(f"exports: '{export.name}' clashes with the generated wrapper of the same name",
                                   manifest.path, export.line)
            _check_parameter_names(manifest, export, helpers | {e.name for e in manifest.exports})
            if export.name in owners:
                raise DynappsError(f"exports: '{export.name}' is also exported by app {owners[export.name].name} "
                                   f"({owners[export.name].path}); the firmware's wrappers need distinct names",
                                   manifest.path, export.line)
            owners[export.name] = manifest


def _check_parameter_names(manifest: Manifest, export, functions: set[str]) -> None:
    """The wrappers of one app are defined in one file: a parameter named like one of its functions
    would shadow it there (an error under -Wshadow for a callback parameter)."""
    for param in export.signature.params:
        if param.name in functions:
            raise DynappsError(f"exports: {export.name}: parameter '{param.name}' has the name of a function of "
                               f"the generated wrappers of app {manifest.name}; rename the parameter",
                               manifest.path, export.line)


def exports_context(table: ExportTable, signing_key: bytes | None = None) -> dict:
    """The export table's template variables; `signing_key`: the public key (65 bytes) images
    are checked with, None when the project signs nothing."""
    return {"source": table.path, "headers": list(table.headers), "symbols": list(table.symbols), "id": table.id,
            "prefix_ids": list(table.prefix_ids), "signing_key": list(signing_key) if signing_key else None}
