"""Appending to the firmware's export table keeps every image valid (issue 11 item 5): an image
records the prefix of the table it needs (count and id); a firmware whose table extends that prefix
loads it, and flash-apps has nothing to rewrite. Reordering or removing an export still refuses it."""

from __future__ import annotations

import re

import pytest

from conftest import Project
from dynapps import chips, emulator, image

FIRMWARE = "build/emulator/firmware.elf"
FLASH = "build/emulator/flash.bin"
EXPORTS = "firmware/exports.yaml"


def _run(project: Project):
    machine = emulator.Machine(chips.profile("esp32c3"), (project.root / FLASH).read_bytes())
    machine.load_firmware(project.root / FIRMWARE)
    return machine.run(timeout_s=60)


def _wrote(result) -> str:
    return re.search(r"flash-apps: wrote \d+ bytes (?:into|to) \S+ \((.*)\)", result.stdout).group(1)


def _edit_exports(project: Project, edit) -> None:
    path = project.root / EXPORTS
    path.write_text(edit(path.read_text()))


def test_appending_an_export_keeps_every_image(example_project):
    project = example_project
    project.scons("-j2", "apps", "flash-apps", FIRMWARE)
    images = {p.name: p.read_bytes() for p in (project.root / "build/apps").glob("*.dapp")}
    assert "DEMO OK" in _run(project).uart_text

    _edit_exports(project, lambda text: text + "  - strchr\n")
    project.scons("-j2", FIRMWARE)  # the new firmware only: the slots hold the images built before
    result = _run(project)
    assert "LOAD-ERROR" not in result.uart_text, result.uart_text
    assert "DEMO OK: 0 failure(s)" in result.uart_text, result.uart_text

    again = project.scons("-j2", "apps", "flash-apps", FIRMWARE)
    assert _wrote(again) == "nothing changed", again.stdout  # no slot rewritten
    assert {p.name: p.read_bytes() for p in (project.root / "build/apps").glob("*.dapp")} == images


# Each edit changes the first entries of the table, so every image with imports needs a prefix the
# new table does not start with.
EDITS = {
    "printf and puts swapped": lambda text: text.replace("  - printf\n  - puts\n", "  - puts\n  - printf\n"),
    "printf removed": lambda text: text.replace("  - printf\n", ""),
}


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_reordering_or_removing_an_export_refuses_the_old_images(example_project, edit):
    project = example_project
    project.scons("-j2", "apps", "flash-apps", FIRMWARE)
    old_flash = (project.root / FLASH).read_bytes()
    _edit_exports(project, EDITS[edit])
    project.scons("-j2", FIRMWARE)
    (project.root / FLASH).write_bytes(old_flash)
    result = _run(project)
    refused = set(re.findall(r"^LOAD-ERROR (\w+) DYNAPPS_ERR_FIRMWARE_MISMATCH", result.uart_text, re.M))
    importing = {p.stem for p in (project.root / "build/apps").glob("*.dapp")
                 if image.read(p.read_bytes()).imports}
    assert importing and refused == importing, result.uart_text
    assert result.faults == [] and result.reason == "exit"
