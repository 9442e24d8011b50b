"""End to end: apps built by scons, written by flash-apps into the emulator's flash image, loaded by
the real loader core compiled for RV32, called through the generated wrappers in the emulator at
the chip's real addresses, and compared with the same C code run on the host."""

from __future__ import annotations

import re
import shutil
import struct

import pytest

from conftest import REPO, PROJECT_FILES, Project
from dynapps import chips, emulator, idf_versions, image
import host_reference

APPS = ["abi", "crc", "dispatch", "fir", "pid", "stats"]
FIRMWARE = "build/emulator/firmware.elf"
FLASH = "build/emulator/flash.bin"


def _project(root, chip: str, strategy: str | None) -> Project:
    for relative in PROJECT_FILES:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / relative, root / relative)
    shutil.copytree(REPO / "apps", root / "apps")
    text = (root / "dynapps.yaml").read_text()
    text = re.sub(r"^chip: \S+", f"chip: {chip}", text, flags=re.M)
    # Exact comparison with the host needs the same rounding: no fused multiply-add on the FPU chip.
    (root / "dynapps.yaml").write_text(text + "cflags: [-O2, -ffp-contract=off]\n")
    if strategy:
        for manifest in (root / "apps").glob("*/app.yaml"):
            lines = [l for l in manifest.read_text().splitlines() if not l.startswith("strategy:")]
            manifest.write_text("\n".join(lines + [f"strategy: {strategy}"]) + "\n")
    project = Project(root)
    project.scons("-j2", "apps", "flash-apps", FIRMWARE)
    return project


def _machine(project: Project, chip: str, flash: bytes | None = None, idf: str | None = None) -> emulator.Machine:
    data = flash if flash is not None else (project.root / FLASH).read_bytes()
    machine = emulator.Machine(chips.profile(chip), data, idf=idf)
    machine.load_firmware(project.root / FIRMWARE)
    return machine


# XIP under each ESP-IDF release's mapping rules (idf_versions.py): the ones before 6.1 can't map at
# a chosen address, 6.1 can; IRAM under the default release.
XIP_IDF_RELEASES = ("5.5", "6.0", "6.1")
RUNS = [(chip, strategy, idf) for chip in ("esp32c3", "esp32p4") for strategy in ("iram", "xip")
        for idf in (XIP_IDF_RELEASES if strategy == "xip" else (idf_versions.DEFAULT,))]
XIP_RUNS = [run for run in RUNS if run[1] == "xip"]
IRAM_RUNS = [run for run in RUNS if run[1] == "iram"]


def _ids(run):
    return f"{run[0]}-{run[1]}-idf{run[2]}"


_PROJECTS: dict[tuple[str, str], Project] = {}


@pytest.fixture(scope="module")
def forced(request, tmp_path_factory):
    """Every example app forced to one strategy on one chip, built, flashed and run once under one
    ESP-IDF release's rules (the apps are built once per chip and strategy, the emulator firmware
    for each release)."""
    chip, strategy, idf = request.param
    if (chip, strategy) not in _PROJECTS:
        _PROJECTS[chip, strategy] = _project(tmp_path_factory.mktemp(f"{chip}-{strategy}"), chip, strategy)
    project = _PROJECTS[chip, strategy]
    project.scons(f"IDF={idf}", FIRMWARE)
    machine = _machine(project, chip, idf=idf)
    profile = machine.profile
    sram = machine.watch_exec(profile.iram.start, profile.iram.end)
    flash_window = machine.watch_exec(profile.flash_ibus.start + 0x100000, profile.flash_ibus.end)
    iram_data = machine.watch_data(profile.iram.start, profile.iram.end) if profile.i_d_offset else None
    result = machine.run(timeout_s=60)
    return chip, strategy, project, machine, result, sram, flash_window, iram_data


