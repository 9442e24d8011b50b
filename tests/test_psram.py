"""Issue 11 item 6: PSRAM placement. `strategy: psram` copies an app into PSRAM and runs it from
there (the IRAM image layout, relocated by the same fix-ups); `auto` picks it for apps under the
hybrid threshold when the project says `apps.auto_copy: psram`; a chip without PSRAM refuses both
with one error line naming the file and line.

The runs use the real scons, the real loader core and the emulator port in the emulator, whose
esp32p4 machine has PSRAM at the chip's real address (SOC_EXTRAM_LOW)."""

from __future__ import annotations

import json
import re

import pytest

from conftest import REPO
from dynapps import chips
from test_link_apps import APPS, host_results, make_project, mismatches, run_in_emulator
from test_manifest_errors import GOOD_MANIFEST, GOOD_SOURCE, single_error_line
import host_reference



def _placed(text: str) -> dict[str, tuple[int, int]]:
    """app -> (code address, data address) of its PLACED line (tests/apps/firmware/checks_demo.c)."""
    return {m[1]: (int(m[2], 16), int(m[3], 16))
            for m in re.finditer(r"^PLACED (\S+) code=(0x[0-9a-f]+) data=(0x[0-9a-f]+) ", text, re.M)}


def test_psram_apps_run_from_psram_on_esp32p4(tmp_path):
    """Every test app forced to PSRAM: loaded into the board's PSRAM, its exports called with the
    host's results, and both heaps (internal and PSRAM) back to where they started."""
    project = make_project(tmp_path / "project", "esp32p4", "psram")
    result = run_in_emulator(project, "esp32p4")
    text = result.uart_text
    assert result.faults == [] and result.reason == "exit" and result.exit_code == 0, text
    assert "LOAD-ERROR" not in text and "CALL-ERROR" not in text, text
    for app in APPS:
        assert re.search(rf"^LOADED {app} psram ", text, re.M), text
    placed = _placed(text)
    assert sorted(placed) == sorted(APPS), text
    board = chips.profile("esp32p4").emulator.psram
    for app, (code, data) in placed.items():
        assert board.contains(code) and board.contains(data), (app, hex(code), hex(data))
    # strtab's table of string pointers: fix-ups applied in PSRAM
    assert re.search(r"^PLACED strtab .* fixups=[1-9]\d*$", text, re.M), text
    heap = re.search(r"^HEAP free (\d+) before, (\d+) after$", text, re.M)
    psram = re.search(r"^PSRAM free (\d+) before, (\d+) after$", text, re.M)
    assert heap and heap[1] == heap[2], text
    assert psram and psram[1] == psram[2] and int(psram[1]) > 0, text
    work = tmp_path / "host"
    work.mkdir()
    expected = host_results(project, work)
    assert len(expected) == 32
    assert mismatches(host_reference.parse(text), expected) == []
    analysis = json.loads((project.root / "build/apps/strtab/strtab.link.json").read_text())
    assert analysis["strategy"] == "psram" and analysis["code_vaddr"] == 0
    assert analysis["reason"] == "manifest: strategy: psram"


@pytest.mark.parametrize("chip", ["esp32c3", "esp32c6", "esp32h2"])  # chips.py: psram None
def test_strategy_psram_on_a_chip_without_psram_is_one_error_line(empty_project, chip):
    empty_project.write("apps/adder/add.c", GOOD_SOURCE)
    empty_project.write("apps/adder/app.yaml", GOOD_MANIFEST + "strategy: psram\n")
    error = single_error_line(empty_project.scons("apps", f"CHIP={chip}", check=False))
    assert error == (f"apps/adder/app.yaml:4: strategy: psram: app adder can't run from PSRAM, the {chip} "
                     "has none (chips with PSRAM: esp32p4); use iram, xip or auto"), error


def _auto_copy_project(project, chip: str):
    project.write("apps/adder/add.c", GOOD_SOURCE)
    project.write("apps/adder/app.yaml", GOOD_MANIFEST)
    path = project.root / "dynapps.yaml"
    text = re.sub(r"^chip: \S+", f"chip: {chip}", path.read_text(), flags=re.M)
    text = text.replace("apps:\n", "apps:\n  auto_copy: psram\n", 1)
    path.write_text(text)
    return text.splitlines().index("  auto_copy: psram") + 1


