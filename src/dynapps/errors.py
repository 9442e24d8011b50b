"""The one exception type for user mistakes, and the one place that turns any exception into a
single `error:` line (never a traceback unless VERBOSE=1 asks for one)."""

from __future__ import annotations

import signal
import subprocess
import traceback

from . import console


class DynappsError(Exception):
    """A user-facing error. `str()` gives `file:line: message` (or just the message)."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        if self.path and self.line:
            return f"{self.path}:{self.line}: {self.message}"
        if self.path:
            return f"{self.path}: {self.message}"
        return self.message


def exit_status(command: str, status: int) -> str:
    """How a program ended, for a message: `status` as subprocess (negative: signal) or a shell
    (128 + signal; 126/127: could not run) reports it."""
    signal_number = -status if status < 0 else status - 128 if 128 < status < 128 + 65 else 0
    if signal_number:
        try:
            name = signal.Signals(signal_number).name
        except ValueError:
            name = f"signal {signal_number}"
        return f"{command} was killed by {name} (it crashed)"
    if status == 127:
        return f"{command}: command not found (exit status 127: the program, or one it runs, is missing)"
    if status == 126:
        return f"{command}: cannot be run (exit status 126: not executable)"
    return f"{command} failed with exit status {status}"


def explain(error: BaseException) -> str | None:
    """One line for an exception from the environment rather than from dynapps's own logic (a
    program that failed, a file that can't be read, a corrupt ELF file, the emulator), else None."""
    if isinstance(error, subprocess.CalledProcessError):
        command = " ".join(map(str, error.cmd)) if isinstance(error.cmd, (list, tuple)) else str(error.cmd)
        stderr = error.stderr.decode(errors="replace") if isinstance(error.stderr, bytes) else error.stderr or ""
        first = next((line.strip() for line in stderr.splitlines() if line.strip()), "")
        return exit_status(command, error.returncode) + (f": {first}" if first else "")
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    module = type(error).__module__.split(".")[0]
    if module == "elftools":
        return f"corrupt ELF file ({error})"
    if module == "unicorn":
        return f"the emulator (Unicorn) failed: {error}"
    return None


def report(error: BaseException, context: str = "", verbose: bool = False) -> None:
    """Print `error` as one `error:` line on stderr. A DynappsError names its own file and line;
    anything else is prefixed with `context` (the file being built). An exception nobody
    explains is a dynapps bug: its traceback is printed with VERBOSE=1, for the bug report."""
    if isinstance(error, DynappsError):
        console.error(f"error: {error}")
        return
    text = explain(error) or (f"internal error ({type(error).__name__}: {error}); this is a dynapps bug: "
                              "VERBOSE=1 shows the traceback")
    line = f"{context}: {text}" if context else text
    console.error(f"error: {' '.join(line.splitlines())}")
    if verbose:
        traceback.print_exception(error)
