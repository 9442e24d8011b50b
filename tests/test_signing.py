"""Signed images (issue 13 item 4): `scons keygen` makes an ECDSA P-256 key, every image is signed
at build time, the firmware's export table carries the public key, and the real loader core in
the emulator checks each signature through the emulator's signature device (`cryptography`).
A tampered image (a byte of its body, header or signature) is refused with its own code and never
runs; an unsigned one is refused where the firmware requires signing and loads where it does not."""

from __future__ import annotations

import hashlib
import re
import shutil

import pytest

from conftest import REPO, PROJECT_FILES, Project
from dynapps import chips, emulator, image, signing
from dynapps.errors import DynappsError

FIRMWARE = "build/emulator/firmware.elf"
FLASH = "build/emulator/flash.bin"
APPS = ["abi", "crc", "dispatch", "fir", "pid", "stats"]


def _signed_project(root, require: bool) -> Project:
    for relative in PROJECT_FILES:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / relative, root / relative)
    shutil.copytree(REPO / "apps", root / "apps")
    key = root.parent / f"{root.name}-key.pem"  # outside the project, as docs/image-format.md advises
    text = (root / "dynapps.yaml").read_text()
    (root / "dynapps.yaml").write_text(text + f"signing:\n  key: {key}\n  require: {str(require).lower()}\n")
    project = Project(root)
    made = project.scons("keygen")
    assert f"keygen: wrote the private key {key}" in made.stdout, made.stdout
    assert key.stat().st_mode & 0o077 == 0  # readable by its owner only
    again = project.scons("keygen", check=False)  # never over an existing key
    assert again.returncode != 0 and "exists already" in again.stdout + again.stderr
    project.scons("-j2", "apps", "flash-apps", FIRMWARE)
    project.key = key
    return project


@pytest.fixture(scope="module")
def required(tmp_path_factory):
    return _signed_project(tmp_path_factory.mktemp("signed") / "project", require=True)


def _run(project: Project, flash: bytes | None = None):
    data = flash if flash is not None else (project.root / FLASH).read_bytes()
    machine = emulator.Machine(chips.profile("esp32c3"), data)
    machine.load_firmware(project.root / FIRMWARE)
    return machine, machine.run(timeout_s=60)


def _slot_offsets(project: Project) -> dict:
    rows = [l.split(",") for l in (project.root / "partitions.csv").read_text().splitlines()
            if l and not l.startswith("#")]
    return {r[0].strip(): int(r[3], 16) for r in rows if r[2].strip() == "0x40"}


def test_every_image_is_signed_and_runs(required):
    key = signing.load_private_key(required.key, "key")
    public = signing.public_key(key)
    for app in APPS:
        img = image.read((required.root / f"build/apps/{app}.dapp").read_bytes())
        assert img.flags & image.FLAG_SIGNED and len(img.signature) == image.SIGNATURE_SIZE
        assert image.verify_signature(img, public), app
    exports_c = (required.root / "build/generated/exports.c").read_text()
    assert ", ".join(f"0x{b:02x}" for b in public[:13]) in exports_c  # the firmware holds the public key
    machine, result = _run(required)
    assert result.faults == [] and result.reason == "exit" and result.exit_code == 0, result.uart_text
    assert "DEMO OK: 0 failure(s)" in result.uart_text
    checked = [entry for entry in machine.signatures.log if entry[3]]
    assert len(checked) >= len(APPS) and all(point == public for _, _, point, _ in checked)


def _rehashed(raw: bytes) -> bytes:
    """The SHA-256 made to match a tampered body (what an attacker would do); signature kept."""
    hash_at = len(raw) - image.SIGNATURE_SIZE - image.HASH_SIZE
    return raw[:hash_at] + hashlib.sha256(raw[:hash_at]).digest() + raw[hash_at + image.HASH_SIZE:]


def _flip(raw: bytes, offset: int) -> bytes:
    return raw[:offset] + bytes([raw[offset] ^ 0x01]) + raw[offset + 1:]


