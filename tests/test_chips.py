"""Chip profiles: stated facts only, derived facts computed once, and the slot partition
constants the Python build writes agreeing with the C header the loader's ports read."""

from __future__ import annotations

import ast
import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dynapps import chips, partitions

REPO = Path(__file__).resolve().parent.parent
COMPONENT = REPO / "firmware" / "components" / "dynapps"
PARTITION_HEADER = COMPONENT / "include" / "dynapps_partition.h"
PORTS = [COMPONENT / "port" / "esp-idf" / "dynapps_port_idf.c",
         COMPONENT / "port" / "emulator" / "dynapps_port_emulator.c"]

# Expressions that compute a chip fact from a profile's fields, with their one home: a property
# or function of chips.py (or, for compiler flags, toolchain.py). Found anywhere else in the build
# (src/, tools/, bench/) it is a second copy.
DERIVED_FACT_EXPRESSIONS = {
    "rodata delta (ChipProfile.rodata_delta)": ("chips.py", r"flash_dbus\.start\s*-\s*[\w.]*flash_ibus\.start"),
    "plain -march (ChipProfile.plain_march)": ("chips.py", r"march\.split\("),
    "emulator scratch page (ChipProfile.flash_scratch_vaddr / emulator_firmware_flash_size)":
        ("chips.py", r"flash_data_view_from\s*-"),
    "XIP address of a flash offset (ChipProfile.xip_vaddr)": ("chips.py", r"flash_ibus\.start\s*\+"),
    "chip-id map (chips.chip_names)": ("chips.py", r"\.chip_id\s*:"),
    "slot alignment (ChipProfile.slot_alignment)": ("chips.py", r"mmu_page_size\s+if\b"),
    "SRAM alias address (ChipProfile.dram_address / iram_address)": ("chips.py", r"[-+]\s*[\w.]*i_d_offset\b"),
    "word-only IRAM alias (ChipProfile.iram_alias_words_only)":
        ("chips.py", r"i_d_offset\s+and\s+not\s+[\w.]*iram_byte_access"),
    "-march written per chip (ChipProfile.plain_march, .mabi)": ("chips.py", r"[\"']-march=rv32"),
    "Debian GCC's arch flags (toolchain.debian_arch_flags)": ("toolchain.py", r"-misa-spec="),
}


def _build_sources() -> list[Path]:
    sources = sorted((REPO / "src" / "dynapps").rglob("*.py"))
    return sources + sorted((REPO / "tools").glob("*.py")) + sorted((REPO / "bench").glob("*.py"))


def _code_lines(path: Path):
    """(number, line) of the code in `path`: comment lines and docstrings, which may describe a
    rule, are left out."""
    text = path.read_text()
    prose: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            prose.update(range(body[0].lineno, body[0].end_lineno + 1))
    for number, line in enumerate(text.splitlines(), 1):
        if number not in prose and not line.lstrip().startswith("#"):
            yield number, line


def test_derived_chip_facts_are_computed_only_in_their_home():
    copies = []
    for path in _build_sources():
        for number, line in _code_lines(path):
            for fact, (home, pattern) in DERIVED_FACT_EXPRESSIONS.items():
                if path.name != home and re.search(pattern, line):
                    copies.append(f"{path.relative_to(REPO)}:{number}: {fact}: {line.strip()}")
    assert not copies, "derived chip facts computed outside their home:\n" + "\n".join(copies)


def test_derived_facts_follow_from_the_stated_ones():
    c3, c6, p4 = chips.profile("esp32c3"), chips.profile("esp32c6"), chips.profile("esp32p4")
    assert c3.rodata_delta == 0x3C000000 - 0x42000000 and c6.rodata_delta == 0 == p4.rodata_delta
    assert (c3.plain_march, c6.plain_march, p4.plain_march) == ("rv32imc", "rv32imac", "rv32imafc")
    assert c3.xip_vaddr(0x200000) == 0x42200000 and p4.xip_vaddr(0x200000) == 0x40200000
    assert (c3.slot_alignment(True), c3.slot_alignment(False)) == (0x10000, chips.FLASH_SECTOR)
    # the page just under the flash data view (1 MiB), on the data bus
    assert c3.flash_scratch_vaddr == 0x3C0F0000 and c6.flash_scratch_vaddr == 0x420F0000
    assert c3.emulator_firmware_flash_size == 0xF0000
    assert (c3.dram_address(0x40380010), c3.iram_address(0x3FC80010)) == (0x3FC80010, 0x40380010)
    assert (p4.dram_address(0x4FF00010), p4.iram_address(0x4FF00010)) == (0x4FF00010, 0x4FF00010)
    assert c3.iram_alias_words_only and not c6.iram_alias_words_only and not p4.iram_alias_words_only
    assert chips.chip_names() == {0x05: "esp32c3", 0x0D: "esp32c6", 0x10: "esp32h2", 0x12: "esp32p4"}


