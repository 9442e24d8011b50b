"""Trust marks (issue 14 item 4; docs/design.md, "Trust marks"): an XIP image is verified in full
once, then trusted through a mark in the sector after it, which rewriting the slot destroys.

Everything real: the bench's project generator and `scons apps flash-apps` + the bench firmware
(the loader core and the emulator port), the emulator's SHA engine and flash controller. A reboot
is a new Machine booting the flash the previous one left (Machine.flash_bytes). Per load the test
reads the bytes the SHA engine hashed and the loader's instruction count (bench/loadcost.py)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import loadcost  # noqa: E402
import workload  # noqa: E402
from emu_support import GCC  # noqa: E402,F401  (skips without the cross compiler and unicorn)

from dynapps import image, trustmark  # noqa: E402

CHIP = "esp32c3"
APPS = [workload.AppSpec("xa", 4096, "xip", seed=1, ram_limit=1024),
        workload.AppSpec("xb", 4096, "xip", seed=2, ram_limit=1024),
        workload.AppSpec("ia", 4096, "iram", seed=3, ram_limit=1024)]
NAMES = [a.name for a in APPS]


def _project(folder: Path, sdkconfig: str = "", marker: int = 0, signed: bool = False) -> Path:
    calibration = workload.calibrate(CHIP, folder / "calibration")
    root = workload.write_project(folder / "project", workload.ProjectSpec(APPS, chip=CHIP, firmware=True),
                                  calibration, marker)
    if sdkconfig:
        (root / "firmware" / "sdkconfig.defaults").write_text(sdkconfig)
    if signed:  # every image signed, and the firmware refuses unsigned ones
        project_file = root / "dynapps.yaml"
        project_file.write_text(project_file.read_text() + "signing:\n  key: signing.key\n  require: true\n")
        workload.scons(root, "keygen")
    workload.scons(root, "-j2", "apps", "flash-apps", loadcost.FIRMWARE)
    return root


class Boot:
    """One boot of the bench firmware on `flash`: every app loaded, called, unloaded."""

    def __init__(self, root: Path, flash: bytes):
        self.root = root
        path = root / "build" / "emulator" / "boot.bin"
        path.write_bytes(flash)
        self.run = loadcost._run_group(str(root), CHIP, list(range(len(NAMES))), count=True,
                                       flash=str(path.relative_to(root)), keep_flash=True)
        assert self.run["reason"] == "exit" and not self.run["faults"], self.run["uart"][-2000:]
        self.flash = (root / loadcost.FLASH_AFTER_FIRST_BOOT).read_bytes()
        self.status = loadcost.parse_bench_lines(self.run["uart"])

    def hashed(self, app: str) -> int:
        return self.run["traffic"][NAMES.index(app)]["sha_bytes"]

    def instructions(self, app: str) -> int:
        index = NAMES.index(app)
        return loadcost._between(self.run["marks"], loadcost.MARK_APP + 4 * index, loadcost.MARK_APP + 4 * index + 1)

    def ok(self, app: str) -> bool:
        return self.status[app]["status"] == "OK"


def _image(root: Path, app: str) -> bytes:
    return (root / "build" / "apps" / f"{app}.dapp").read_bytes()


def _slot_offset(root: Path, app: str, flash: bytes) -> int:
    """The app's slot: where its image lies in the flash (flash-apps put it at its slot offset)."""
    data = _image(root, app)
    offset = flash.find(data[:image.HEADER_SIZE], 0x200000)
    assert offset > 0
    return offset


def _mark_at(root: Path, app: str, flash: bytes) -> tuple[int, bytes]:
    offset = _slot_offset(root, app, flash)
    at = offset + trustmark.sector_offset(len(_image(root, app)))
    return at, flash[at:at + trustmark.MARK.size]


def _expected_mark(root: Path, app: str, flash: bytes) -> bytes:
    data = _image(root, app)
    stored_hash = data[len(data) - image.HASH_SIZE:]  # unsigned images: the SHA-256 ends the file
    return trustmark.encode(_slot_offset(root, app, flash), len(data), stored_hash)


def _patched(flash: bytes, at: int, data: bytes) -> bytes:
    return flash[:at] + data + flash[at + len(data):]


