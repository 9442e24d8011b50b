"""The emulator machine (src/dynapps/emulator.py) and the emulator firmware's
platform and port, with small RV32 programs compiled here.

Needs riscv64-unknown-elf-gcc and picolibc (Debian packages) and unicorn + pyelftools.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TOOLS = REPO / "src"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))

pytest.importorskip("unicorn")
pytest.importorskip("elftools")

from dynapps import chips, emulator  # noqa: E402

GCC = "riscv64-unknown-elf-gcc"
if not shutil.which(GCC):
    pytest.skip(f"{GCC} not installed", allow_module_level=True)

ALL_CHIPS = chips.names()
ALIASED_CHIPS = [n for n in ALL_CHIPS if chips.profile(n).i_d_offset and not chips.profile(n).iram_byte_access]
FPU_CHIPS = [n for n in ALL_CHIPS if chips.profile(n).has_fpu]
NO_FPU_CHIPS = [n for n in ALL_CHIPS if not chips.profile(n).has_fpu]

APP_SLOT = 0x200000  # flash offset of the test slot ("alpha")
RV_RET = 0x00008067


def rv_li_a0(value: int) -> int:
    return 0x00000513 | (value << 20)


# ---------------------------------------------------------------- building test firmware

_BUILD_CACHE: dict[str, Path] = {}


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("emu_build")


def build(build_dir: Path, chip: str, source: str, *, port: bool = False, extra=(), cflags=()) -> Path:
    """Compile `source` (C text) with the emulator platform (and the port) for `chip`; `cflags`
    are added to every compile (e.g. -DDYNAPPS_EMU_SOFTWARE_SHA=1)."""
    key = hashlib.sha256(f"{chip}\0{source}\0{port}\0{extra}\0{cflags}".encode()).hexdigest()[:16]
    if key in _BUILD_CACHE:
        return _BUILD_CACHE[key]
    out = build_dir / f"{chip}-{key}"
    out.mkdir()
    spec = emulator.firmware_link_spec(chips.profile(chip), out / "fw.ld")
    (out / "main.c").write_text(source)
    ours = spec["sources" if port else "platform_sources"] + [str(out / "main.c")]
    objects = []
    for index, src in enumerate(ours + [str(e) for e in extra]):
        obj = out / f"{index}-{Path(src).name}.o"
        strict = ["-Werror"] if src in ours else []  # others' code (loader core) is not judged here
        run([GCC, "-O2", "-g", "-Wall", "-Wextra", *strict, *spec["cflags"], *cflags, "-c", src, "-o", str(obj)])
        objects.append(str(obj))
    elf = out / "fw.elf"
    run([GCC, "-o", str(elf), *objects, *spec["ldflags"]])
    _BUILD_CACHE[key] = elf
    return elf


def run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise AssertionError(f"{' '.join(command)}\n{result.stdout}{result.stderr}")


def machine_for(chip: str, elf: Path, flash: bytes = b"", **options) -> emulator.Machine:
    machine = emulator.Machine(chips.profile(chip), flash, **options)
    machine.load_firmware(elf)
    return machine


def partition_entry(label: str, type_: int, subtype: int, offset: int, size: int) -> bytes:
    return struct.pack("<HBBII16sI", 0x50AA, type_, subtype, offset, size, label.encode(), 0)


def flash_image() -> bytes:
    """Partition table at 0x8000 (ESP-IDF layout) with two app slots, code at the first slot."""
    table = (partition_entry("nvs", 1, 2, 0x9000, 0x6000)
             + partition_entry("factory", 0, 0, 0x10000, 0x1F0000)
             + partition_entry("alpha", 1, 0x40, APP_SLOT, 0x10000)
             + partition_entry("exactly16chars__", 1, 0x40, 0x210000, 0x1000)
             + b"\xeb\xeb" + b"\xff" * 14 + bytes(16)  # the MD5 entry ends the table
             + partition_entry("after_md5", 1, 0x40, 0x220000, 0x1000))
    image = bytearray(b"\xff" * 0x220000)
    image[0x8000:0x8000 + len(table)] = table
    image[APP_SLOT:APP_SLOT + 8] = struct.pack("<II", rv_li_a0(7), RV_RET)
    image[APP_SLOT + 8:APP_SLOT + 18] = b"alpha-slot"
    image[0x210008:0x21000F] = b"sixteen"
    return bytes(image)


PRELUDE = """
#include <stdint.h>
#include <stdio.h>
#include "dynapps_emu.h"
typedef int (*int_fn)(void);
"""


# ---------------------------------------------------------------- UART, exit code, timeouts


@pytest.mark.parametrize("chip", ALL_CHIPS)
def test_uart_and_exit_code(build_dir, chip):
    elf = build(build_dir, chip, PRELUDE + """
int main(void) {
    volatile double half = 0.5;
    printf("hello %d %s %.3f %08x\\n", -42, "emu", half * 5, 0xC0FFEEu);
    return 7;
}
""")
    result = machine_for(chip, elf).run()
    assert result.uart_text == "hello -42 emu 2.500 00c0ffee\n"
    assert (result.reason, result.exit_code, result.faults) == ("exit", 7, [])
    assert result.instructions is None


def test_negative_exit_code_and_exit_function(build_dir):
    elf = build(build_dir, "esp32c6", PRELUDE + """