@pytest.mark.parametrize("forced", RUNS, indirect=True, ids=_ids)
def test_every_app_matches_the_host(forced, tmp_path):
    chip, strategy, project, machine, result, *_ = forced
    assert result.faults == [] and result.reason == "exit" and result.exit_code == 0, result.uart_text
    assert "DEMO OK: 0 failure(s)" in result.uart_text
    assert "LAZY crc crc32_compute=cbf43926 status=DYNAPPS_OK" in result.uart_text
    for app in APPS:
        assert re.search(rf"^LOADED {app} {strategy} ", result.uart_text, re.M), result.uart_text
    expected = host_reference.parse(host_reference.build_and_run(project.root, REPO, tmp_path, APPS))
    actual = host_reference.parse(result.uart_text)
    assert len(expected) >= 70
    assert host_reference.differences(actual, expected) == []
    # Callbacks into the firmware and printf from the app reached the UART as on the host.
    assert "VISIT cube 216" in result.uart_text and "dispatch: unknown command 'divide'" in result.uart_text


@pytest.mark.parametrize("forced", RUNS, indirect=True, ids=_ids)
def test_heap_returns_to_its_start(forced):
    *_, result, _sram, _flash, _iram_data = forced
    match = re.search(r"HEAP free (\d+) before, (\d+) after", result.uart_text)
    assert match and match.group(1) == match.group(2)


def _loaded(text: str) -> dict:
    return {m.group(1): dict(kv.split("=") for kv in m.group(2).split())
            for m in re.finditer(r"^LOADED (\S+) \S+ (.*)$", text, re.M)}


@pytest.mark.parametrize("forced", XIP_RUNS, indirect=True, ids=_ids)
def test_xip_runs_in_place_from_flash(forced):
    chip, strategy, project, machine, result, sram, flash_window, _ = forced
    profile = machine.profile
    # App code executed at instruction-bus flash addresses, and nothing at all executed in RAM.
    assert flash_window.count > 1000
    assert sram.count == 0
    assert not [f for f in result.faults if f.kind == "flash_write"]
    for app, info in _loaded(result.uart_text).items():
        code = int(info["code"], 16)
        assert profile.flash_ibus.contains(code), app
        img = image.read((project.root / f"build/apps/{app}.dapp").read_bytes())
        # RAM held: data + bss in the arena plus bookkeeping (a record, the export table and names),
        # never the code.
        bookkeeping = 64 + sum(12 + len(name) + 1 for name, _, _ in img.exports) + len(app) + 1
        assert int(info["ram"]) <= len(img.data) + img.bss_size + bookkeeping, app


@pytest.mark.parametrize("forced", XIP_RUNS, indirect=True, ids=_ids)
def test_summary_names_the_mapping_of_each_xip_app(forced):
    chip, strategy, project, machine, *_ = forced
    idf = machine.idf  # the release this run modelled
    text = project.scons(f"IDF={idf.name}", "apps").stdout
    for app in APPS:
        assert f"{app}: XIP, its slot mapped through the apps {idf.xip_mechanism}; firmware on ESP-IDF {idf.name}" \
            in text, text
    assert ("esp_mmu_map_virt" in idf.xip_mechanism) == (idf.name == "6.1")


@pytest.mark.parametrize("forced", IRAM_RUNS, indirect=True, ids=_ids)
def test_iram_runs_from_the_iram_alias_with_data_through_dram(forced):
    chip, strategy, project, machine, result, sram, _flash, iram_data = forced
    profile = machine.profile
    assert sram.count > 1000  # app code executed in internal RAM
    for app, info in _loaded(result.uart_text).items():
        code, data = int(info["code"], 16), int(info["data"], 16)
        assert profile.iram.contains(code), app
        assert profile.dram.contains(data), app
        # One allocation seen through two aliases: data right after the code, at its DRAM address.
        assert data == code - profile.i_d_offset + int(info["code_size"]), app
    if profile.i_d_offset:  # esp32c3: no data access at all through the IRAM alias, let alone a byte one
        assert iram_data.accesses == [], iram_data.accesses[:5]
        assert not [f for f in result.faults if f.kind == "iram_access"]


# ---- corrupted images in the flash, loaded by the real core in the emulator ----------------------

def _slot_offsets(project: Project) -> dict:
    rows = [l.split(",") for l in (project.root / "partitions.csv").read_text().splitlines()
            if l and not l.startswith("#")]
    return {r[0].strip(): int(r[3], 16) for r in rows if r[2].strip() == "0x40"}


def _rewrite(img: image.Image, **changes) -> bytes:
    for key, value in changes.items():
        setattr(img, key, value)
    return img.to_bytes(checked=False)  # the image stage would refuse some of them


def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x5A]) + data[offset + 1:]


