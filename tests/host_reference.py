"""The example firmware's calls (firmware/main/demo_calls.c) compiled natively with the apps'
own C sources: the values the emulator run must reproduce."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

HOST_MAIN = r"""
#include <stdio.h>
#include "demo_calls.h"
%(declarations)s
int main(int argc, char **argv)
{
    /* what the loader does after placing an app: run its init */
%(calls)s
    for (int i = 1; i < argc; i++) {
        if (demo_call_app(argv[i]) != 0) return 1;
    }
    return 0;
}
"""

RESULT = re.compile(r"^RESULT (\S+) (\S+) (\S) (.*)$", re.M)


def parse(text: str) -> dict:
    """{(app, call): (kind, value)} from RESULT lines."""
    return {(app, call): (kind, value.strip()) for app, call, kind, value in RESULT.findall(text)}


def _is_nan(kind: str, value: str) -> bool:
    bits = int(value, 16)
    if kind == "f":
        return (bits >> 23) & 0xFF == 0xFF and bits & 0x7FFFFF != 0
    return (bits >> 52) & 0x7FF == 0x7FF and bits & ((1 << 52) - 1) != 0


def differences(actual: dict, expected: dict) -> list:
    """Calls whose results differ. Bits must match exactly, except that a NaN an operation
    produced may carry another payload (RISC-V returns the canonical NaN, x86 propagates one);
    a NaN passed through unchanged is compared bit for bit like everything else."""
    different = []
    for key in sorted(set(actual) | set(expected)):
        a, e = actual.get(key), expected.get(key)
        if a == e:
            continue
        produced = not key[1].startswith(("f32.id", "f64.id"))
        if a and e and a[0] == e[0] and a[0] in "fd" and produced and _is_nan(a[0], a[1]) and _is_nan(e[0], e[1]):
            continue
        different.append((key, a, e))
    return different


def build_and_run(project_root: Path, repo: Path, work: Path, apps: list[str]) -> str:
    """Compile demo_calls.c + every app's sources for the host and run the calls."""
    from dynapps import manifest

    inits = [m.init for m in manifest.load_all(project_root) if m.name in apps and m.init]
    main = work / "host_main.c"
    main.write_text(HOST_MAIN % {"declarations": "".join(f"int {name}(void);\n" for name in inits),
                                 "calls": "".join(f"    if ({name}() != 0) return 2;\n" for name in inits)})
    sources = [str(main), str(repo / "firmware/main/demo_calls.c")]
    includes = [repo / "firmware/main", repo / "firmware/components/dynapps/include", project_root / "build/generated"]
    for app in apps:
        app_dir = project_root / "apps" / app
        sources += [str(p) for p in sorted(app_dir.glob("*.c"))]
        includes.append(app_dir)
    binary = work / "host_reference"
    # the generated headers declare the exports as plain functions, linked here from the apps' sources
    subprocess.run(["gcc", "-std=gnu11", "-O2", "-ffp-contract=off", "-DDYNAPPS_CALL_APPS_DIRECTLY", "-o", str(binary), *sources,
                    *[f"-I{path}" for path in includes], "-lm"], check=True, capture_output=True, text=True)
    return subprocess.run([str(binary), *apps], check=True, capture_output=True, text=True).stdout
