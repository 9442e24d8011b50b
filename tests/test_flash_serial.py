"""esptool_target against tests/serial_peer.py: esptool's real code (detection, stub upload,
compressed and plain writes, MD5 checks, resets) over pyserial's socket:// to a loopback peer
that answers like the chip's ROM loader and esptool's flasher stub."""

from __future__ import annotations

import json
import random
import socket
import struct

import pytest
from serial_peer import SerialPeer

from dynapps import chips, esptool_target, flash, partitions
from dynapps.errors import DynappsError

MB = 1024 * 1024


@pytest.fixture
def peers():
    """make(chip, **options) -> a running SerialPeer; all are stopped when the test ends."""
    started: list[SerialPeer] = []

    def make(chip: str = "esp32c3", **options) -> SerialPeer:
        peer = SerialPeer(chip, **options).start()
        started.append(peer)
        return peer

    yield make
    for peer in started:
        peer.stop()


def pattern(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def two_regions() -> list[flash.Region]:
    """An app slot of random bytes (several stub blocks, barely compressible) and a small one."""
    return [flash.Region("crc", 0x200000, flash.pad_to_sector(pattern(0x11000 - 123, seed=2))),
            flash.Region("pid", 0x230000, flash.pad_to_sector(b"pid image" * 50))]


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"socket://127.0.0.1:{probe.getsockname()[1]}"


def assert_only(peer: SerialPeer, before: bytes, regions: list[flash.Region]) -> None:
    """The regions are in the peer's flash, were programmed exactly once, and nothing else changed."""
    expected = bytearray(before)
    for region in regions:
        expected[region.offset:region.offset + len(region.data)] = region.data
        assert peer.flash[region.offset:region.offset + len(region.data)] == region.data, region.label
    assert peer.flash == expected  # no byte outside the regions changed
    spans = sorted((r.offset, r.offset + len(r.data)) for r in regions)
    assert peer.written_ranges() == spans
    assert peer.bytes_written() == sum(len(r.data) for r in regions)
    assert sorted(peer.erases) == [(start, end - start) for start, end in spans]


def one_line(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text and text.strip() == text and text
    return text


# --- write_regions -------------------------------------------------------------------------------


def test_two_regions_through_the_stub(peers, capsys):
    """esptool's default path: stub upload, faster baud, compressed writes, MD5 verification."""
    before = pattern(4 * MB)
    peer = peers("esp32c3", flash_init=before)
    regions = two_regions()

    flashed = esptool_target.write_regions(peer.url, 460800, "esp32c3", regions, flash_size=4 * MB)

    assert flashed.written == flashed.on_chip == tuple(regions)  # written, then verified by esptool's MD5
    assert flashed.byte_count == sum(len(r.data) for r in regions)
    assert peer.errors == []
    assert_only(peer, before, regions)
    assert peer.connections == 1 and peer.count("SYNC") == 1  # one connection, one sync
    assert peer.stub_started == 1
    assert peer.count("GET_SECURITY_INFO") >= 1  # how esptool tells esp32c3 and later apart
    assert peer.count("CHANGE_BAUDRATE") == 1
    assert {w.command for w in peer.writes} == {"FLASH_DEFL_DATA"}
    assert peer.count("FLASH_DEFL_DATA") > 2  # the random region spans several 16 KiB stub blocks
    assert peer.count("SPI_FLASH_MD5") == len(regions)  # esptool verified each region
    out = capsys.readouterr().out
    assert "Writing 'crc' at 0x00200000" in out and "Hash of data verified" in out


def test_two_regions_through_the_rom_loader(peers):
    """no_stub: the ROM loader path (SPI_ATTACH, FLASH_BEGIN, uncompressed 1 KiB blocks)."""
    before = pattern(4 * MB, seed=3)
    peer = peers("esp32c3", flash_init=before)
    regions = two_regions()

    flashed = esptool_target.write_regions(peer.url, 115200, "esp32c3", regions, no_stub=True)

    assert flashed.written == flashed.on_chip == tuple(regions)
    assert peer.errors == []
    assert_only(peer, before, regions)
    assert peer.stub_started == 0 and peer.count("MEM_BEGIN") == 0
    assert peer.count("SPI_ATTACH") == 1 and peer.count("CHANGE_BAUDRATE") == 0
    assert {w.command for w in peer.writes} == {"FLASH_DATA"}


@pytest.mark.parametrize("chip", ["esp32c6", "esp32h2", "esp32p4"])
def test_other_chips(peers, chip):
    before = pattern(4 * MB, seed=4)
    peer = peers(chip, flash_init=before)
    regions = two_regions()
    assert esptool_target.write_regions(peer.url, 921600, chip, regions).written == tuple(regions)
    assert peer.errors == []
    assert_only(peer, before, regions)


def test_wrong_chip_is_one_line_and_writes_nothing(peers):
    peer = peers("esp32c6")
    with pytest.raises(DynappsError) as error:
        esptool_target.write_regions(peer.url, 460800, "esp32c3", two_regions())
    text = one_line(error)
    assert "ESP32-C6" in text and "esp32c3" in text
    assert peer.writes == [] and peer.erases == []
    assert not {"MEM_BEGIN", "FLASH_BEGIN", "FLASH_DEFL_BEGIN"} & set(peer.commands)
    assert peer.errors == []


def test_nothing_to_write_opens_no_connection(peers):
    peer = peers()
    assert esptool_target.write_regions(peer.url, 460800, "esp32c3", []) == esptool_target.Flashed()
    assert esptool_target.write_regions(closed_port(), 460800, "esp32c3", []).byte_count == 0  # not even opened
    peer.stop()
    assert peer.connections == 0 and peer.commands == []


@pytest.mark.parametrize("port", ["/dev/dynapps-no-such-port", "closed"])
def test_missing_port_is_one_line(port):
    port = closed_port() if port == "closed" else port
    with pytest.raises(DynappsError) as error:
        esptool_target.write_regions(port, 460800, "esp32c3", two_regions())
    assert one_line(error).startswith(f"cannot open serial port {port}: ")


def test_no_answer_is_one_line(peers):
    peer = peers(mute=True)  # a board that is not in download mode
    with pytest.raises(DynappsError) as error:
        esptool_target.write_regions(peer.url, 460800, "esp32c3", two_regions(), connect_attempts=1)
    assert one_line(error).startswith(f"no answer from a chip on {peer.url}")


def test_skip_flashed_writes_only_what_the_chip_lacks(peers):
    peer = peers()
    first, second = two_regions()
    esptool_target.write_regions(peer.url, 460800, "esp32c3", [first])
    peer.writes.clear()
    peer.erases.clear()

    flashed = esptool_target.write_regions(peer.url, 460800, "esp32c3", [first, second], skip_flashed=True)

    assert flashed.written == (second,) and flashed.byte_count == len(second.data)
    assert flashed.on_chip == (first, second)  # the first found by its MD5, the second written and verified
    assert peer.written_ranges() == [(second.offset, second.offset + len(second.data))]
    assert peer.errors == []
    assert peer.connections == 2


def test_board_with_less_flash_than_the_project(peers):
    peer = peers(flash_size=2 * MB)
    with pytest.raises(DynappsError) as error:
        esptool_target.write_regions(peer.url, 460800, "esp32c3", two_regions()[:1], flash_size=4 * MB)
    assert "2MB" in one_line(error) and peer.writes == []


@pytest.mark.parametrize("after, stub_left_running", [("no-reset", False), ("no_reset_stub", True), ("hard-reset", True)])
def test_after_modes(peers, after, stub_left_running):
    """no-reset leaves the stub for the ROM loader (FLASH_END "reboot"), no-reset-stub stays in
    the stub; a hard reset toggles RTS, which a socket does not carry, so the peer sees nothing."""
    peer = peers()
    esptool_target.write_regions(peer.url, 460800, "esp32c3", two_regions()[1:], after=after)
    peer.stop()
    assert peer.errors == []
    assert peer.stub_running is stub_left_running


@pytest.mark.parametrize("regions, message", [
    ([flash.Region("a", 0x200000, b"\xff" * 0x2000), flash.Region("b", 0x201000, b"\xff" * 0x1000)], "overlaps"),
    ([flash.Region("a", 0x3FF000, b"\xff" * 0x2000)], "past the end"),
    ([flash.Region("a", 0x200800, b"\xff" * 0x1000)], "not a multiple"),
])
def test_bad_regions_are_refused_before_connecting(peers, regions, message):
    peer = peers()
    with pytest.raises(DynappsError) as error:
        esptool_target.write_regions(peer.url, 460800, "esp32c3", regions, flash_size=4 * MB)
    assert message in one_line(error)
    peer.stop()
    assert peer.connections == 0


@pytest.mark.parametrize("options, message", [
    ({"before": "reset-please"}, "unknown before reset mode"),
    ({"after": "reboot"}, "unknown after reset mode"),
    ({"after": "soft-reset"}, "only without esptool's stub"),
    ({"baud": "fast"}, "baud rate 'fast'"),
])
def test_bad_options(options, message):
    baud = options.pop("baud", 460800)
    with pytest.raises(DynappsError) as error:
        esptool_target.write_regions(closed_port(), baud, "esp32c3", two_regions(), **options)
    assert message in one_line(error)


def test_unsupported_chip():
    with pytest.raises(DynappsError) as error:
        esptool_target.write_regions(closed_port(), 460800, "esp32s3", two_regions())
    assert "esp32s3" in one_line(error)


# --- full_flash ----------------------------------------------------------------------------------


def idf_table() -> bytes:
    rows = [partitions.Partition("nvs", 0x01, 0x02, 0x9000, 0x4000),
            partitions.Partition("otadata", 0x01, 0x00, 0xD000, 0x2000),
            partitions.Partition("ota_0", 0x00, 0x10, 0x10000, 0x100000),
            partitions.Partition("crc", 0x01, 0x40, 0x200000, 0x20000),
            partitions.Partition("pid", 0x01, 0x40, 0x230000, 0x10000)]
    return partitions.Table(tuple(rows), 4 * MB).to_binary()


def bootloader_bytes(chip: str, mode: str, freq: str, tmp_path) -> bytes:
    """A valid bootloader image (built by esptool's own image class, no SHA-256 appended) whose
    header says flash `mode`/`freq`, 4MB, for `chip`."""
    from esptool import bin_image
    from esptool.targets import CHIP_DEFS
    target = CHIP_DEFS[chip]
    image = target.BOOTLOADER_IMAGE()
    image.flash_mode = {"qio": 0, "qout": 1, "dio": 2, "dout": 3}[mode]
    image.flash_size_freq = target.FLASH_SIZES["4MB"] | target.FLASH_FREQUENCY[freq]
    load_at = chips.profile(chip).iram.start + 0x40000  # internal RAM, where a bootloader runs
    image.entrypoint, image.append_digest = load_at, False
    segment = bin_image.ImageSegment(load_at, pattern(0x1000, seed=5))
    segment.name = ".text"
    image.segments = [segment]
    path = tmp_path / f"bootloader-{mode}-{freq}.bin"
    image.save(str(path))
    return path.read_bytes()


def fake_idf_build(root, chip: str, table: bytes | None = None, table_offset: int = 0x8000):
    """An ESP-IDF build folder as `idf.py build` lays it out for a project with OTA partitions:
    small fake binaries and flasher_args.json in ESP-IDF's format (esptool_py/flasher_args.json.in:
    flash_files by offset, one named entry per file, flash_settings, extra_esptool_args). The
    bootloader's header says dout/40m: ESP-IDF's flash settings are dio/80m."""
    build = root / "firmware" / "build"
    (build / "bootloader").mkdir(parents=True)
    (build / "partition_table").mkdir()
    boot_at = f"{chips.profile(chip).bootloader_offset:#x}"
    (build / "bootloader" / "bootloader.bin").write_bytes(bootloader_bytes(chip, "dout", "40m", root))
    (build / "partition_table" / "partition-table.bin").write_bytes(table or idf_table())
    (build / "dynapps-example.bin").write_bytes(b"\xe9APP" + pattern(0x9000, seed=6))
    (build / "ota_data_initial.bin").write_bytes(b"\xff" * 0x2000)
    files = {"bootloader": (boot_at, "bootloader/bootloader.bin"), "app": ("0x10000", "dynapps-example.bin"),
             "partition-table": (f"{table_offset:#x}", "partition_table/partition-table.bin"),
             "otadata": ("0xd000", "ota_data_initial.bin")}
    args = {"write_flash_args": ["--flash_mode", "dio", "--flash_size", "4MB", "--flash_freq", "80m"],
            "flash_settings": {"flash_mode": "dio", "flash_size": "4MB", "flash_freq": "80m"},
            "flash_files": {offset: file for offset, file in files.values()},
            **{name: {"offset": offset, "file": file, "encrypted": "false"} for name, (offset, file) in files.items()},
            "extra_esptool_args": {"after": "hard_reset", "before": "default_reset", "stub": True, "chip": chip}}
    (build / "flasher_args.json").write_text(json.dumps(args, indent=4))
    return build


@pytest.mark.parametrize("chip, bootloader_at", [("esp32c3", 0x0), ("esp32p4", 0x2000)])
def test_full_flash_writes_everything_in_one_call(peers, tmp_path, chip, bootloader_at):
    before = pattern(4 * MB, seed=7)
    peer = peers(chip, flash_init=before)
    build = fake_idf_build(tmp_path, chip)
    table = flash.Region("partition-table", 0x8000, flash.pad_to_sector(idf_table()))  # the one scons apps writes
    apps = [table] + two_regions()

    flashed = esptool_target.full_flash(peer.url, 460800, chip, build, apps, table_offset=0x8000, flash_size=4 * MB)

    # esptool wrote ESP-IDF's flash settings (dio, 80m) into the bootloader's header, as idf.py flash does
    firmware = [flash.Region("bootloader", bootloader_at, flash.pad_to_sector(bootloader_bytes(chip, "dio", "80m", tmp_path))),
                table,
                flash.Region("otadata", 0xD000, b"\xff" * 0x2000),
                flash.Region("app", 0x10000, flash.pad_to_sector((build / "dynapps-example.bin").read_bytes()))]
    everything = firmware + two_regions()
    assert flashed.byte_count == sum(len(r.data) for r in everything)
    assert [r.label for r in flashed.written] == ["bootloader", "partition-table", "otadata", "app", "crc", "pid"]
    assert peer.errors == []
    assert_only(peer, before, everything)
    assert peer.connections == 1 and peer.count("SYNC") == 1
    assert peer.count("FLASH_DEFL_BEGIN") == len(everything)  # one write_flash, one download per region


def test_full_flash_refuses_a_table_offset_other_than_the_sdkconfigs(tmp_path):
    build = fake_idf_build(tmp_path, "esp32c3", table_offset=0x10000)
    with pytest.raises(DynappsError) as error:
        esptool_target.full_flash(closed_port(), 460800, "esp32c3", build, two_regions(), table_offset=0x8000)
    assert one_line(error) == (f"{build / 'flasher_args.json'}: the firmware's partition table is at 0x10000, the "
                               "sdkconfig's CONFIG_PARTITION_TABLE_OFFSET is 0x8000: rebuild the firmware (idf.py build)")


def test_full_flash_refuses_a_stale_firmware_partition_table(peers, tmp_path):
    peer = peers()
    build = fake_idf_build(tmp_path, "esp32c3")
    other = partitions.Table((partitions.Partition("factory", 0x00, 0x00, 0x10000, 0x100000),), 4 * MB).to_binary()
    apps = [flash.Region("partition-table", 0x8000, flash.pad_to_sector(other))] + two_regions()
    with pytest.raises(DynappsError) as error:
        esptool_target.full_flash(peer.url, 460800, "esp32c3", build, apps, table_offset=0x8000)
    assert "idf.py build" in one_line(error)
    peer.stop()
    assert peer.connections == 0


def test_merge_takes_the_apps_table_when_both_list_the_same_partitions():
    apps_table = flash.Region("partition-table", 0x8000, flash.pad_to_sector(idf_table()))
    idf_bytes = idf_table() + b"\0" * 0x400  # same entries and MD5, other bytes after them
    firmware = [flash.Region("partition-table", 0x8000, idf_bytes), flash.Region("firmware", 0x10000, b"\xe9" * 0x1000)]
    merged = esptool_target.merge(firmware, [apps_table] + two_regions(), 0x8000)
    assert [r.offset for r in merged] == [0x8000, 0x10000, 0x200000, 0x230000]
    assert merged[0] is apps_table


def test_full_flash_without_a_build(tmp_path):
    with pytest.raises(DynappsError) as error:
        esptool_target.full_flash(closed_port(), 460800, "esp32c3", tmp_path / "firmware" / "build", two_regions(),
                                  table_offset=0x8000)
    assert "idf.py build" in one_line(error)


def test_full_flash_firmware_for_another_chip(tmp_path):
    build = fake_idf_build(tmp_path, "esp32c6")
    with pytest.raises(DynappsError) as error:
        esptool_target.full_flash(closed_port(), 460800, "esp32c3", build, two_regions(), table_offset=0x8000)
    assert "esp32c6" in one_line(error) and "set-target esp32c3" in str(error.value)


def test_bootloader_offsets_agree_with_esptool():
    from esptool.targets import CHIP_DEFS

    for chip, profile in chips.PROFILES.items():
        assert CHIP_DEFS[chip].BOOTLOADER_FLASH_OFFSET == profile.bootloader_offset, chip


# --- the peer itself: a wrong use of the protocol must not pass ----------------------------------


def test_peer_refuses_bad_checksum_and_sequence(peers):
    from esptool.cmds import detect_chip
    from esptool.util import FatalError

    peer = peers()
    esp = detect_chip(peer.url, 115200, "no-reset", connect_attempts=1)
    try:
        esp.flash_spi_attach(0)
        esp.flash_begin(0x1000, 0x10000)
        block = b"\x00" * esp.FLASH_WRITE_SIZE
        header = struct.pack("<IIII", len(block), 0, 0, 0)
        with pytest.raises(FatalError, match="Checksum error"):
            esp.check_command("write", esp.ESP_CMDS["FLASH_DATA"], header + block, esp.checksum(block) ^ 1)
        with pytest.raises(FatalError):
            esp.flash_block(block, 1)  # sequence 1 before 0
        assert len(peer.errors) >= 2 and "checksum" in peer.errors[0]
        assert peer.bytes_written() == 0
    finally:
        esp._port.close()
