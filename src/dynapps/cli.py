"""The `dynapps` command line (also `python -m dynapps`), run in a project's folder.

    dynapps inspect FILE...    print what a .dapp image holds (= python -m dynapps.inspect)
    dynapps gdb-symbols [FILE] gdb add-symbol-file commands for the loaded apps (docs/debugging.md)
    dynapps decode ADDR...     panic addresses as app, function, file:line (docs/debugging.md)
    dynapps size [--json]      the last build's memory report (build/size.json; picture: build/layout.svg)
    dynapps component-dir      the loader component's folder (an ESP-IDF EXTRA_COMPONENT_DIRS entry)
    dynapps live [ARGS...]     scons live ARGS, then boot the agent firmware in the emulator, its UART
                               on a pty, until Ctrl-C (docs/live.md); push with `dynapps push APP=...`
    dynapps monitor PORT [BAUD] the firmware's output on PORT, line by line, until Ctrl-C
    dynapps watch PORT [APP...] build and push every edit of the apps to the agent at PORT,
                               until Ctrl-C (docs/live.md, "Watching"); NAME=value: scons variables
    dynapps ARGS...            scons ARGS on the project in the current folder:
                               dynapps apps | flash-apps | flash-all | run | -c | -h, CHIP=..., PORT=...

A project needs no SConstruct of its own: without one, scons reads the package's
(project_SConstruct.py, the same three lines as this repository's). SCons runs in this Python,
so the installed `dynapps` package is the tool it loads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT_SCONSTRUCT = Path(__file__).resolve().parent / "project_SConstruct.py"
USAGE = __doc__.split("\n\n")[1]


def scons_command(argv: list[str], folder: Path) -> list[str]:
    """scons with `argv` in `folder`; the package's SConstruct when the folder has none."""
    command = [sys.executable, "-m", "SCons"]
    if not any((folder / name).exists() for name in ("SConstruct", "Sconstruct", "sconstruct")):
        command += ["-f", str(PROJECT_SCONSTRUCT)]
    return command + argv


def main(argv: list[str]) -> int:
    if argv[:1] in (["--help"], ["help"]):
        print(USAGE)
        return 0
    if argv[:1] == ["inspect"]:
        from . import inspect
        return inspect.run(argv[1:])
    if argv[:1] == ["size"]:
        from . import errors, size
        try:
            return size.run(argv[1:])
        except errors.DynappsError as error:
            errors.report(error, "size", False)
            return 1
    if argv == ["component-dir"]:
        from . import native
        print(native.COMPONENT)
        return 0
    if argv[:1] in (["gdb-symbols"], ["decode"]):
        from . import debugging
        return debugging.run(argv[0], argv[1:])
    if argv[:1] == ["live"]:
        return _live(argv)
    if argv[:1] == ["monitor"]:
        return _monitor(argv[1:])
    if argv[:1] == ["watch"]:
        from . import watch
        return watch.run(argv[1:], scons_command([], Path.cwd()))
    return subprocess.call(scons_command(argv, Path.cwd()), env=os.environ)


def _monitor(arguments: list[str]) -> int:
    from . import errors, remote

    if len(arguments) not in (1, 2) or (len(arguments) == 2 and not arguments[1].isdigit()):
        errors.report(errors.DynappsError("usage: dynapps monitor PORT [BAUD]"))
        return 2
    try:
        remote.monitor(arguments[0], int(arguments[1]) if len(arguments) == 2 else remote.DEFAULT_BAUD)
    except Exception as error:  # noqa: BLE001 - one `error:` line
        errors.report(error)
        return 2
    return 0


def _live(argv: list[str]) -> int:
    """Build with scons, then serve in this process's main thread, where Ctrl-C arrives."""
    from . import errors, remote

    status = subprocess.call(scons_command(argv, Path.cwd()), env=os.environ)
    if status != 0:
        return status
    try:
        remote.serve_live(remote.LiveSetup.read(Path.cwd() / remote.LIVE_SETUP))
    except Exception as error:  # noqa: BLE001 - one `error:` line
        errors.report(error)
        return 2
    return 0


def entry() -> None:
    """The console script `dynapps` (pyproject.toml)."""
    sys.exit(main(sys.argv[1:]))
