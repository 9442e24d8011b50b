"""The no-op shortcut: a record of what the last complete `scons apps` (or `generate`) read and
wrote, so that the next identical run with nothing changed can stop before reading the project.

SCons decides what is up to date only after reading every manifest, defining every target and
scanning every source for headers: about 12 ms per app. When nothing changed since a build that
finished, that work can only conclude "up to date", so a run whose command line, environment and
files are as the record says skips it (scons_uptodate.py). The record holds the size and
modification time of

* every file of the build's dependency graph, its sources (headers the scanner found included)
  and its targets: an edited source or a deleted image means SCons runs;
* every file of the project outside its build folders (`project_files`): what reading the
  project reads (dynapps.yaml, each app.yaml, the firmware's sdkconfig); a file that is not in
  the record (a new app, a new source, an sdkconfig that appears) means SCons runs too;
* dynapps' own package files, the PATH folders and ESP-IDF's tools folder (which compiler the
  toolchain search finds), the SDKCONFIG= file and the signing key.

Size and modification time are what SCons's own `MD5-timestamp` decider trusts. An input whose
modification time is not older than the run's start by more than the file system's timestamp
resolution may have changed while the run read it, or may change again without a visible
difference (git calls such entries "racy"): then no record is written, and the next run is a full
one, which writes it. The resolution is taken as RACY_COARSE_S when every input's time is a whole
second (FAT, HFS+), else RACY_FINE_S (ext4's coarse clock ticks every 1-10 ms, exFAT's 10 ms).
This module imports no SCons.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

RECORD = "build/uptodate.json"
SHORTCUT_MESSAGE = f"dynapps: no input changed since the last complete build ({RECORD}): the project was not read"
RACY_FINE_S = 0.05
RACY_COARSE_S = 2.0  # FAT's 2 s timestamps
# Folders of a project that are not its inputs: build outputs (ours, ESP-IDF's), fetched
# components, caches. Hidden folders (.git, .venv) are skipped too.
SKIPPED_FOLDERS = {"build", "managed_components", "__pycache__", "node_modules"}
# Environment variables a build reads (the toolchain search, ESPTOOL_* defaults, DYNAPPS_*
# variables, compiler launchers' settings) besides PATH and PYTHONPATH.
ENVIRONMENT_PREFIXES = ("DYNAPPS_", "ESPTOOL_", "IDF_", "CCACHE_", "DISTCC_", "ICECC_", "SCONS")
ENVIRONMENT_NAMES = ("PATH", "PYTHONPATH", "HOME")
PACKAGE = Path(__file__).resolve().parent


def key(argv: list[str], environ: dict[str, str], cwd: str, scons_version: str) -> dict:
    """What must be the same as in the recorded run besides the files: the command line (but for
    the options that change only what is printed or how many jobs run), the environment variables
    a build reads, the folder, the Python and SCons versions."""
    chosen = {name: value for name, value in environ.items()
              if name in ENVIRONMENT_NAMES or name.startswith(ENVIRONMENT_PREFIXES)}
    return {"argv": _meaningful(argv), "environment": dict(sorted(chosen.items())), "cwd": cwd,
            "python": sys.version, "scons": scons_version}


_OUTPUT_ONLY = re.compile(r"-[Qs]|--silent|--quiet|--no-print-directory|-j\d+|--jobs=\d+")


def _meaningful(argv: list[str]) -> list[str]:
    """`argv` without -Q, -s and -j N: `scons -j8 -Q apps` after `scons apps` is the same run."""
    kept, skip = [], False
    for argument in argv:
        if skip:
            skip = False
        elif argument in ("-j", "--jobs"):
            skip = True
        elif not _OUTPUT_ONLY.fullmatch(argument):
            kept.append(argument)
    return kept


def file_state(path: str) -> list[int] | None:
    """[modification time in ns, size] of a file or folder; None when there is none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [info.st_mtime_ns, info.st_size]


def project_files(root: Path) -> list[str]:
    """Every file under `root`, build outputs, fetched components, hidden files and folders and
    editors' backups left out (an editor's swap file, written while one types, is no input).
    Comparing this list with the record finds a file added anywhere (a new app, a new source, an
    sdkconfig that appears); comparing states finds one edited or removed."""
    found = []
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(name for name in folders if name not in SKIPPED_FOLDERS and not name.startswith("."))
        found += [os.path.join(folder, name) for name in sorted(files)
                  if not name.startswith(".") and not name.endswith("~")]
    return found


def package_files() -> list[str]:
    """dynapps' own code and templates: an upgrade or an edit of the tool is a change."""
    return project_files(PACKAGE)


def search_folders(environ: dict[str, str]) -> list[str]:
    """The folders the toolchain search lists (toolchain.discover): a compiler that appears in
    one changes which compiler is found."""
    folders = [folder for folder in environ.get("PATH", "").split(os.pathsep) if folder]
    tools = environ.get("IDF_TOOLS_PATH", os.path.expanduser("~/.espressif"))
    return folders + [os.path.join(tools, "tools", "riscv32-esp-elf")]


def _read(root: Path) -> dict | None:
    try:
        return json.loads((root / RECORD).read_text())
    except (OSError, ValueError):
        return None


def unchanged(root: Path, run_key: dict) -> bool:
    """Whether the record says this run has nothing to do: same key, every file as recorded,
    and every file of the project as recorded (none added)."""
    record = _read(root)
    if not record or record.get("key") != run_key:
        return False
    files = record.get("files", {})
    if any(file_state(path) != state for path, state in files.items()):
        return False
    return all(path in files for path in project_files(root))


def write(root: Path, run_key: dict, inputs: list[str], outputs: list[str], started_ns: int) -> bool:
    """Record the inputs and outputs of a complete run; False, and no record, when an input file
    is racy (see the module's docstring)."""
    written = set(outputs)
    states = {path: file_state(path) for path in dict.fromkeys(inputs) if path not in written}
    times = [state[0] for path, state in states.items() if state is not None and not os.path.isdir(path)]
    coarse = all(time % 1_000_000_000 == 0 for time in times)
    trusted_before = started_ns - int((RACY_COARSE_S if coarse else RACY_FINE_S) * 1e9)
    if any(time >= trusted_before for time in times):
        return False
    states.update((path, file_state(path)) for path in written)
    record = root / RECORD
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"key": run_key, "files": states}, indent=0) + "\n")
    return True
