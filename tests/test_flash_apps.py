"""`scons flash-apps`: only what changed is written, to a board (esptool's real code against the
serial test peer) or into the emulator's flash image."""

from __future__ import annotations

import re

from serial_peer import SerialPeer

from dynapps import flash

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


# --- what differs is written, per region, whatever app it belongs to -------------------------------

FLASH_IMAGE = "build/emulator/flash.bin"


def _value_app(project, name: str, value: int) -> None:
    project.write(f"apps/{name}/{name}.c", f"#include <stdint.h>\nint32_t {name}_value(void) {{ return {value}; }}\n")
    project.write(f"apps/{name}/app.yaml", f"exports:\n  - int32_t {name}_value(void)\n")


def _assert_flashed(project) -> bytes:
    """Every app's slot in the emulator's flash image holds that app's image, the table its table."""
    flash = (project.root / FLASH_IMAGE).read_bytes()
    table = (project.root / "build/partition-table.bin").read_bytes()
    assert flash[0x8000:0x8000 + len(table)] == table
    for app, (offset, _size) in _slots(project).items():
        image = _image(project, app)
        assert flash[offset:offset + len(image)] == image, f"the slot of {app} does not hold {app}'s image"
    return flash


def _flashed_labels(result) -> str:
    return re.search(r"flash-apps: wrote \d+ bytes (?:into|to) \S+ \((.*)\)", result.stdout).group(1)


def test_a_slot_another_app_held_is_written_again(empty_project):
    """alpha and beta; alpha removed (beta moves into alpha's slot); alpha back: alpha's slot is
    written with alpha's image, not left holding beta's."""
    _value_app(empty_project, "alpha", 1)
    _value_app(empty_project, "beta", 2)
    empty_project.scons("apps", "flash-apps")
    alpha_offset = _slots(empty_project)["alpha"][0]
    (empty_project.root / "apps/alpha/alpha.c").unlink()
    (empty_project.root / "apps/alpha/app.yaml").unlink()
    empty_project.scons("apps", "flash-apps")
    assert _slots(empty_project)["beta"][0] == alpha_offset
    _value_app(empty_project, "alpha", 1)
    back = empty_project.scons("apps", "flash-apps")
    _assert_flashed(empty_project)
    # beta's old slot kept beta's bytes from the first run: only what differs is written
    assert _flashed_labels(back) == "partition-table, alpha"


def test_a_resized_flash_image_gets_every_region(empty_project):
    _value_app(empty_project, "alpha", 1)
    empty_project.scons("apps", "flash-apps")
    project_file = empty_project.root / "dynapps.yaml"
    project_file.write_text(project_file.read_text().replace("flash_size: 4M", "flash_size: 8M"))
    resized = empty_project.scons("apps", "flash-apps")
    assert len(_assert_flashed(empty_project)) == 8 * 1024 * 1024
    assert _flashed_labels(resized) == "partition-table, alpha"


def test_a_truncated_flash_image_gets_every_region(empty_project):
    _value_app(empty_project, "alpha", 1)
    empty_project.scons("apps", "flash-apps")
    flash_image = empty_project.root / FLASH_IMAGE
    flash_image.write_bytes(flash_image.read_bytes()[:_slots(empty_project)["alpha"][0] + 0x800])
    again = empty_project.scons("flash-apps")
    assert len(_assert_flashed(empty_project)) == 4 * 1024 * 1024
    assert _flashed_labels(again) == "partition-table, alpha"