@pytest.fixture(scope="module")
def marked(tmp_path_factory):
    """The project, its first boot (from what flash-apps wrote) and a second boot after it."""
    root = _project(tmp_path_factory.mktemp("trust"))
    first = Boot(root, (root / loadcost.FLASH).read_bytes())
    second = Boot(root, first.flash)
    return root, first, second


def test_first_load_hashes_everything_and_writes_the_mark(marked):
    root, first, _ = marked
    flash_apps = (root / loadcost.FLASH).read_bytes()
    for app in ("xa", "xb"):
        size = len(_image(root, app))
        assert first.ok(app) and first.hashed(app) == size - image.HASH_SIZE
        at, before = _mark_at(root, app, flash_apps)
        assert before == b"\xff" * trustmark.MARK.size  # flash-apps wrote the mark's sector erased
        assert _mark_at(root, app, first.flash)[1] == _expected_mark(root, app, first.flash)
        assert trustmark.decode(first.flash[at:at + trustmark.MARK.size])["image_size"] == size
    # an IRAM image has no mark: it is copied (so read whole) anyway
    assert first.hashed("ia") == len(_image(root, "ia")) - image.HASH_SIZE


def test_after_a_reboot_the_body_is_not_hashed(marked):
    root, first, second = marked
    for app in ("xa", "xb"):
        assert second.ok(app) and second.hashed(app) == 0
        assert second.status[app]["result"] == first.status[app]["result"]  # the same code ran
        print(f"{app}: first load {first.instructions(app)} instructions, trusted {second.instructions(app)}")
        assert second.instructions(app) < first.instructions(app)
    assert second.flash == first.flash  # a valid mark is not written again
    assert second.hashed("ia") == first.hashed("ia")  # IRAM: unchanged


def test_a_mark_copied_to_another_slot_is_refused(marked):
    """The mark binds the slot's flash offset: xa's mark in xb's place, and a mark of xb's own image
    and size but xa's offset, are both refused; xb is verified in full and gets its own mark."""
    root, first, _ = marked
    at_a, mark_a = _mark_at(root, "xa", first.flash)
    at_b, _ = _mark_at(root, "xb", first.flash)
    data_b = _image(root, "xb")
    other_offset = trustmark.encode(_slot_offset(root, "xa", first.flash), len(data_b), data_b[-image.HASH_SIZE:])
    for forged in (mark_a, other_offset):
        boot = Boot(root, _patched(first.flash, at_b, forged))
        assert boot.ok("xb") and boot.hashed("xb") == len(data_b) - image.HASH_SIZE
        assert boot.hashed("xa") == 0
        assert _mark_at(root, "xb", boot.flash)[1] == _expected_mark(root, "xb", boot.flash)


def test_a_torn_or_corrupted_mark_is_refused(marked):
    root, first, _ = marked
    at, mark = _mark_at(root, "xa", first.flash)
    size = len(_image(root, "xa"))
    for broken in (mark[:20] + b"\xff" * (len(mark) - 20), mark[:-1] + bytes([mark[-1] ^ 1])):
        boot = Boot(root, _patched(first.flash, at, broken))
        assert boot.ok("xa") and boot.hashed("xa") == size - image.HASH_SIZE


def test_a_flipped_body_byte_under_a_valid_mark_runs(marked):
    """The trade-off, stated: with a valid mark the body is not rehashed, so a byte changed in the
    flash after the first verification is not detected (the app loads; its code is what the flash
    now holds). Whoever can write the flash could as well change the firmware (docs/design.md)."""
    root, first, _ = marked
    offset = _slot_offset(root, "xa", first.flash)
    code_byte = offset + image.HEADER_SIZE + 64
    flipped = _patched(first.flash, code_byte, bytes([first.flash[code_byte] ^ 0x01]))
    boot = Boot(root, flipped)
    assert boot.ok("xa") and boot.hashed("xa") == 0
    # without the mark the same flash is refused: the full hash finds the change
    at, _ = _mark_at(root, "xa", first.flash)
    unmarked = _patched(flipped, at, b"\xff" * trustmark.SECTOR)
    refused = Boot(root, unmarked)
    assert not refused.ok("xa") and "HASH_MISMATCH" in refused.status["xa"]["status"]