def _unsigned(raw: bytes) -> bytes:
    img = image.read(raw)
    img.signature = b""
    return img.to_bytes()


VERSION_PATCH = 84  # a header field the loader itself ignores: only the signature protects it
TAMPERINGS = {
    "crc": ("code byte flipped, SHA-256 made to match", lambda raw: _rehashed(_flip(raw, image.HEADER_SIZE + 8)),
            "DYNAPPS_ERR_BAD_SIGNATURE"),
    "dispatch": ("header byte flipped, SHA-256 made to match", lambda raw: _rehashed(_flip(raw, VERSION_PATCH)),
                 "DYNAPPS_ERR_BAD_SIGNATURE"),
    "fir": ("signature byte flipped", lambda raw: _flip(raw, len(raw) - 20), "DYNAPPS_ERR_BAD_SIGNATURE"),
    "pid": ("signature stripped", _unsigned, "DYNAPPS_ERR_UNSIGNED"),
    "stats": ("code byte flipped", lambda raw: _flip(raw, image.HEADER_SIZE + 8), "DYNAPPS_ERR_HASH_MISMATCH"),
}


def test_tampered_and_unsigned_images_are_refused_and_never_run(required):
    flash = bytearray((required.root / FLASH).read_bytes())
    offsets = _slot_offsets(required)
    for app, (_what, tamper, _code) in TAMPERINGS.items():
        bad = tamper((required.root / f"build/apps/{app}.dapp").read_bytes())
        flash[offsets[app]:offsets[app] + len(bad)] = bad
    machine, result = _run(required, bytes(flash))
    assert result.faults == [] and result.reason == "exit", result.uart_text  # no crash
    for app, (what, _tamper, code) in TAMPERINGS.items():
        assert f"LOAD-ERROR {app} {code}" in result.uart_text, (what, result.uart_text)
        assert not re.search(rf"^RESULT {app} ", result.uart_text, re.M), (app, "ran")
    assert re.search(r"^RESULT abi ", result.uart_text, re.M)  # the intact signed app still runs
    match = re.search(r"HEAP free (\d+) before, (\d+) after", result.uart_text)
    assert match and match.group(1) == match.group(2)
    assert any(not valid for *_, valid in machine.signatures.log)  # the device said no


def test_unsigned_images_load_where_signing_is_not_required(tmp_path):
    project = _signed_project(tmp_path / "project", require=False)
    flash = bytearray((project.root / FLASH).read_bytes())
    offsets = _slot_offsets(project)
    for app in ("crc", "pid"):
        bad = _unsigned((project.root / f"build/apps/{app}.dapp").read_bytes())
        flash[offsets[app]:offsets[app] + len(bad)] = bad
    fir = (project.root / "build/apps/fir.dapp").read_bytes()  # a signed one is still checked
    bad = _flip(fir, len(fir) - 20)
    flash[offsets["fir"]:offsets["fir"] + len(bad)] = bad
    _machine, result = _run(project, bytes(flash))
    assert result.faults == [] and result.reason == "exit", result.uart_text
    assert "LOAD-ERROR crc" not in result.uart_text and "LOAD-ERROR pid" not in result.uart_text
    assert re.search(r"^RESULT crc ", result.uart_text, re.M) and re.search(r"^RESULT pid ", result.uart_text, re.M)
    assert "LOAD-ERROR fir DYNAPPS_ERR_BAD_SIGNATURE" in result.uart_text


def test_inspect_says_an_image_is_signed(required):
    import subprocess
    import sys
    from conftest import _env
    result = subprocess.run([sys.executable, "-m", "dynapps", "inspect", str(required.root / "build/apps/fir.dapp")],
                            capture_output=True, text=True, env=_env())
    assert result.returncode == 0, result.stderr
    assert re.search(r"^signature   ECDSA P-256 r\|\|s [0-9a-f]{16}\.\.\.[0-9a-f]{16}$", result.stdout, re.M), result.stdout