CORRUPTIONS = {
    "code byte flipped": lambda raw, img: _flip(raw, image.HEADER_SIZE + 8),
    "hash byte flipped": lambda raw, img: _flip(raw, len(raw) - 5),
    "header byte flipped (firmware id)": lambda raw, img: _flip(raw, 56),
    "bad magic": lambda raw, img: b"XAPP" + raw[4:],
    "unsupported format version": lambda raw, img: raw[:4] + struct.pack("<H", image.FORMAT_VERSION + 1) + raw[6:],
    "wrong chip": lambda raw, img: _rewrite(img, chip_id=0x0009),
    "wrong firmware id": lambda raw, img: _rewrite(img, exports_id=img.exports_id ^ 1),
    "fix-up outside the image": lambda raw, img: _rewrite(img, fixups=img.fixups + [len(img.code) + len(img.data)]),
    "unresolved import": lambda raw, img: _rewrite(img, imports=[(n + "_x", i) for n, i in img.imports]),
    # An image larger than its 64 KB slot: only what fits was written.
    "truncated": lambda raw, img: _rewrite(img, code=img.code + bytes(0x10000))[:0x10000],
}
EXPECTED = {
    "code byte flipped": "DYNAPPS_ERR_HASH_MISMATCH",
    "hash byte flipped": "DYNAPPS_ERR_HASH_MISMATCH",
    "header byte flipped (firmware id)": "DYNAPPS_ERR_HASH_MISMATCH",
    "bad magic": "DYNAPPS_ERR_BAD_MAGIC",
    "unsupported format version": "DYNAPPS_ERR_UNSUPPORTED_VERSION",
    "wrong chip": "DYNAPPS_ERR_WRONG_CHIP",
    "wrong firmware id": "DYNAPPS_ERR_FIRMWARE_MISMATCH",
    "fix-up outside the image": "DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS",
    "unresolved import": "DYNAPPS_ERR_UNRESOLVED_IMPORT",
    "truncated": "DYNAPPS_ERR_TRUNCATED",
}
# Which app carries each corruption (fix-ups need an IRAM app with fix-ups, imports an app with imports).
ROUNDS = [
    {"crc": "code byte flipped", "dispatch": "fix-up outside the image", "fir": "wrong firmware id",
     "pid": "wrong chip", "stats": "bad magic"},
    {"crc": "unresolved import", "dispatch": "hash byte flipped", "fir": "unsupported format version",
     "pid": "truncated", "stats": "header byte flipped (firmware id)"},
]


@pytest.fixture(scope="module")
def default_project(tmp_path_factory):
    return _project(tmp_path_factory.mktemp("corrupt"), "esp32c3", None)


@pytest.mark.parametrize("round_", ROUNDS, ids=["round1", "round2"])
def test_corrupted_images_are_refused_with_their_own_code(default_project, round_):
    flash = bytearray((default_project.root / FLASH).read_bytes())
    offsets = _slot_offsets(default_project)
    for app, corruption in round_.items():
        raw = (default_project.root / f"build/apps/{app}.dapp").read_bytes()
        bad = CORRUPTIONS[corruption](raw, image.read(raw))
        flash[offsets[app]:offsets[app] + len(bad)] = bad
    result = _machine(default_project, "esp32c3", bytes(flash)).run(timeout_s=60)
    assert result.faults == [] and result.reason == "exit", result.uart_text  # no crash
    for app, corruption in round_.items():
        assert f"LOAD-ERROR {app} {EXPECTED[corruption]}" in result.uart_text, (corruption, result.uart_text)
    for app in round_:  # nothing unverified ever ran
        assert not re.search(rf"^RESULT {app} ", result.uart_text, re.M), app
    assert re.search(r"^RESULT abi ", result.uart_text, re.M)  # the intact app still runs
    match = re.search(r"HEAP free (\d+) before, (\d+) after", result.uart_text)
    assert match and match.group(1) == match.group(2)
    # A wrapper call to an app that can't be loaded returns 0 with the reason, and jumps nowhere.
    reason = EXPECTED[round_["crc"]]
    assert f"CALL-ERROR crc crc32_compute {reason}" in result.uart_text
    assert f"LAZY crc crc32_compute=00000000 status={reason}" in result.uart_text
    assert result.exit_code == len(round_) + 1
