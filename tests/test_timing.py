"""The load and call time model (src/dynapps/timing.py): one table of per-chip constants, each
with its source, and what the emulator gives it (cache lines read from flash, bytes hashed)."""

from __future__ import annotations

import pytest

from dynapps import chips, timing


def test_every_chip_has_every_constant_with_its_source():
    assert sorted(timing.TABLE) == sorted(chips.names())
    for chip, table in timing.TABLE.items():
        for name, constant in vars(table).items():
            assert constant.value > 0 and len(constant.source) > 20, (chip, name)


def test_the_model_adds_its_parts():
    t = timing.timing("esp32c3")
    assert t.flash_line_us() == pytest.approx((20 + 32 * 8 / 4) / 80)  # 84 flash clocks per 32-byte line
    time = timing.modelled("esp32c3", instructions=1600, flash_lines=100, sha_bytes=64)
    assert time.cpu_us == pytest.approx(10.0)  # 1,600 instructions at 160 MHz
    assert time.flash_us == pytest.approx(100 * 1.05)
    assert time.sha_us == pytest.approx(2 * 64 / 90)  # 64 bytes + padding: 2 blocks at 90 MB/s
    assert time.total_us == pytest.approx(time.cpu_us + time.flash_us + time.sha_us)
    assert timing.modelled("esp32c3", 0, 0, 55).sha_us == pytest.approx(64 / 90)  # 55 B + 9 fit one block


@pytest.mark.parametrize("chip", ["esp32c3"])
def test_emulator_reports_what_a_load_reads_from_flash(example_project, chip, tmp_path):
    """The flash-read watch and the SHA engine's log see a real load: loading crc (IRAM) reads
    every line of its image once (the hash, then the copy), and the hash is of the whole image."""
    from emu_support import build, machine_for
    from dynapps import emulator

    root = example_project.root
    example_project.scons(f"CHIP={chip}", "apps", "flash-apps")
    extra = (*emulator.build_spec(chips.profile(chip)).core_sources, root / "build" / "generated" / "exports.c")
    elf = build(tmp_path, chip, "load_apps.c", port=True, extra=extra)
    machine = machine_for(chip, elf, (root / "build" / "emulator" / "flash.bin").read_bytes(), count_instructions=True)
    line = int(timing.timing(chip).cache_line_bytes.value)
    watch = machine.watch_flash_reads(line)
    result = machine.run(timeout_s=120)
    assert (result.exit_code, result.faults) == (0, []), result.uart_text
    start = next(m.instructions for m in result.marks if m.value == 1)
    end = next(m.instructions for m in result.marks if m.value == 2)
    image = (root / "build" / "apps" / "crc.dapp").stat().st_size
    (address, hashed), at = machine.sha.log[0], machine.sha.log_at[0]
    assert start <= at < end and hashed == image - 32
    lines = watch.lines_between(start, end) | set(range(address & -line, address + hashed, line))
    image_lines = set(range(address & -line, address + image, line))
    copied = watch.lines_between(start, end) & image_lines
    assert len(copied) >= (image - 64) // line  # the copy read the image through the CPU
    assert image_lines <= lines
    # besides the image: the partition table entries scanned and the firmware's export table (its
    # names and per-prefix ids), read for the first time by this first load
    assert 0 < len(lines - image_lines) <= 24, sorted(hex(l) for l in lines - image_lines)
