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
    subprocess.run(["gcc", "-std=gnu11", "-O2", "-ffp-contract=off", "-o", str(binary), *sources,
                    *[f"-I{path}" for path in includes], "-lm"], check=True, capture_output=True, text=True)
    return subprocess.run([str(binary), *apps], check=True, capture_output=True, text=True).stdout