#include <stdlib.h>
int main(void) { puts("bye"); exit(-3); }
""")
    result = machine_for("esp32c6", elf).run()
    assert (result.exit_code, result.uart_text) == (-3, "bye\n")


def test_timeout_and_instruction_limit(build_dir):
    elf = build(build_dir, "esp32h2", PRELUDE + """
int main(void) { for (;;) { __asm__ volatile("nop"); } }
""")
    result = machine_for("esp32h2", elf).run(timeout_s=0.2)
    assert (result.reason, result.exit_code) == ("timeout", None)
    counted = machine_for("esp32h2", elf, count_instructions=True).run(max_instructions=5000, timeout_s=20)
    assert (counted.reason, counted.instructions) == ("instruction_limit", 5000)


# ---------------------------------------------------------------- flash is read-only


STORE_PROGRAM = PRELUDE + """
static const char rodata_text[] = "read-only";
int main(void) {
    uintptr_t targets[] = {
        (uintptr_t)&main,                                           /* firmware text (ibus) */
        (uintptr_t)rodata_text,                                     /* firmware rodata */
        DYNAPPS_EMU_FLASH_DBUS_BASE + 0x200000,                     /* data view of the flash */
        DYNAPPS_EMU_FLASH_IBUS_BASE + 0x300000,                     /* unmapped ibus page */
    };
    uintptr_t target = targets[TARGET];
    printf("target %08lx\\n", (unsigned long)target);
    __asm__ volatile(".globl store_site\\nstore_site: sw %0, 0(%1)" :: "r"(0x1234), "r"(target) : "memory");
    puts("store went through");
    return 0;
}
"""


@pytest.mark.parametrize("chip", ALL_CHIPS)
@pytest.mark.parametrize("target", [0, 1, 2, 3], ids=["text", "rodata", "data_view", "unmapped_ibus"])
def test_store_into_flash_window_is_caught(build_dir, chip, target):
    elf = build(build_dir, chip, STORE_PROGRAM.replace("targets[TARGET]", f"targets[{target}]"))
    machine = machine_for(chip, elf, flash_image())
    result = machine.run()
    assert result.reason == "fault" and result.exit_code is None
    assert "store went through" not in result.uart_text
    address = int(re.search(r"target ([0-9a-f]+)", result.uart_text).group(1), 16)
    [fault] = result.faults
    assert fault.kind == "flash_write"
    assert (fault.address, fault.size, fault.value) == (address, 4, 0x1234)
    assert fault.pc == machine.symbol("store_site")
    assert f"{address:#010x}" in str(fault) and f"{fault.pc:#010x}" in str(fault)


def test_data_view_shows_flash_identity(build_dir):
    for chip in ALL_CHIPS:
        profile = chips.profile(chip)
        elf = build(build_dir, chip, PRELUDE + "int main(void) { return 0; }")
        machine = machine_for(chip, elf, flash_image())
        base = profile.flash_dbus.start
        assert machine.read(base + APP_SLOT + 8, 10) == b"alpha-slot"
        assert machine.read(base + profile.emulator.flash_data_view_from, 4) == b"\xff" * 4
        with pytest.raises(Exception):  # below the data view: the firmware's part of the window
            machine.read(base + 0x8000 + profile.emulator.flash_data_view_from // 2, 4)


# ---------------------------------------------------------------- IRAM / DRAM alias


ALIAS_PROGRAM = PRELUDE + """
#define DRAM_BUF 0x%(dram_buf)x
#define IRAM_BUF (DRAM_BUF + DYNAPPS_EMU_I_D_OFFSET)
int main(void) {
    volatile uint32_t *dram = (volatile uint32_t *)DRAM_BUF;
    dram[0] = 0x%(li)08xu;             /* li a0, 55 */
    dram[1] = 0x%(ret)08xu;            /* ret */
    dynapps_emu_sync_code(IRAM_BUF, 8);
    printf("call %%d\\n", ((int_fn)IRAM_BUF)());
    volatile uint8_t *dram_bytes = (volatile uint8_t *)(DRAM_BUF + 16);
    dram[4] = 0;
    dram_bytes[1] = 0xAB;              /* byte store through the DRAM alias */
    uint32_t word;
    __asm__ volatile(".globl word_load\\nword_load: lw %%0, 0(%%1)" : "=r"(word) : "r"(IRAM_BUF + 16));
    printf("word %%08lx\\n", (unsigned long)word);
    uint32_t byte;
    __asm__ volatile(".globl @LABEL@\\n@LABEL@: @ACCESS@" : "=r"(byte) : "r"(IRAM_BUF + 16 + @OFFSET@) : "memory");
    printf("access went through %%lx\\n", (unsigned long)byte);
    return 0;
}
"""


def alias_program(chip: str, access: str, label: str, offset: int = 1) -> str:
    profile = chips.profile(chip)
    source = ALIAS_PROGRAM % {"dram_buf": profile.emulator.heap.start, "li": rv_li_a0(55), "ret": RV_RET}
    return source.replace("@LABEL@", label).replace("@ACCESS@", access).replace("@OFFSET@", str(offset))


@pytest.mark.parametrize("chip", ALIASED_CHIPS)
@pytest.mark.parametrize("access,size,offset", [("lbu %0, 0(%1)", 1, 1), ("lhu %0, 0(%1)", 2, 2),
                                                ("sb %1, 0(%1)", 1, 1), ("sh %1, 0(%1)", 2, 0),
                                                ("lw %0, 0(%1)", 4, 2)],
                         ids=["lbu", "lhu", "sb", "sh", "misaligned_lw"])
def test_iram_alias_takes_words_only(build_dir, chip, access, size, offset):
    profile = chips.profile(chip)
    machine = machine_for(chip, build(build_dir, chip, alias_program(chip, access, "bad_access", offset)))
    result = machine.run()
    assert "call 55\n" in result.uart_text  # code written via DRAM runs at the IRAM alias
    assert "word 0000ab00\n" in result.uart_text  # byte store via DRAM, seen by a word load via IRAM
    assert "access went through" not in result.uart_text
    [fault] = result.faults
    assert fault.kind == "iram_access"
    assert (fault.address, fault.size) == (profile.emulator.heap.start + profile.i_d_offset + 16 + offset, size)
    assert fault.pc == machine.symbol("bad_access")


@pytest.mark.parametrize("chip", ALIASED_CHIPS)
def test_iram_alias_word_access_works_and_dram_does_not_execute(build_dir, chip):
    profile = chips.profile(chip)
    source = alias_program(chip, "lw %0, 0(%1)", "good_access", 0)
    result = machine_for(chip, build(build_dir, chip, source)).run()
    assert "access went through ab00\n" in result.uart_text
    assert (result.exit_code, result.faults) == (0, [])

    dram_buf = profile.emulator.heap.start
    elf = build(build_dir, chip, PRELUDE + f"""