def _stated_differences(child: chips.ChipProfile, parent: chips.ChipProfile) -> set[str]:
    return {f.name for f in dataclasses.fields(child) if f.name != "parent"
            and getattr(child, f.name) != getattr(parent, f.name)}


def test_esp32h2_is_esp32c6_with_only_what_differs():
    h2, c6 = chips.profile("esp32h2"), chips.profile("esp32c6")
    assert h2.parent == "esp32c6"
    # esp32h2 has less SRAM (so the emulator's pieces move) and its own chip id; nothing else
    assert _stated_differences(h2, c6) == {"name", "chip_id", "iram", "dram", "data_arena_default", "emulator"}
    assert (h2.iram, h2.emulator.data_arena) == (chips.MemoryRegion(0x40800000, 0x40850000),
                                                 chips.MemoryRegion(0x40840000, 0x40850000))


def test_a_derived_profile_may_not_restate_its_parent():
    c6 = chips.profile("esp32c6")
    with pytest.raises(chips.ProfileError, match=r"esp32x: march, mmu_page_size restate\(s\) esp32c6"):
        c6.derive(name="esp32x", chip_id=0x99, march=c6.march, mmu_page_size=c6.mmu_page_size)


@pytest.mark.parametrize("change, message", [
    ({"mabi": "ilp32f"}, r"esp32c3: has_fpu=False but mabi=ilp32f"),
    ({"has_fpu": True}, r"esp32c3: has_fpu=True but mabi=ilp32"),
    ({"i_d_offset": 0}, r"esp32c3: iram 0x40380000..0x403e0000 is not dram 0x3fc80000..0x3fce0000 moved by"),
    ({"dram": chips.MemoryRegion(0x3FC80000, 0x3FCD0000)}, r"esp32c3: iram .* is not dram"),
])
def test_a_profile_refuses_facts_that_contradict_each_other(change, message):
    with pytest.raises(chips.ProfileError, match=message):
        dataclasses.replace(chips.profile("esp32c3"), **change)


# ---------------------------------------------------------------- slot subtype and table offset

def _c_header_values(tmp_path: Path, *macros: str) -> list[int]:
    """The macros' values as the C compiler sees them (the header compiled and run on the host)."""
    if shutil.which("gcc") is None:
        pytest.skip("no host gcc")
    program = tmp_path / "print_macros.c"
    formats = " ".join(["%lu"] * len(macros))
    values = ", ".join(f"(unsigned long)({m})" for m in macros)
    program.write_text(f'#include <stdio.h>\n#include "{PARTITION_HEADER.name}"\n'
                       f'int main(void) {{ printf("{formats}\\n", {values}); return 0; }}\n')
    binary = tmp_path / "print_macros"
    subprocess.run(["gcc", "-Wall", "-Werror", f"-I{PARTITION_HEADER.parent}", str(program), "-o", str(binary)],
                   check=True, capture_output=True, text=True)
    output = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout
    return [int(word) for word in output.split()]


def test_slot_subtype_and_table_offset_agree_with_the_c_header(tmp_path):
    subtype, table_offset, table_size = _c_header_values(tmp_path, "DYNAPPS_SLOT_PARTITION_SUBTYPE",
                                                         "DYNAPPS_PARTITION_TABLE_OFFSET",
                                                         "DYNAPPS_PARTITION_TABLE_MAX_SIZE")
    assert subtype == partitions.APP_SLOT_SUBTYPE
    assert table_offset == partitions.TABLE_OFFSET
    assert table_size == partitions.TABLE_MAX_SIZE


def test_the_example_firmware_reads_the_table_where_the_build_writes_it():
    defaults = (REPO / "firmware" / "sdkconfig.defaults").read_text()
    offset = re.search(r"^CONFIG_PARTITION_TABLE_OFFSET=(\w+)$", defaults, re.MULTILINE)
    assert offset and int(offset.group(1), 0) == partitions.TABLE_OFFSET


@pytest.mark.parametrize("port", PORTS, ids=lambda p: p.parent.name)
def test_the_ports_take_the_slot_constants_from_the_header(port):
    source = port.read_text()
    assert f'#include "{PARTITION_HEADER.name}"' in source
    # no value of their own: a second 0x40 / 0x8000 could drift from the header
    own = re.findall(r"^#define\s+\w+\s+\(?(?:\(\w+\))?\s*0x(?:40|8000|C00)u?\)?\s*$", source,
                     re.MULTILINE | re.IGNORECASE)
    assert not own, own
    assert "DYNAPPS_SLOT_PARTITION_SUBTYPE" in source