def test_a_killed_write_is_redone_even_when_the_source_went_back(empty_project):
    """A write killed half-way leaves part of the new image in the slot; the source then goes
    back to what was flashed before: the slot is written again."""
    _value_app(empty_project, "alpha", 1)
    _value_app(empty_project, "beta", 2)
    empty_project.scons("apps", "flash-apps")
    _value_app(empty_project, "alpha", 7)
    empty_project.scons("apps")
    half = _image(empty_project, "alpha")[:SECTOR // 2]
    offset = _slots(empty_project)["alpha"][0]
    with (empty_project.root / FLASH_IMAGE).open("r+b") as stream:  # what a killed flash-apps leaves
        stream.seek(offset)
        stream.write(half + bytes([0xFF]) * (SECTOR - len(half)))
    _value_app(empty_project, "alpha", 1)
    again = empty_project.scons("apps", "flash-apps")
    _assert_flashed(empty_project)
    assert _flashed_labels(again) == "alpha"


def _board_project(project, peer) -> list[str]:
    _value_app(project, "alpha", 1)
    _value_app(project, "beta", 2)
    project.scons("apps", "flash-apps", f"PORT={peer.url}")
    return [f"PORT={peer.url}"]


def _assert_on_board(project, peer) -> None:
    for app, (offset, _size) in _slots(project).items():
        image = _image(project, app)
        assert bytes(peer.flash[offset:offset + len(image)]) == image, f"the slot of {app} does not hold {app}'s image"


def test_a_board_write_cut_off_is_redone_even_when_the_source_went_back(empty_project):
    with SerialPeer("esp32c3", flash_size=4 * 1024 * 1024, lifetime=120) as peer:
        port = _board_project(empty_project, peer)
        _value_app(empty_project, "alpha", 7)
        peer.cut_after = 100  # the cable is pulled after 100 bytes of alpha's new image
        cut = empty_project.scons("apps", "flash-apps", *port, check=False)
        assert cut.returncode != 0 and "Traceback" not in cut.stderr, cut.stderr
        assert re.search(r"^error: socket://\S+: writing failed: ", cut.stderr, re.M), cut.stderr
        peer.cut_after = None
        _value_app(empty_project, "alpha", 1)
        again = empty_project.scons("apps", "flash-apps", *port)
        _assert_on_board(empty_project, peer)
        assert _flashed_labels(again) == "alpha"


def test_skip_flashed_names_only_what_it_wrote(empty_project):
    with SerialPeer("esp32c3", flash_size=4 * 1024 * 1024, lifetime=120) as peer:
        port = _board_project(empty_project, peer)
        _value_app(empty_project, "beta", 5)
        result = empty_project.scons("apps", "flash-apps", *port, "SKIP_FLASHED=1")
        _assert_on_board(empty_project, peer)
        assert _flashed_labels(result) == "beta"
        assert re.search(r"flash-apps: wrote (\d+) bytes", result.stdout).group(1) == str(
            _rounded(len(_image(empty_project, "beta"))))
        assert peer.errors == []


def test_an_unreadable_record_means_every_region_is_written(empty_project):
    with SerialPeer("esp32c3", flash_size=4 * 1024 * 1024, lifetime=120) as peer:
        port = _board_project(empty_project, peer)
        (empty_project.root / "build/flash-record.json").write_text("{ killed while writ")
        again = empty_project.scons("flash-apps", *port)
        assert _flashed_labels(again) == "partition-table, alpha, beta"
        _assert_on_board(empty_project, peer)


def test_a_recorded_region_written_over_in_part_is_no_longer_known(tmp_path):
    """The record keys regions by offset and size: a write that covers part of a recorded region
    (slots resized or moved) makes that region unknown, whatever its label."""
    path = tmp_path / "flash-record.json"
    alpha = flash.Region("alpha", 0x200000, bytes(0x2000))
    beta = flash.Region("beta", 0x201000, bytes([1]) * 0x1000)
    flash.Record(path).remember("serial:x", [alpha])
    assert flash.Record(path).changed("serial:x", [alpha]) == []
    flash.Record(path).remember("serial:x", [beta])
    assert flash.Record(path).changed("serial:x", [alpha, beta]) == [alpha]
    assert flash.Record(path).changed("serial:y", [beta]) == [beta]  # another board knows nothing
