"""`scons flash-apps`: only what changed is written, to a board (esptool's real code against the
serial test peer) or into the emulator's flash image."""

from __future__ import annotations

import re

from serial_peer import SerialPeer

SECTOR = 0x1000


def _slots(project) -> dict:
    rows = [l.split(",") for l in (project.root / "partitions.csv").read_text().splitlines()
            if l and not l.startswith("#")]
    return {r[0].strip(): (int(r[3], 16), int(r[4], 16)) for r in rows if r[2].strip() == "0x40"}


def _image(project, app) -> bytes:
    return (project.root / f"build/apps/{app}.dapp").read_bytes()


def _rounded(size: int) -> int:
    return (size + SECTOR - 1) // SECTOR * SECTOR


def _edit_pid(project):
    source = project.root / "apps/pid/pid.c"
    source.write_text(source.read_text().replace("0.05f", "0.0625f"))


def test_flash_apps_to_a_board_writes_only_what_changed(example_project):
    with SerialPeer("esp32c3", flash_size=4 * 1024 * 1024, lifetime=120) as peer:
        first = example_project.scons("apps", "flash-apps", f"PORT={peer.url}", "BAUD=115200")
        slots = _slots(example_project)
        for app, (offset, _size) in slots.items():
            image = _image(example_project, app)
            assert bytes(peer.flash[offset:offset + len(image)]) == image, app
        table = (example_project.root / "build/partition-table.bin").read_bytes()
        assert bytes(peer.flash[0x8000:0x8000 + len(table)]) == table
        assert "Writing" in first.stdout  # esptool's own progress output
        assert peer.errors == []

        writes = len(peer.writes)
        again = example_project.scons("flash-apps", f"PORT={peer.url}")
        assert re.search(r"flash-apps: wrote 0 bytes to \S+ \(nothing changed\)", again.stdout), again.stdout
        assert len(peer.writes) == writes  # nothing written

        before = bytes(peer.flash)
        _edit_pid(example_project)
        edited = example_project.scons("flash-apps", f"PORT={peer.url}")
        new_writes = peer.writes[writes:]
        pid_offset, pid_size = slots["pid"]
        pid_image = _image(example_project, "pid")
        assert new_writes and all(pid_offset <= w.offset and w.offset + w.length <= pid_offset + pid_size
                                  for w in new_writes), new_writes
        assert sum(w.length for w in new_writes) <= _rounded(len(pid_image))
        assert bytes(peer.flash[pid_offset:pid_offset + len(pid_image)]) == pid_image
        for app, (offset, size) in slots.items():
            if app != "pid":
                assert bytes(peer.flash[offset:offset + size]) == before[offset:offset + size], app
        assert "(pid)" in edited.stdout
        assert peer.errors == []


def test_flash_apps_into_the_emulator_image_writes_only_what_changed(example_project):
    first = example_project.scons("apps", "flash-apps")
    assert re.search(r"flash-apps: wrote \d+ bytes into build/emulator/flash\.bin \(partition-table, ", first.stdout)
    again = example_project.scons("flash-apps")
    assert "wrote 0 bytes" in again.stdout and "(nothing changed)" in again.stdout
    flash_before = (example_project.root / "build/emulator/flash.bin").read_bytes()
    _edit_pid(example_project)
    edited = example_project.scons("flash-apps")
    written = int(re.search(r"flash-apps: wrote (\d+) bytes into \S+ \(pid\)", edited.stdout).group(1))
    assert written == _rounded(len(_image(example_project, "pid")))
    flash_after = (example_project.root / "build/emulator/flash.bin").read_bytes()
    pid_offset, pid_size = _slots(example_project)["pid"]
    assert flash_after[:pid_offset] == flash_before[:pid_offset]
    assert flash_after[pid_offset + pid_size:] == flash_before[pid_offset + pid_size:]


def test_flash_all_without_a_port_is_a_one_line_error(example_project):
    result = example_project.scons("apps", "flash-all", check=False)
    assert result.returncode != 0
    errors = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
    assert errors == ["error: flash-all writes a board: give PORT=... (or set ESPTOOL_PORT)"], result.stderr
