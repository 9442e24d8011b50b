"""The LOADED lines a firmware prints from the loader's list of loaded apps (dynapps_next_loaded:
docs/loader-api.md, "Listing the loaded apps"; firmware/main/demo.c prints them). Read by the
emulator's "where the apps ran" table and by `dynapps gdb-symbols` / `dynapps decode`."""

from __future__ import annotations

import re
from dataclasses import dataclass

# One line per loaded app, as firmware/main/demo.c prints the loader's list (fixed format).
_LOADED_LINE = re.compile(r"^LOADED (?P<name>\S+) (?P<strategy>iram|xip|psram) code=(?P<code>0x[0-9a-f]+) "
                          r"data=(?P<data>0x[0-9a-f]+) .*\bram=(?P<ram>\d+) version=(?P<version>\d+\.\d+\.\d+) ",
                          re.M)


@dataclass(frozen=True)
class LoadedApp:
    """One app as the loader listed it while it was loaded."""
    name: str
    version: str
    strategy: str
    code_addr: int
    data_addr: int
    ram_bytes: int


def loaded_apps(uart_text: str) -> list[LoadedApp]:
    """Every app the firmware's listings named, once each (first listing), in the order first seen."""
    apps: dict[str, LoadedApp] = {}
    for m in _LOADED_LINE.finditer(uart_text):
        apps.setdefault(m["name"], LoadedApp(m["name"], m["version"], m["strategy"], int(m["code"], 16),
                                             int(m["data"], 16), int(m["ram"])))
    return list(apps.values())