int main(void) {{
    volatile uint32_t *dram = (volatile uint32_t *){dram_buf:#x};
    dram[0] = {rv_li_a0(1):#x}u; dram[1] = {RV_RET:#x}u;
    return ((int_fn){dram_buf:#x})();
}}
""")
    result = machine_for(chip, elf).run()
    [fault] = result.faults
    assert (fault.kind, fault.pc, fault.address) == ("fetch_protected", dram_buf, dram_buf)


def test_without_sync_unicorn_runs_stale_code(build_dir):
    """Why the port reports written code: Unicorn translates per alias (documents the hazard)."""
    chip = ALIASED_CHIPS[0]
    profile = chips.profile(chip)
    dram_buf = profile.emulator.heap.start
    iram_buf = dram_buf + profile.i_d_offset
    program = PRELUDE + f"""
int main(void) {{
    volatile uint32_t *dram = (volatile uint32_t *){dram_buf:#x};
    dram[0] = {rv_li_a0(1):#x}u; dram[1] = {RV_RET:#x}u;
    dynapps_emu_sync_code({iram_buf:#x}, 8);
    int first = ((int_fn){iram_buf:#x})();
    dram[0] = {rv_li_a0(2):#x}u;
    SYNC
    int second = ((int_fn){iram_buf:#x})();
    printf("%d %d\\n", first, second);
    return 0;
}}
"""
    synced = machine_for(chip, build(build_dir, chip, program.replace("SYNC", f"dynapps_emu_sync_code({iram_buf:#x}, 8);"))).run()
    assert synced.uart_text == "1 2\n"
    stale = machine_for(chip, build(build_dir, chip, program.replace("SYNC", ""))).run()
    assert stale.uart_text in ("1 1\n", "1 2\n")  # "1 1" with Unicorn 2.1.4


# ---------------------------------------------------------------- MMU


MMU_PROGRAM = PRELUDE + """
int main(void) {
    uintptr_t vaddr = DYNAPPS_EMU_FLASH_IBUS_BASE + 0x%(slot)x;
    const uint32_t exec = DYNAPPS_EMU_MMU_MAP_EXEC, page = DYNAPPS_EMU_MMU_PAGE_SIZE;
    printf("misaligned vaddr %%lu\\n", (unsigned long)dynapps_emu_mmu(exec, vaddr + 0x100, 0x%(slot)x, 64));
    printf("misaligned offset %%lu\\n", (unsigned long)dynapps_emu_mmu(exec, vaddr, 0x%(slot)x + 0x100, 64));
    printf("outside %%lu\\n", (unsigned long)dynapps_emu_mmu(exec, DYNAPPS_EMU_FLASH_IBUS_BASE + DYNAPPS_EMU_FLASH_IBUS_SIZE, 0x%(slot)x, 64));
    printf("beyond %%lu\\n", (unsigned long)dynapps_emu_mmu(exec, vaddr, dynapps_emu_flash_size(), 64));
    printf("map %%lu\\n", (unsigned long)dynapps_emu_mmu(exec, vaddr, 0x%(slot)x, 64));
    printf("overlap %%lu\\n", (unsigned long)dynapps_emu_mmu(exec, vaddr, 0x%(slot)x, page));
    printf("call %%d\\n", ((int_fn)vaddr)());
    printf("unmap %%lu\\n", (unsigned long)dynapps_emu_mmu(DYNAPPS_EMU_MMU_UNMAP, vaddr, 0, 0));
    printf("unmap again %%lu\\n", (unsigned long)dynapps_emu_mmu(DYNAPPS_EMU_MMU_UNMAP, vaddr, 0, 0));
    if (AFTER_UNMAP) {
        __asm__ volatile(".globl call_site\\ncall_site: jalr %%0" :: "r"(vaddr) : "ra", "memory");
    }
    return 0;
}
"""


@pytest.mark.parametrize("chip", ALL_CHIPS)
def test_mmu_maps_flash_executable_and_refuses_bad_requests(build_dir, chip):
    profile = chips.profile(chip)
    elf = build(build_dir, chip, (MMU_PROGRAM % {"slot": APP_SLOT}).replace("AFTER_UNMAP", "0"))
    machine = machine_for(chip, elf, flash_image())
    result = machine.run()
    expected = {"misaligned vaddr": emulator.MMU_MISALIGNED, "misaligned offset": emulator.MMU_MISALIGNED,
                "outside": emulator.MMU_OUT_OF_WINDOW, "beyond": emulator.MMU_BEYOND_FLASH,
                "map": emulator.MMU_OK, "overlap": emulator.MMU_OVERLAP, "call": 7,
                "unmap": emulator.MMU_OK, "unmap again": emulator.MMU_NOT_MAPPED}
    lines = dict(line.rsplit(" ", 1) for line in result.uart_text.splitlines())
    assert {k: int(v) for k, v in lines.items()} == expected
    assert (result.exit_code, result.faults) == (0, [])
    maps = [entry for entry in machine.mmu_log if entry[0] == emulator.MMU_MAP_EXEC and entry[4] == 0]
    assert maps == [(emulator.MMU_MAP_EXEC, profile.flash_ibus.start + APP_SLOT, APP_SLOT, 64, 0)]


@pytest.mark.parametrize("chip", ALL_CHIPS)
def test_fetch_from_unmapped_instruction_bus_faults(build_dir, chip):
    profile = chips.profile(chip)
    elf = build(build_dir, chip, (MMU_PROGRAM % {"slot": APP_SLOT}).replace("AFTER_UNMAP", "1"))
    machine = machine_for(chip, elf, flash_image())
    result = machine.run()
    assert "unmap 0\n" in result.uart_text
    [fault] = result.faults
    vaddr = profile.flash_ibus.start + APP_SLOT
    # unified windows keep the data view there (readable, not executable); split ones have nothing
    assert fault.kind in ("fetch_unmapped", "fetch_protected")
    assert (fault.address, fault.pc) == (vaddr, vaddr)
    assert fault.ra == machine.symbol("call_site") + 2 or fault.ra == machine.symbol("call_site") + 4


def test_python_mmu_api_and_data_mappings():
    for chip in ALL_CHIPS:
        profile = chips.profile(chip)
        machine = emulator.Machine(profile, flash_image())
        page = profile.mmu_page_size
        scratch = profile.flash_dbus.start + profile.emulator.flash_data_view_from - page
        assert machine.mmu_map(scratch, 0, page, executable=False) == emulator.MMU_OK
        assert machine.read(scratch + 0x8000, 2) == b"\xaa\x50"
        assert machine.mmu_map(scratch, 0, page, executable=False) == emulator.MMU_OVERLAP
        assert machine.mmu_unmap(scratch) == emulator.MMU_OK
        assert machine.mmu_map(profile.flash_ibus.start + APP_SLOT, APP_SLOT, 1) == emulator.MMU_OK
        assert machine.read(profile.flash_ibus.start + APP_SLOT + 8, 10) == b"alpha-slot"
        # another flash page right after it: free on a split instruction bus; on a unified window
        # the data view is there, and only the identity offset may become executable
        status = machine.mmu_map(profile.flash_ibus.start + APP_SLOT + page, 0, page)
        assert status == (emulator.MMU_OVERLAP if profile.unified_flash_window else emulator.MMU_OK)


def test_firmware_outside_the_memory_map_is_refused(build_dir, tmp_path):
    elf = build(build_dir, "esp32c6", PRELUDE + "volatile int in_ram = 5;\nint main(void) { return in_ram - 5; }")
    with pytest.raises(emulator.EmulatorError, match="outside"):
        machine_for("esp32c3", elf)  # an esp32c6 image: its SRAM addresses are not esp32c3's


# ---------------------------------------------------------------- FPU and traps


FPU_PROGRAM = PRELUDE + """
int main(void) {
    volatile float a = 1.5f, b = 2.25f;
    float product;
    __asm__ volatile(".globl fpu_site\\nfpu_site: fmul.s %0, %1, %2" : "=f"(product) : "f"(a), "f"(b));
    printf("product %d\\n", (int)(product * 1000));
    return 0;
}
"""


@pytest.mark.parametrize("chip", FPU_CHIPS)
def test_fpu_code_runs(build_dir, chip):
    result = machine_for(chip, build(build_dir, chip, FPU_PROGRAM)).run()
    assert (result.uart_text, result.exit_code, result.faults) == ("product 3375\n", 0, [])


@pytest.mark.parametrize("chip", NO_FPU_CHIPS)
def test_trap_handler_reports_illegal_instruction(build_dir, chip):
    elf = build(build_dir, chip, PRELUDE + """
int main(void) {
    puts("before");
    __asm__ volatile(".globl bad_site\\nbad_site: .word 0xffffffff");
    puts("after");
    return 0;
}
""")
    machine = machine_for(chip, elf)
    result = machine.run()
    site = machine.symbol("bad_site")
    assert result.uart_text == f"before\n\nTRAP mcause=0x00000002 mepc=0x{site:08x} mtval=0xffffffff\n"
    assert result.exit_code == emulator.EXIT_TRAP_BASE | 2
    [fault] = result.faults
    assert (fault.kind, fault.cause, fault.pc, fault.value) == ("exception", 2, site, 0xFFFFFFFF)


@pytest.mark.parametrize("chip", NO_FPU_CHIPS)
def test_fpu_instruction_traps_without_fpu(build_dir, chip):
    elf = build(build_dir, chip, PRELUDE + """
int main(void) {
    __asm__ volatile(".option push\\n.option arch, +f\\n.globl fpu_site\\nfpu_site: fmv.w.x ft0, zero\\n.option pop");
    return 0;
}
""")
    machine = machine_for(chip, elf)
    result = machine.run()
    assert result.exit_code == emulator.EXIT_TRAP_BASE | 2
    assert result.faults[0].pc == machine.symbol("fpu_site")


def test_ebreak_stops_the_run(build_dir):
    elf = build(build_dir, "esp32c3", PRELUDE + """
int main(void) { __asm__ volatile(".globl brk\\nbrk: ebreak"); return 0; }
""")
    machine = machine_for("esp32c3", elf)
    result = machine.run()
    [fault] = result.faults
    assert (result.reason, fault.kind, fault.pc, fault.detail) == ("fault", "invalid_instruction",
                                                                   machine.symbol("brk"), "ebreak")


# ---------------------------------------------------------------- instruction counting


COUNT_PROGRAM = PRELUDE + """
int main(void) {
    uint64_t before = dynapps_emu_instructions();
    __asm__ volatile(
        "li t0, %0\\n"
        "li t1, 1\\n"
        "sw t1, %1(t0)\\n"           /* mark 1 */
        ".rept 100\\n addi t2, t2, 1\\n .endr\\n"
        "li t3, 50\\n"
        "1: addi t3, t3, -1\\n bnez t3, 1b\\n"
        "li t1, 2\\n"
        "sw t1, %1(t0)\\n"           /* mark 2 */
        :: "i"(DYNAPPS_EMU_CTRL_BASE), "i"(DYNAPPS_EMU_REG_MARK) : "t0", "t1", "t2", "t3", "memory");
    uint64_t after = dynapps_emu_instructions();
    printf("counter %lu\\n", (unsigned long)(after - before));
    return 0;
}
"""


@pytest.mark.parametrize("chip", ALL_CHIPS)
def test_instruction_counting_is_exact_and_repeatable(build_dir, chip):
    elf = build(build_dir, chip, COUNT_PROGRAM)
    first = machine_for(chip, elf, count_instructions=True).run()
    second = machine_for(chip, elf, count_instructions=True).run()
    # after mark 1's store: 100 addi, li, 50 x (addi, bnez), li, mark 2's store
    assert first.between_marks(1, 2) == 100 + 1 + 100 + 1 + 1
    assert [m.value for m in first.marks] == [1, 2]
    assert first.instructions == second.instructions and first.marks == second.marks
    assert first.uart_text == second.uart_text
    counter = int(re.search(r"counter (\d+)", first.uart_text).group(1))
    assert 203 < counter < 203 + 20  # the firmware reads the same counter around the block
    uncounted = machine_for(chip, elf).run()
    assert uncounted.instructions is None and "counter 0\n" in uncounted.uart_text
    assert [m.instructions for m in uncounted.marks] == [None, None]


# ---------------------------------------------------------------- watches


def test_watch_exec_and_data(build_dir):
    chip = "esp32c3"
    profile = chips.profile(chip)
    buf = profile.emulator.heap.start
    elf = build(build_dir, chip, PRELUDE + f"""
__attribute__((noipa)) int add3(int x) {{ return x + 3; }}
int main(void) {{
    volatile uint8_t *bytes = (volatile uint8_t *){buf:#x};
    volatile uint32_t *words = (volatile uint32_t *){buf:#x};
    bytes[1] = 0x5A;
    uint32_t w = words[0];
    int sum = 0;
    for (int i = 0; i < 10; i++) sum += add3(i);
    return (int)(w >> 8) + sum - 0x5A - 75;
}}
""")
    machine = emulator.Machine(profile, b"")
    machine.load_firmware(elf)
    add3 = machine.symbol("add3")
    watch = machine.watch_exec(add3, add3 + 4)  # first instruction(s) of add3
    data = machine.watch_data(buf, buf + 16)
    result = machine.run()
    assert (result.exit_code, result.faults) == (0, [])
    assert watch.count >= 10 and watch.count % 10 == 0
    assert [(a.write, a.address, a.size, a.value) for a in data.accesses] == [
        (True, buf + 1, 1, 0x5A), (False, buf, 4, 0x5A00)]
    assert all(a.pc for a in data.accesses)


# ---------------------------------------------------------------- SHA-256 engine


SHA_PROGRAM = PRELUDE + """
static uint8_t buffer[320] __attribute__((aligned(4)));
int main(void) {
    for (unsigned i = 0; i < sizeof buffer; i++) buffer[i] = (uint8_t)(i * 7u + 3u);
    const struct { uintptr_t address; uint32_t size; } cases[] = {
        {(uintptr_t)buffer, 0}, {(uintptr_t)buffer + 1, 0}, {(uintptr_t)buffer, 1},
        {(uintptr_t)buffer + 1, 55}, {(uintptr_t)buffer + 2, 56}, {(uintptr_t)buffer + 3, 64},
        {(uintptr_t)buffer + 1, 119}, {(uintptr_t)buffer, 320},
        {DYNAPPS_EMU_FLASH_DBUS_BASE + 0x%(slot)x + 5, 4000},  /* the flash data view */
        {DYNAPPS_EMU_FLASH_DBUS_BASE + 0x%(slot)x, 0x20000},   /* 128 KB, over two slots */
    };
    uint8_t digest[33];
    for (unsigned c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint8_t *out = digest + (c & 1);  /* the digest may be unaligned too */
        uint64_t before = dynapps_emu_instructions();
        dynapps_emu_sha256((const void *)cases[c].address, cases[c].size, out);
        uint64_t cost = dynapps_emu_instructions() - before;
        printf("sha %%08lx %%lu %%lu ", (unsigned long)cases[c].address, (unsigned long)cases[c].size,
               (unsigned long)cost);
        for (int i = 0; i < 32; i++) printf("%%02x", out[i]);
        printf("\\n");
    }
    return 0;
}
"""


@pytest.mark.parametrize("chip", ALL_CHIPS)
def test_sha_engine_digest_equals_hashlib(build_dir, chip):
    elf = build(build_dir, chip, SHA_PROGRAM % {"slot": APP_SLOT})
    machine = machine_for(chip, elf, flash_image(), count_instructions=True)
    result = machine.run(timeout_s=60)
    assert (result.exit_code, result.faults) == (0, []), result.uart_text
    lines = re.findall(r"^sha ([0-9a-f]+) (\d+) (\d+) ([0-9a-f]{64})$", result.uart_text, re.M)
    assert len(lines) == 10, result.uart_text
    for address, size, _, digest in lines:
        address, size = int(address, 16), int(size)
        assert digest == hashlib.sha256(machine.read(address, size) if size else b"").hexdigest(), (address, size)
    assert machine.sha_log == [(int(a, 16), int(n)) for a, n, _, _ in lines]
    # a fixed cost per digest whatever the length: one for each alignment of the digest buffer
    costs = {index % 2: set() for index in range(2)}
    for index, (_, _, cost, _) in enumerate(lines):
        costs[index % 2].add(int(cost))
    assert all(len(c) == 1 for c in costs.values()) and max(max(c) for c in costs.values()) < 150, costs


SHA_FAULT_PROGRAM = PRELUDE + """
volatile uint32_t sha_source = 1, sha_size = 1;  /* .data: the test writes them before the run */
int main(void) {
    uint8_t digest[32];
    puts("before");
    dynapps_emu_sha256((const void *)(uintptr_t)sha_source, sha_size, digest);
    puts("after");
    return 0;
}
"""


def _sha_fault_cases(chip: str) -> dict:
    p, e = chips.profile(chip), chips.profile(chip).emulator
    cases = {
        "unmapped": (0x10000000, 64),
        "past 4 GiB": (0xFFFFFF00, 0x200),
        "runs off the end of SRAM": (p.dram.end - 16, 32),
        "control block": (e.control, 16),
        "flash data-bus window past the 4 MiB flash": (p.flash_dbus.start + 0x600000, 64),
    }
    if not p.unified_flash_window:
        cases["instruction-bus flash window"] = (p.flash_ibus.start + APP_SLOT, 64)
    if p.i_d_offset and not p.iram_byte_access:
        cases["IRAM alias"] = (e.heap.start + p.i_d_offset, 64)
    return cases


@pytest.mark.parametrize("chip", ALL_CHIPS)
def test_sha_engine_bad_address_is_a_fault(build_dir, chip):
    elf = build(build_dir, chip, SHA_FAULT_PROGRAM)
    for name, (address, size) in _sha_fault_cases(chip).items():
        machine = machine_for(chip, elf, b"\xff" * 0x300000)
        machine.write(machine.symbol("sha_source"), address.to_bytes(4, "little"))
        machine.write(machine.symbol("sha_size"), size.to_bytes(4, "little"))
        result = machine.run(timeout_s=20)
        assert result.uart_text == "before\n", (name, result.uart_text)
        assert result.reason == "fault", name
        [fault] = result.faults
        assert (fault.kind, fault.address, fault.size) == ("sha_read", address, size), (name, str(fault))
        assert "SHA-256" in fault.detail and f"{address:#010x}" in str(fault)
        assert machine.sha_log == [(address, size)]
    # the same firmware with a good range runs to the end
    machine = machine_for(chip, elf)
    machine.write(machine.symbol("sha_source"), chips.profile(chip).emulator.heap.start.to_bytes(4, "little"))
    result = machine.run(timeout_s=20)
    assert (result.uart_text, result.exit_code, result.faults) == ("before\nafter\n", 0, [])


def test_sha_refusal_reasons():
    machine = emulator.Machine(chips.profile("esp32c3"), b"")
    p = machine.profile
    assert machine.sha_refusal(p.dram.start, 0x1000) is None
    assert machine.sha_refusal(0x12345678, 0) is None  # nothing to read
    assert "fetches only" in machine.sha_refusal(p.flash_ibus.start, 4)
    assert "IRAM alias" in machine.sha_refusal(p.iram.start, 4)
    assert "nothing is mapped at 0x3fce0000" in machine.sha_refusal(p.dram.end - 4, 8)
    assert "4 GiB" in machine.sha_refusal(0xFFFFFFFC, 8)
    assert "control block" in machine.sha_refusal(machine.emu.control + 0x40, 4)


# ---------------------------------------------------------------- the port, in the emulator


@pytest.mark.parametrize("chip", ALL_CHIPS)
def test_port_in_emulator(build_dir, chip):
    profile = chips.profile(chip)
    source = (REPO / "tests" / "emu_fw" / "port_test.c").read_text()
    elf = build(build_dir, chip, source, port=True)
    machine = machine_for(chip, elf, flash_image(), count_instructions=True)
    result = machine.run(timeout_s=60)
    assert "FAIL" not in result.uart_text, result.uart_text
    assert re.search(r"checks \d+ failures 0", result.uart_text), result.uart_text
    assert (result.exit_code, result.faults) == (0, []), result.uart_text
    assert f"arena {profile.emulator.data_arena.start:08x} {profile.emulator.data_arena.size:08x}" \
        in result.uart_text
    assert f"heap total {profile.emulator.heap.size}" in result.uart_text
    assert f"slot alpha offset {APP_SLOT:08x} size 00010000 bytes 0x{profile.flash_dbus.start + APP_SLOT:x}" \
        in result.uart_text
    # the partition table was read through the scratch page below the data view
    scratch = profile.flash_dbus.start + profile.emulator.flash_data_view_from - profile.mmu_page_size
    assert (emulator.MMU_MAP_DATA, scratch, 0, profile.mmu_page_size, 0) in machine.mmu_log
    assert machine.symbol("dynapps_data_arena") == profile.emulator.data_arena.start
    # every mapping the port made is gone again
    assert [m.kind for m in machine.mappings if m.kind.startswith("mmu_")] == []


def test_arena_symbol_is_sized_for_the_app_build(build_dir):
    from elftools.elf.elffile import ELFFile

    profile = chips.profile("esp32c3")
    elf = build(build_dir, "esp32c3", (REPO / "tests" / "emu_fw" / "port_test.c").read_text(), port=True)
    with open(elf, "rb") as stream:
        [symbol] = ELFFile(stream).get_section_by_name(".symtab").get_symbol_by_name("dynapps_data_arena")
        assert (symbol["st_value"], symbol["st_size"]) == (profile.emulator.data_arena.start,
                                                         profile.emulator.data_arena.size)


# ---------------------------------------------------------------- consistency, command line


def test_header_registers_match_python():
    header = (REPO / "firmware" / "emulator" / "include" / "dynapps_emu.h").read_text()
    values = {name: int(value, 0) for name, value in
              re.findall(r"#define DYNAPPS_EMU_(\w+) (0x[0-9A-Fa-f]+|\d+)u?\b", header)}
    python = {"REG_" + n[4:]: getattr(emulator, n) for n in dir(emulator) if n.startswith("REG_")}
    python.update({n: getattr(emulator, n) for n in dir(emulator) if n.startswith("MMU_")})
    python.update({"ID": emulator.EMU_ID, "EXIT_TRAP_BASE": emulator.EXIT_TRAP_BASE,
                   "EXIT_PANIC": emulator.EXIT_PANIC, "SHA_DIGEST_WORDS": emulator.SHA_DIGEST_WORDS})
    for name, value in python.items():
        assert values.get(name) == value, name


def test_link_spec_contract(tmp_path):
    for chip in ALL_CHIPS:
        profile = chips.profile(chip)
        spec = emulator.firmware_link_spec(profile, tmp_path / f"{chip}.ld")
        assert Path(spec["linker_script_path"]).read_text() == spec["linker_script"]
        assert f"-T{tmp_path / f'{chip}.ld'}" in spec["ldflags"]
        assert all(Path(s).is_file() for s in spec["sources"])
        assert f"-DDYNAPPS_EMU_I_D_OFFSET={profile.i_d_offset:#x}" in spec["cflags"]
        assert f"-mabi={profile.mabi}" in spec["cflags"]
        assert f"{profile.emulator.heap.start:#010x}" in spec["linker_script"]
    assert emulator.firmware_link_spec(chips.profile("esp32c3"))["linker_script_path"] is None


def test_command_line(build_dir, tmp_path):
    elf = build(build_dir, "esp32c6", PRELUDE + 'int main(void) { printf("from cli\\n"); return 5; }')
    flash = tmp_path / "flash.bin"
    flash.write_bytes(flash_image())
    env = dict(os.environ, PYTHONPATH=str(TOOLS) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-m", "dynapps.emulator", "--chip", "esp32c6", "--firmware", str(elf),
                             "--flash", str(flash)], capture_output=True, text=True, env=env)
    assert (result.stdout, result.returncode) == ("from cli\n", 5), result.stderr


# ---------------------------------------------------------------- loader core + port, real images


LOAD_PROGRAM = PRELUDE + """
#include "dynapps.h"
int main(void) {
    size_t before = dynapps_emu_heap_free();
    for (int round = 0; round < 2; round++) {  /* the second round reuses the same RAM and window */
        dynapps_app_t *crc, *fir;
        uint32_t (*crc32)(const uint8_t *, uint32_t);
        uint32_t (*taps)(void);
        dynapps_app_info_t crc_info, fir_info;
        dynapps_emu_mark(1);
        dynapps_err_t e = dynapps_load("crc", &crc);
        dynapps_emu_mark(2);
        if (e || dynapps_find_export(crc, "crc32_compute", (void **)&crc32)) return 10 + e;
        dynapps_emu_mark(3);
        e = dynapps_load("fir", &fir);
        dynapps_emu_mark(4);
        if (e || dynapps_find_export(fir, "fir_taps", (void **)&taps)) return 40 + e;
        dynapps_get_info(crc, &crc_info);
        dynapps_get_info(fir, &fir_info);
        printf("crc %08lx at %08lx, fir taps %lu at %08lx\\n",
               (unsigned long)crc32((const uint8_t *)"123456789", 9), (unsigned long)crc_info.code_addr,
               (unsigned long)taps(), (unsigned long)fir_info.code_addr);
        if (dynapps_unload(crc) || dynapps_unload(fir)) return 70;
    }
    printf("heap back %d check %d\\n", dynapps_emu_heap_free() == before, dynapps_emu_heap_check());
    return 0;
}
"""

E2E_CHIPS = sorted({ALIASED_CHIPS[0], FPU_CHIPS[0]}) if ALIASED_CHIPS and FPU_CHIPS else ALL_CHIPS[:1]


@pytest.mark.parametrize("chip", E2E_CHIPS)
def test_loader_loads_built_apps_in_emulator(example_project, build_dir, chip):
    """scons apps + flash-apps, then the loader core with the emulator port loads an IRAM app
    (crc) and an XIP app (fir) from the flash image, twice, and gives every byte back."""
    root = example_project.root
    if not (root / "apps" / "crc").is_dir() or not (root / "apps" / "fir").is_dir():
        pytest.skip("example apps crc and fir are gone")
    example_project.scons(f"CHIP={chip}", "apps", "flash-apps")
    profile = chips.profile(chip)
    core = sorted((REPO / "firmware" / "components" / "dynapps" / "src").glob("*.c"))
    elf = build(build_dir, chip, LOAD_PROGRAM, port=True, extra=(*core, root / "build" / "generated" / "exports.c"))
    flash = (root / "build" / "emulator" / "flash.bin").read_bytes()
    machine = machine_for(chip, elf, flash, count_instructions=True)
    result = machine.run(timeout_s=120)
    assert (result.exit_code, result.faults) == (0, []), result.uart_text
    lines = result.uart_text.splitlines()
    iram_app = re.match(r"crc cbf43926 at ([0-9a-f]+), fir taps \d+ at ([0-9a-f]+)", lines[0])
    assert iram_app and lines[0] == lines[1]
    code, xip = int(iram_app.group(1), 16), int(iram_app.group(2), 16)
    assert profile.iram.contains(code) and profile.flash_ibus.contains(xip)
    assert lines[2] == "heap back 1 check 0"
    assert result.between_marks(1, 2) > 0 and result.between_marks(3, 4) > 0
    # Every load hashed its image, all but the trailing hash, with the SHA engine, straight from
    # the slot's data view: 2 rounds x (crc, fir).
    assert len(machine.sha_log) == 4
    for address, size in machine.sha_log:
        assert profile.flash_dbus.contains(address, size + 32)
        assert machine.read(address, 4) == b"DAPP"
    hashed = machine.sha_log[0][1]

    # The same with the core's software SHA-256 (the port's compile-time switch): same results,
    # the engine unused, and the hash now costs tens of instructions per byte.
    soft_elf = build(build_dir, chip, LOAD_PROGRAM, port=True, cflags=("-DDYNAPPS_EMU_SOFTWARE_SHA=1",),
                     extra=(*core, root / "build" / "generated" / "exports.c"))
    soft = machine_for(chip, soft_elf, flash, count_instructions=True)
    soft_result = soft.run(timeout_s=120)
    assert (soft_result.exit_code, soft_result.faults) == (0, []), soft_result.uart_text
    assert soft_result.uart_text == result.uart_text and soft.sha_log == []
    assert soft_result.between_marks(1, 2) - result.between_marks(1, 2) > 50 * hashed
