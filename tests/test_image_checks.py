"""The image stage checks every table it writes against the loader's rules (issue 9, item 3): a
bad link analysis is a build error naming the app, never an image that fails to load on a device.
Each case feeds image.from_link a real rv32 ELF and an analysis with one mistake in it."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import pytest

from dynapps import image
from dynapps.contracts import LinkAnalysis
from dynapps.errors import DynappsError

GCC = "riscv64-unknown-elf-gcc"
SLOT = 0x42200000
CODE = SLOT + image.HEADER_SIZE
DATA = 0x3FC80000
PREFIX_IDS = (0x1111, 0x2222, 0x3333)  # ids of the first 1, 2, 3 entries of a firmware export table

SOURCE = """
int counter = 7, second = 9;
int get(void) { return counter + second; }
int init(void) { counter = 1; return 0; }
"""


@pytest.fixture(scope="module")
def elf(tmp_path_factory) -> str:
    """An XIP-style ELF: code at the slot's code address, data at a RAM address."""
    if shutil.which(GCC) is None:
        pytest.skip(f"no {GCC}")
    out = tmp_path_factory.mktemp("image_checks")
    (out / "app.c").write_text(SOURCE)
    path = out / "app.elf"
    subprocess.run([GCC, "-march=rv32imc", "-mabi=ilp32", "-O1", "-ffreestanding", "-nostdlib", "-mno-relax",
                    f"-Wl,-Ttext={CODE:#x}", f"-Wl,-Tdata={DATA:#x}", "-Wl,-e,get", str(out / "app.c"), "-o", str(path)],
                   check=True)
    return str(path)


GOOD = {
    "app": "demo", "strategy": "xip", "align_log2": 0, "rodata_delta": 0,
    "code_vaddr": CODE, "code_size": 64, "data_vaddr": DATA, "data_size": 16, "bss_size": 4,
    "import_slots_vaddr": DATA + 8, "fixups": [],
    "imports": [{"name": "printf", "index": 0}, {"name": "memcpy", "index": 2}],
    "exports": [{"name": "get", "vaddr": CODE, "flags": 0}, {"name": "init", "vaddr": CODE + 8, "flags": 1}],
}


def _analysis(fields: dict) -> LinkAnalysis:
    """A case's analysis as the link stage hands it on: read from its <app>.link.json form."""
    slot = {"app": fields["app"], "flash_offset": 0x200000, "size": 0x10000, "xip_capable": True, "vaddr": SLOT,
            "ram_address": DATA, "ram_size": 1024}
    return LinkAnalysis.from_json({"format": LinkAnalysis.FORMAT, "reason": "test", "slot": slot,
                                   "sections": {"text": 0, "rodata": 0, "data": 0, "bss": 0}, **fields})


def _bad(**changes):
    analysis = copy.deepcopy(GOOD)
    analysis.update(changes)
    return analysis


def _export(name="get", vaddr=CODE, flags=0):
    return {"name": name, "vaddr": vaddr, "flags": flags}


IRAM = {"strategy": "iram", "align_log2": 4, "code_vaddr": 0x700000, "data_vaddr": 64, "import_slots_vaddr": 72,
        "exports": [_export(vaddr=0x700000)]}

CASES = {
    # the report: __dynapps_imports before the data segment's alignment padding
    "import slots at an odd address": (_bad(import_slots_vaddr=DATA + 7), "import slots at 0x3fc80007"),
    "import slots past the data": (_bad(import_slots_vaddr=DATA + 12), "are not inside the data segment"),
    "import slots before the data": (_bad(import_slots_vaddr=DATA - 4), "are not inside the data segment"),
    "empty import name": (_bad(imports=[{"name": "", "index": 0}]), "import name ''"),
    "import name with a NUL": (_bad(imports=[{"name": "pr\0f", "index": 0}]), "without NUL"),
    "export past the code": (_bad(exports=[_export(vaddr=CODE + 64)]), "outside the code segment"),
    "section longer than its segment": (_bad(code_size=16), f"section .text [{0x42200000 + image.HEADER_SIZE:#x}, "),
    "export before the code": (_bad(exports=[_export(vaddr=CODE - 2)]), "outside the code segment"),
    "two inits": (_bad(exports=[_export(flags=1), _export("again", CODE + 4, 1)]), "at most one init"),
    "init and deinit on one export": (_bad(exports=[_export(flags=3)]), "flags 3"),
    "unknown export flag": (_bad(exports=[_export(flags=8)]), "flags 8"),
    "data size not a multiple of 4": (_bad(data_size=14), "data segment is 14 bytes, not a multiple of 4"),
    "code size not a multiple of 4": (_bad(code_size=62), "code segment is 62 bytes"),
    "no code": (_bad(code_size=0, exports=[]), "code segment is empty"),
    "fix-ups in an XIP image": (_bad(fixups=[0]), "an XIP image has no fix-ups"),
    "XIP code inside the header": (_bad(code_vaddr=16, exports=[_export(vaddr=16)]), f"no room for the {image.HEADER_SIZE}-byte header"),
    "data past 4 GiB": (_bad(data_vaddr=0xFFFFFFF0, import_slots_vaddr=0xFFFFFFF0), "32-bit address space"),
    "bss too large for 32 bits": (_bad(bss_size=1 << 32), "bss size 4294967296 does not fit 32 bits"),
    "IRAM fix-up in bss": (_bad(**IRAM, fixups=[80]), "fix-up at offset 0x50"),
    "IRAM fix-up misaligned": (_bad(**IRAM, fixups=[6]), "fix-up at offset 0x6"),
    "IRAM alignment out of range": (_bad(**{**IRAM, "align_log2": 13}), "IRAM alignment 2^13"),
    "name longer than a label": (_bad(app="a" * 17), "is not 1 to 16 printable ASCII characters"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_analysis_is_a_build_error_naming_the_app(elf, case):
    analysis, message = CASES[case]
    with pytest.raises(DynappsError) as error:
        image.from_link(_analysis(analysis), elf, 5, False, PREFIX_IDS).to_bytes()
    text = str(error.value)
    assert text.startswith(f"app {analysis['app']}: ") and message in text, text


def test_version_out_of_range_is_a_build_error(elf):
    with pytest.raises(DynappsError, match=r"^app demo: version 1\.70000\.0: each of major\.minor\.patch"):
        image.from_link(_analysis(GOOD), elf, 5, False, PREFIX_IDS, "1.70000.0").to_bytes()


def test_good_analysis_round_trips(elf):
    raw = image.from_link(_analysis(GOOD), elf, 5, False, PREFIX_IDS, "2.5.11").to_bytes()
    img = image.read(raw)
    assert (img.name, img.version, img.strategy, img.code_vaddr) == ("demo", (2, 5, 11), "xip", CODE)
    assert img.imports == [("printf", 0), ("memcpy", 2)] and img.exports[1] == ("init", CODE + 8, 1)
    assert len(img.data) == 16 and sorted(img.data[:8:4]) == [7, 9]  # the initialised data, from the ELF
