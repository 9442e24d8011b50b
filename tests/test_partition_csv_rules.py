"""The firmware's base partition CSV is read by the rules of ESP-IDF's gen_esp32part.py (v1.5,
ESP-IDF 5.5): every table it accepts, dynapps accepts with the same entries, and the binary is
byte for byte what it writes. The expected entries below are written out by hand from those rules."""

from __future__ import annotations

import hashlib
import re
import struct

import pytest

from dynapps import partitions

ADDER = ("#include <stdint.h>\nint32_t add(int32_t a, int32_t b) { return a + b; }\n",
         "exports:\n  - int32_t add(int32_t a, int32_t b)\n")


def _entry(name: str, type_value: int, subtype: int, offset: int, size: int, flags: int = 0) -> bytes:
    return b"\xaa\x50" + bytes([type_value, subtype]) + struct.pack("<II16sI", offset, size, name.encode(), flags)


def _table(*entries: bytes) -> bytes:
    """Entries, the MD5 entry (EB EB, 14 x FF, MD5 of the entries), 0xFF up to 0xC00 bytes."""
    body = b"".join(entries)
    body += b"\xeb\xeb" + b"\xff" * 14 + hashlib.md5(body).digest()
    return body + b"\xff" * (0xC00 - len(body))


def _read(tmp_path, text: str, bootloader_offset: int = 0) -> list[partitions.Partition]:
    path = tmp_path / "base.csv"
    path.write_text(text)
    return partitions.read_csv(path, "base.csv", bootloader_offset=bootloader_offset)


def _rows(parsed) -> list[tuple]:
    return [(p.name, p.type, p.subtype, p.offset, p.size, p.flags) for p in parsed]


def test_bootloader_and_partition_table_entries_and_tee_partitions_build_the_table_esp_idf_writes(empty_project):
    """Types bootloader (2) and partition_table (3): the primary ones sit where the chip's ROM and
    the table offset put them, whatever their fields say, and offsets after them are computed as
    if they were not there; TEE apps (tee_0 = 0x30) and TEE otadata (tee_ota = 0x90)."""
    empty_project.write("apps/adder/add.c", ADDER[0])
    empty_project.write("apps/adder/app.yaml", ADDER[1])
    empty_project.write("firmware/partitions-base.csv",
                        "# Name, Type, SubType, Offset, Size, Flags\n"
                        "bootloader, bootloader, primary, N/A, N/A,\n"
                        "partition_table, partition_table, primary, N/A, N/A,\n"
                        "nvs, data, nvs, , 0x6000,\n"
                        "tee_otadata, data, tee_ota, , 0x2000,\n"
                        "tee_0, app, tee_0, , 192K,\n"
                        "factory, app, factory, , 1M,\n")
    empty_project.scons("apps", "CHIP=esp32p4")  # p4: the second-stage bootloader at 0x2000

    expected = _table(_entry("bootloader", 2, 0x00, 0x2000, 0x6000),
                      _entry("partition_table", 3, 0x00, 0x8000, 0x1000),
                      _entry("nvs", 1, 0x02, 0x9000, 0x6000),
                      _entry("tee_otadata", 1, 0x90, 0xF000, 0x2000),
                      _entry("tee_0", 0, 0x30, 0x20000, 0x30000),
                      _entry("factory", 0, 0x00, 0x50000, 0x100000),
                      _entry("adder", 1, 0x40, 0x200000, 0x10000))
    assert (empty_project.root / "build/partition-table.bin").read_bytes() == expected
    csv_rows = [l.split(",")[:3] for l in (empty_project.root / "partitions.csv").read_text().splitlines()
                if l and not l.startswith("#")]
    assert [[c.strip() for c in row] for row in csv_rows[:2]] == [["bootloader", "bootloader", "primary"],
                                                                  ["partition_table", "partition_table", "primary"]]


def test_keywords_are_case_insensitive_and_sizes_take_k_and_m_in_either_case(tmp_path):
    parsed = _read(tmp_path, "NVS, DATA, NVS, 0x9000, 24k,\nPhy_Init, Data, PHY, , 4K,\n"
                             "factory, APP, Factory, 0x10000, 1m,\nota_1, app, OTA_1, , 0X100000,\n")
    assert _rows(parsed) == [("NVS", 1, 0x02, 0x9000, 0x6000, 0), ("Phy_Init", 1, 0x01, 0xF000, 0x1000, 0),
                             ("factory", 0, 0x00, 0x10000, 0x100000, 0), ("ota_1", 0, 0x11, 0x110000, 0x100000, 0)]