def test_auto_chooses_psram_when_the_project_asks(empty_project):
    _auto_copy_project(empty_project, "esp32p4")
    result = empty_project.scons("apps")
    analysis = json.loads((empty_project.root / "build/apps/adder/adder.link.json").read_text())
    assert analysis["strategy"] == "psram", analysis
    assert re.fullmatch(r"auto: \d+ B code\+data < threshold 8192 B; apps.auto_copy: psram", analysis["reason"])
    # the summary says why
    assert re.search(r"^\s*adder\s+psram\s+auto: \d+ B code\+data < threshold 8192 B; apps.auto_copy: psram",
                     result.stdout, re.M), result.stdout


def test_auto_without_auto_copy_stays_iram(empty_project):
    empty_project.write("apps/adder/add.c", GOOD_SOURCE)
    empty_project.write("apps/adder/app.yaml", GOOD_MANIFEST)
    empty_project.scons("apps", "CHIP=esp32p4")
    analysis = json.loads((empty_project.root / "build/apps/adder/adder.link.json").read_text())
    assert analysis["strategy"] == "iram", analysis


def test_auto_copy_psram_on_a_chip_without_psram_is_one_error_line(empty_project):
    line = _auto_copy_project(empty_project, "esp32c3")
    error = single_error_line(empty_project.scons("apps", check=False))
    assert error == (f"dynapps.yaml:{line}: apps.auto_copy: psram: the esp32c3 has no PSRAM "
                     "(chips with PSRAM: esp32p4)"), error


def test_example_demo_with_every_app_in_psram(tmp_path):
    """The example demo (./dev run CHIP=esp32p4) with every app forced to PSRAM: each one loaded
    into PSRAM, its code executed there and none in internal RAM, results as on the host, both
    heaps back, and the "where the apps ran" table saying psram."""
    from test_run import APPS as EXAMPLE_APPS, _machine, _project
    from dynapps import emulator

    project = _project(tmp_path / "project", "esp32p4", "psram")
    machine = _machine(project, "esp32p4")
    profile, board = machine.profile, machine.profile.emulator.psram
    in_psram = machine.watch_exec(board.start, board.end)
    in_sram = machine.watch_exec(profile.iram.start, profile.iram.end)
    result = machine.run(timeout_s=60)
    text = result.uart_text
    assert result.faults == [] and result.reason == "exit" and result.exit_code == 0, text
    assert "DEMO OK: 0 failure(s)" in text
    assert in_psram.count > 1000 and in_sram.count == 0, (in_psram.count, in_sram.count)
    psram = re.search(r"^PSRAM free (\d+) before, (\d+) after$", text, re.M)
    assert psram and psram[1] == psram[2], text
    table = emulator.where_apps_ran(machine, text)
    for app in EXAMPLE_APPS:
        assert re.search(rf"^  {app} +\S+ +psram +code in psram\+0x[0-9a-f]+ +data in psram\+", table, re.M), table
    work = tmp_path / "host"
    work.mkdir()
    expected = host_reference.parse(host_reference.build_and_run(project.root, REPO, work, EXAMPLE_APPS))
    assert len(expected) >= 70
    assert host_reference.differences(host_reference.parse(text), expected) == []


def test_psram_image_round_trip_and_inspect():
    """strategy 3 in the header, read back as psram, its fix-ups checked like an IRAM image's."""
    from dynapps import image

    img = image.Image(chip_id=0x12, strategy="psram", align_log2=4, code=bytes(20), data=bytes(8), bss_size=4,
                      code_vaddr=0, data_vaddr=32, import_slots_vaddr=32, exports_id=1, exports_count=1, fixups=[4, 32],
                      name="fir", version=(1, 0, 0))
    raw = img.to_bytes()
    assert raw[10] == 3
    back = image.read(raw)
    assert back.strategy == "psram" and back.code_span == 32 and back.fixups == [4, 32]
    assert "strategy psram" in image.describe(back, chips.chip_names())
    img.fixups = [24]  # in the padding between code and data: refused as for IRAM
    with pytest.raises(Exception, match="fix-up at offset 0x18"):
        img.to_bytes()
