"""dynapps in `idf.py` (docs/idf-integration.md).

Two halves:

- `action_extensions`: an idf.py extension. idf.py loads `idf_ext.py` from the project folder
  (every ESP-IDF release dynapps supports); the project's file is one line,
  `from dynapps.idf_ext import action_extensions`. It adds `idf.py dynapps-flash`, which takes
  idf.py's own port and baud options (`idf.py -p PORT -b BAUD dynapps-flash`) and runs the build
  target of the same name. Without the file, `idf.py dynapps-flash` still works (idf.py runs any
  build target it does not know), with the port from ESPPORT or ESPTOOL_PORT.
- `python -m dynapps.idf_ext flash-apps VAR=...`: what that build target runs: `dynapps
  flash-apps` with the port and baud rate idf.py hands its targets (ESPPORT, ESPBAUD).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .cli import scons_command

FLASH_TARGET = "dynapps-flash"


def flash_apps_command(variables: list[str], environment: dict[str, str]) -> list[str]:
    """`dynapps flash-apps` with idf.py's port and baud rate, when it gave them."""
    arguments = ["flash-apps", *variables]
    if environment.get("ESPPORT"):
        arguments.append(f"PORT={environment['ESPPORT']}")
    if environment.get("ESPBAUD"):
        arguments.append(f"BAUD={environment['ESPBAUD']}")
    return scons_command(arguments, Path.cwd())


def action_extensions(base_actions: dict, project_path: str) -> dict:
    """idf.py's extension hook: the `dynapps-flash` action."""
    def dynapps_flash(action: str, ctx, args) -> None:
        from idf_py_actions.tools import ensure_build_directory, run_target  # idf.py's own module
        ensure_build_directory(args, ctx.info_name)
        environment = {"ESPBAUD": str(args.baud)}
        if args.port:
            environment["ESPPORT"] = args.port
        run_target(FLASH_TARGET, args, environment)

    return {"actions": {FLASH_TARGET: {
        "callback": dynapps_flash,
        "help": "Write only the dynapps app slots that changed since the last write to this port "
                "(dynapps flash-apps). Without -p: into dynapps' emulator flash image.",
        "order_dependencies": ["build"],
    }}}


def main(argv: list[str]) -> int:
    if argv[:1] != ["flash-apps"]:
        print("usage: python -m dynapps.idf_ext flash-apps [VAR=value ...]", file=sys.stderr)
        return 2
    return subprocess.call(flash_apps_command(argv[1:], dict(os.environ)), env=os.environ)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
