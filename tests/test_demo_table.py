"""The demo's "where the apps ran" table comes from the loader's own list of loaded apps
(dynapps_next_loaded, printed by firmware/main/demo.c in the documented LOADED format): each app
named, versioned and placed as the loader recorded it from its image, not as the demo knows it."""

from __future__ import annotations

import re

import pytest

from dynapps import emulator
from test_run import APPS, _machine, _project

# A version per app that only its manifest (and so its image header) knows: the demo never sees it.
VERSIONS = {app: f"{i + 1}.{2 * i}.{10 + i}" for i, app in enumerate(APPS)}


@pytest.mark.parametrize("chip", ["esp32c3", "esp32p4"])
def test_where_the_apps_ran_lists_what_the_loader_holds(tmp_path, chip):
    root = tmp_path / chip
    root.mkdir()
    project = _project(root, chip, None)
    for app, version in VERSIONS.items():
        manifest = project.root / "apps" / app / "app.yaml"
        manifest.write_text(re.sub(r"^version: \S+", f"version: {version}", manifest.read_text(), flags=re.M))
    project.scons("-j2", "apps", "flash-apps", "build/emulator/firmware.elf")
    machine = _machine(project, chip)
    result = machine.run(timeout_s=60)
    assert result.reason == "exit" and result.exit_code == 0, result.uart_text
    table = emulator.where_apps_ran(machine, result.uart_text)
    rows = table.splitlines()[1:]
    assert table.startswith("where the apps ran:") and len(rows) == len(APPS), table
    for app, version in VERSIONS.items():
        row = re.search(rf"^  {app} +{re.escape(version)} +(iram|xip) +code in (\S+).* RAM (\d+) B$", table, re.M)
        assert row, (app, table)
        assert int(row.group(3)) > 0