def test_an_empty_data_subtype_is_undefined_and_missing_trailing_fields_are_empty(tmp_path):
    parsed = _read(tmp_path, "scratch, data, , 0x9000, 0x3000\nraw, 0x40, 0x2, , 4K\n")
    assert _rows(parsed) == [("scratch", 1, 0x06, 0x9000, 0x3000, 0), ("raw", 0x40, 0x02, 0xC000, 0x1000, 0)]


def test_data_sizes_need_no_4k_multiple_and_readonly_is_bit_1(empty_project):
    empty_project.write("firmware/partitions-base.csv",
                        "nvs, data, nvs, 0x9000, 0x6000,\nkeys, data, nvs, , 0x1000, readonly\n"
                        "odd, data, fat, , 0x1234, encrypted\nfactory, app, factory, , 1M,\n")
    empty_project.scons("build/partition-table.bin")
    assert (empty_project.root / "build/partition-table.bin").read_bytes() == _table(
        _entry("nvs", 1, 0x02, 0x9000, 0x6000), _entry("keys", 1, 0x02, 0xF000, 0x1000, 0x2),
        _entry("odd", 1, 0x81, 0x10000, 0x1234, 0x1), _entry("factory", 0, 0x00, 0x20000, 0x100000))


PARSE_ERRORS = [
    ("empty app subtype", "factory, app, , 0x10000, 1M,\n",
     r"^base.csv:1: SubType: an app partition needs a subtype"),
    ("unknown keyword", "nvs, data, nvss, 0x9000, 0x6000,\n",
     r"^base.csv:1: SubType: expected a number or one of ota, phy, nvs, .*tee_ota, got 'nvss'"),
    ("empty type", "nvs, , nvs, 0x9000, 0x6000,\n", r"^base.csv:1: Type: expected a number or one of app, data, bootloader, partition_table, got ''$"),
    ("empty size", "nvs, data, nvs, 0x9000, ,\n", r"^base.csv:1: Size: expected a number such as 0x9000 or 24K, got ''$"),
    ("offset before the previous end", "nvs, data, nvs, 0x9000, 0x6000,\nphy, data, phy, 0xE000, 4K,\n",
     r"^partition 'phy' \(base.csv:2\) at 0xe000 overlaps 'nvs' \(base.csv:1\), which ends at 0xf000$"),
    ("rows out of flash order", "b, data, fat, 0x20000, 4K,\na, data, fat, 0x10000, 4K,\n",
     r"^partition 'a' \(base.csv:2\) at 0x10000 comes before 'b' \(base.csv:1\) in flash but after it in the file"),
    ("recovery bootloader", "recovery, bootloader, recovery, 0x400000, ,\n",
     r"^base.csv:1: SubType: a recovery bootloader's offset comes from ESP-IDF's "
     r"CONFIG_BOOTLOADER_RECOVERY_OFFSET"),
]


@pytest.mark.parametrize("case, text, message", PARSE_ERRORS, ids=[c[0] for c in PARSE_ERRORS])
def test_what_gen_esp32part_refuses_is_refused_with_the_line(tmp_path, case, text, message):
    with pytest.raises(partitions.DynappsError) as caught:
        _read(tmp_path, text)
    assert re.search(message, str(caught.value)), str(caught.value)


TABLE_ERRORS = [
    ("small read-write nvs", "nvs, data, nvs, 0x9000, 0x2000,\n",
     r"partition 'nvs' \(base.csv:1\): a read-write NVS partition needs at least 0x3000 bytes, it has 0x2000; "
     r"make it bigger or flag it readonly"),
    ("read-only otadata", "otadata, data, ota, 0x9000, 0x2000, readonly\n",
     r"partition 'otadata' \(base.csv:1\): ota partitions are always read-write: remove the readonly flag"),
    ("otadata size", "otadata, data, ota, 0x9000, 0x3000,\n",
     r"partition 'otadata' \(base.csv:1\): ota partitions are 0x2000 bytes, not 0x3000"),
    ("two otadata", "a, data, ota, 0x9000, 0x2000,\nb, data, ota, , 0x2000,\n",
     r"partition 'b' \(base.csv:2\): a second ota partition \(the first is 'a', base.csv:1\)"),
    ("app size", "factory, app, factory, 0x10000, 0x10800,\n",
     r"partition 'factory' \(base.csv:1\): an app partition's size must be a multiple of 0x1000, not 0x10800"),
]


@pytest.mark.parametrize("case, text, message", TABLE_ERRORS, ids=[c[0] for c in TABLE_ERRORS])
def test_tables_gen_esp32part_refuses_are_refused(tmp_path, case, text, message):
    with pytest.raises(partitions.DynappsError) as caught:
        partitions.check(partitions.Table(tuple(_read(tmp_path, text)), 4 * 1024 * 1024))
    assert re.search(message, str(caught.value)), str(caught.value)