# ---- a user's mistake is one error line -----------------------------------------------------------

def _single_error_line(result) -> str:
    from test_manifest_errors import single_error_line
    return single_error_line(result)


def test_keygen_without_a_key_path(empty_project):
    message = _single_error_line(empty_project.scons("keygen", check=False))
    assert "keygen: no key path: set signing.key in dynapps.yaml" in message


@pytest.mark.parametrize("content, expected", [
    (None, "does not exist: run `scons keygen` to make one"),
    (b"not a key\n", "is not an unencrypted PEM private key"),
])
def test_a_signing_key_that_is_missing_or_not_a_key(example_project, tmp_path, content, expected):
    key = tmp_path / "signing.pem"
    if content is not None:
        key.write_bytes(content)
    project_file = example_project.root / "dynapps.yaml"
    project_file.write_text(project_file.read_text() + f"signing:\n  key: {key}\n")
    message = _single_error_line(example_project.scons("apps", check=False))
    assert f"signing key: '{key}' {expected}" in message, message


def test_signing_require_must_be_a_boolean(empty_project):
    project_file = empty_project.root / "dynapps.yaml"
    text = project_file.read_text()
    project_file.write_text(text + "signing:\n  require: yes please\n")
    message = _single_error_line(empty_project.scons("apps", check=False))
    line = text.count("\n") + 2
    assert message.startswith(f"dynapps.yaml:{line}:") and "signing.require: expected true or false" in message, message


def test_a_signed_image_built_again_is_byte_for_byte_the_same(tmp_path):
    """Signatures are deterministic (RFC 6979): an image rebuilt from the same bytes (here after an
    export is appended to the firmware's table, which rebuilds every image) keeps its signature,
    so flash-apps has nothing to rewrite."""
    project = _signed_project(tmp_path / "project", require=True)
    images = {p.name: p.read_bytes() for p in (project.root / "build/apps").glob("*.dapp")}
    exports = project.root / "firmware/exports.yaml"
    exports.write_text(exports.read_text() + "  - strchr\n")
    again = project.scons("-j2", "apps", "flash-apps", FIRMWARE)
    assert re.search(r"flash-apps: wrote 0 bytes into \S+ \(nothing changed\)", again.stdout), again.stdout
    assert {p.name: p.read_bytes() for p in (project.root / "build/apps").glob("*.dapp")} == images
    _machine, result = _run(project)
    assert "DEMO OK: 0 failure(s)" in result.uart_text, result.uart_text


def test_pushes_are_checked_like_slots(required):
    """The live agent loads a pushed image through the loader's own verification: with signing
    required, a pushed image that was tampered with or stripped of its signature is refused and
    never runs; the signed one loads and answers (issue 13: "from flash slots and pushes alike")."""
    from dynapps import remote
    from dynapps.emulator.bridge import LiveEmulator

    required.scons("live-firmware")
    raw = (required.root / "build/apps/crc.dapp").read_bytes()
    live = LiveEmulator("esp32c3", required.root / "build/emulator/live/firmware.elf",
                            (required.root / FLASH).read_bytes()).start()
    try:
        with remote.connect(live.port, project=required.root, on_log=None) as device:
            for bad, code in ((_rehashed(_flip(raw, image.HEADER_SIZE + 8)), "DYNAPPS_ERR_BAD_SIGNATURE"),
                              (_flip(raw, len(raw) - 20), "DYNAPPS_ERR_BAD_SIGNATURE"),
                              (_unsigned(raw), "DYNAPPS_ERR_UNSIGNED")):
                with pytest.raises(DynappsError, match=code):
                    device.push(bad)
                assert device.hello().apps == ()  # nothing of it was loaded
            assert device.push(raw).name == "crc"
            assert [a.name for a in device.hello().apps] == ["crc"]
    finally:
        result = live.stop()
    assert not result.faults, result.faults