def test_flash_apps_of_a_changed_app_destroys_the_mark(marked, tmp_path):
    """A changed app rewritten by flash-apps: its region ends with the mark's sector erased, so the
    next boot verifies the new image in full and writes a new mark."""
    root, first, _ = marked
    flash_path = root / loadcost.FLASH
    original = flash_path.read_bytes()
    try:
        flash_path.write_bytes(first.flash)  # the emulator's flash as the board has it: marked
        source = next((root / "apps" / "xa").glob("*.c"))
        source.write_text(source.read_text() + "\nunsigned trust_test_change(unsigned x) { return x * 7u; }\n")
        workload.scons(root, "-j2", "apps", "flash-apps")
        rewritten = flash_path.read_bytes()
        at, mark = _mark_at(root, "xa", rewritten)
        assert mark == b"\xff" * trustmark.MARK.size
        # (The emulator's flash-apps writes what differs by content, so xb's marked slot is
        # rewritten too; a board's goes by build/flash-record.json and leaves xb and its mark alone.)
        boot = Boot(root, rewritten)
        size = len(_image(root, "xa"))
        assert boot.ok("xa") and boot.hashed("xa") == size - image.HASH_SIZE
        assert _mark_at(root, "xa", boot.flash)[1] == _expected_mark(root, "xa", boot.flash)
    finally:
        flash_path.write_bytes(original)


def test_the_kconfig_option_turns_marks_off(tmp_path):
    root = _project(tmp_path, 'CONFIG_IDF_TARGET="esp32c3"\nCONFIG_ESPTOOLPY_FLASHSIZE_8MB=y\n'
                              "# CONFIG_DYNAPPS_TRUST_MARKS is not set\n")
    first = Boot(root, (root / loadcost.FLASH).read_bytes())
    second = Boot(root, first.flash)
    for app in ("xa", "xb"):
        size = len(_image(root, app))
        assert second.ok(app) and first.hashed(app) == second.hashed(app) == size - image.HASH_SIZE
    assert second.flash == first.flash == (root / loadcost.FLASH).read_bytes()  # nothing written


def test_with_required_signing_every_load_hashes_and_checks_the_signature(tmp_path):
    """Required signing turns the marks off (docs/design.md): the second boot hashes every image in
    full again and checks each signature over that hash; nothing is written to the flash."""
    root = _project(tmp_path, signed=True)
    first = Boot(root, (root / loadcost.FLASH).read_bytes())
    second = Boot(root, first.flash)
    signed_hash = image.HASH_SIZE + image.SIGNATURE_SIZE  # the hash covers neither
    for app in ("xa", "xb"):
        size = len(_image(root, app))
        assert first.ok(app) and second.ok(app)
        assert first.hashed(app) == second.hashed(app) == size - signed_hash
    assert second.flash == first.flash == (root / loadcost.FLASH).read_bytes()
    # and the signature is checked on every load: a changed signature byte is refused after a boot
    last = _slot_offset(root, "xa", first.flash) + len(_image(root, "xa")) - 1
    forged = Boot(root, _patched(first.flash, last, bytes([first.flash[last] ^ 1])))
    assert "BAD_SIGNATURE" in forged.status["xa"]["status"] and forged.ok("xb")


def test_the_host_side_agrees_with_the_loaders_header():
    header = (REPO / "firmware/components/dynapps/include/dynapps_trust_mark.h").read_text()
    assert int(re.search(r"#define DYNAPPS_TRUST_MARK_MAGIC (0x[0-9A-F]+)u", header)[1], 16) == trustmark.MAGIC
    assert int(re.search(r"#define DYNAPPS_TRUST_MARK_SECTOR (\d+)u", header)[1]) == trustmark.SECTOR
    assert f"sizeof(dynapps_trust_mark_t) == {trustmark.MARK.size}" in header
    assert trustmark.decode(trustmark.encode(0x210000, 4904, bytes(range(32))))["flash_offset"] == 0x210000
    assert trustmark.decode(b"\xff" * trustmark.MARK.size) is None
