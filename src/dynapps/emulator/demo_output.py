"""What the emulator firmware's output says: why a run failed, in one line, and where each app of
the demo ran (its LOADED lines, read by dynapps.loaded). Used by `scons run`."""

from __future__ import annotations

import re

from ..loaded import loaded_apps
from .machine import Machine
from .results import RunResult


def failure(machine: Machine, result: RunResult, timeout_s: float) -> str | None:
    """Why a run of the firmware failed, in one line (None if it exited with 0)."""
    if result.reason == "exit":
        return _exit_failure(result) if result.exit_code else None
    if result.reason != "fault":
        return f"the emulator firmware stopped ({result.reason}) after {result.seconds:.1f} s (limit {timeout_s:.0f} s)"
    return _fault_failure(machine, result)


def _exit_failure(result: RunResult) -> str:
    """The exit code and the firmware's own word on it: its last line that mentions a failure or
    an error, else its last line."""
    lines = [line.strip() for line in result.uart_text.splitlines() if line.strip()]
    failed = [line for line in lines if re.search(r"fail|error", line, re.I)]
    said = f"; its last line saying so: {failed[-1]}" if failed else f"; its last line: {lines[-1]}" if lines else ""
    return f"the emulator firmware exited with code {result.exit_code}{said}"


def _fault_failure(machine: Machine, result: RunResult) -> str:
    """The first fault, where its pc is and which app the firmware loaded last (usually the culprit)."""
    first = result.faults[0]
    text = f"the emulator firmware faulted: {first}; the pc is in {machine.region_name(first.pc)}"
    loaded = re.findall(r"^LOADED (\S+)", result.uart_text, re.M)
    if loaded:
        text += f"; the last app it loaded was {loaded[-1]}"
    if len(result.faults) > 1:
        text += f" ({len(result.faults) - 1} more faults: VERBOSE=1 lists them)"
    return text


def where_apps_ran(machine: Machine, uart_text: str) -> str:
    """A table of the apps the loader listed: where each app's code and data live on this chip."""
    rows = [f"  {app.name:<10} {app.version:<8} {app.strategy:<5} code in {machine.region_name(app.code_addr):<24} "
            f"data in {machine.region_name(app.data_addr):<20} RAM {app.ram_bytes} B"
            for app in loaded_apps(uart_text)]
    return "where the apps ran:\n" + "\n".join(rows) if rows else ""
