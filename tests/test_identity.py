"""App identity (issue 9, item 1): an image says which app it is and, for XIP, where it was linked;
the loader core, with the emulator port, in the real demo firmware, refuses an image in another
app's slot and an XIP image linked for another window, before anything of it runs."""

from __future__ import annotations

import re

import pytest

from dynapps import chips, image
from test_run import FLASH, _machine, _project, _slot_offsets

CHIP = "esp32c3"  # the chip of the report: fir and stats are both flash-XIP there


@pytest.fixture(scope="module")
def c3_project(tmp_path_factory):
    return _project(tmp_path_factory.mktemp("identity"), CHIP, None)


def _built(project, app: str) -> bytes:
    return (project.root / f"build/apps/{app}.dapp").read_bytes()


def _run_with(project, images: dict[str, bytes]):
    """The demo firmware run with `images` (slot name -> bytes) written over those slots."""
    flash = bytearray((project.root / FLASH).read_bytes())
    offsets = _slot_offsets(project)
    for slot, data in images.items():
        flash[offsets[slot]:offsets[slot] + len(data)] = data
    result = _machine(project, CHIP, bytes(flash)).run(timeout_s=60)
    assert result.faults == [] and result.reason == "exit", result.uart_text  # no crash
    match = re.search(r"HEAP free (\d+) before, (\d+) after", result.uart_text)
    assert match and match.group(1) == match.group(2)  # every refused load gave back what it took
    return result.uart_text


def _ran(text: str, app: str) -> bool:
    return re.search(rf"^RESULT {app} ", text, re.M) is not None


def test_xip_images_swapped_between_slots_are_refused(c3_project):
    """fir's image in stats' slot and stats' in fir's: once this loaded DYNAPPS_OK and
    fir_sine_sum(3, 200) read stats' rodata."""
    fir, stats = _built(c3_project, "fir"), _built(c3_project, "stats")
    assert image.read(fir).strategy == image.read(stats).strategy == "xip"
    text = _run_with(c3_project, {"fir": stats, "stats": fir})
    assert "LOAD-ERROR fir DYNAPPS_ERR_WRONG_SLOT" in text, text
    assert "LOAD-ERROR stats DYNAPPS_ERR_WRONG_SLOT" in text, text
    assert not _ran(text, "fir") and not _ran(text, "stats")
    assert _ran(text, "crc") and _ran(text, "abi")  # the apps in their own slots still run


def _linked_at(raw: bytes, delta: int, name: str | None = None) -> bytes:
    """The image as if linked `delta` bytes further in the instruction bus (code and exports
    moved; the bytes themselves are not relinked: the loader must refuse it unread)."""
    img = image.read(raw)
    img.code_vaddr += delta
    img.exports = [(export, vaddr + delta, flags) for export, vaddr, flags in img.exports]
    if name is not None:
        img.name = name
    return img.to_bytes()


def test_xip_image_linked_for_another_window_is_refused(c3_project):
    """Right name, wrong address: fir linked one MMU page off, and stats' image relabelled fir
    (linked for stats' slot): both refused with DYNAPPS_ERR_WRONG_ADDRESS."""
    page = chips.profile(CHIP).mmu_page_size
    fir, stats = _built(c3_project, "fir"), _built(c3_project, "stats")
    text = _run_with(c3_project, {"fir": _linked_at(fir, page)})
    assert "LOAD-ERROR fir DYNAPPS_ERR_WRONG_ADDRESS" in text, text
    assert not _ran(text, "fir") and _ran(text, "stats")
    text = _run_with(c3_project, {"fir": _linked_at(stats, 0, name="fir")})
    assert "LOAD-ERROR fir DYNAPPS_ERR_WRONG_ADDRESS" in text, text
    assert not _ran(text, "fir")


def test_built_images_carry_name_and_version(c3_project):
    for app in ("crc", "fir"):
        img = image.read(_built(c3_project, app))
        assert (img.name, img.version, img.format_version) == (app, (1, 0, 0), image.FORMAT_VERSION)
