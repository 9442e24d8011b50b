"""Debugging loaded apps (docs/debugging.md): the demo runs in the emulator, and the addresses its
loader reports (LOADED lines) drive `dynapps decode` and `dynapps gdb-symbols` through the real
command line. The answers are checked against the app ELF's own DWARF and symbols, read by
binutils' addr2line at the link address, for an IRAM app (moved by the loader) and an XIP app."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from elftools.elf.elffile import ELFFile

from conftest import _env
from dynapps.loaded import loaded_apps
from test_run import _machine, _project

# esp32c3: IRAM and DRAM addresses of one byte differ (i_d_offset), esp32p4: they are the same.
CHIPS = ["esp32c3", "esp32p4"]
ADDR2LINE = "riscv64-unknown-elf-addr2line"


@pytest.fixture(scope="module", params=CHIPS)
def demo(request, tmp_path_factory):
    """The example apps built for one chip (default strategies: IRAM and XIP), run once."""
    chip = request.param
    project = _project(tmp_path_factory.mktemp(chip), chip, None)
    result = _machine(project, chip).run(timeout_s=60)
    assert result.reason == "exit" and result.exit_code == 0, result.uart_text
    uart = project.root / "uart.txt"
    uart.write_text(result.uart_text)
    return project, uart, {app.name: app for app in loaded_apps(result.uart_text)}


def _dynapps(project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dynapps", *args], cwd=project.root, env=_env(),
                          capture_output=True, text=True)


def _analysis(project, app: str) -> dict:
    return json.loads((project.root / "build" / "apps" / app / f"{app}.link.json").read_text())


def _elf(project, app: str):
    return project.root / "build" / "apps" / app / f"{app}.elf"


def _one_app(loaded: dict, strategy: str) -> str:
    names = sorted(name for name, app in loaded.items() if app.strategy == strategy)
    assert names, f"the demo loaded no {strategy} app: {loaded}"
    return names[0]


def _inside_an_export(project, app: str) -> tuple[str, int]:
    """The app's largest exported function and a link address halfway into it (past its first line)."""
    with open(_elf(project, app), "rb") as stream:
        symbols = ELFFile(stream).get_section_by_name(".symtab")
        sizes = {e["name"]: symbols.get_symbol_by_name(e["name"])[0]["st_size"]
                 for e in _analysis(project, app)["exports"]}
    name = max(sizes, key=sizes.get)
    vaddr = next(e["vaddr"] for e in _analysis(project, app)["exports"] if e["name"] == name)
    assert sizes[name] >= 16, sizes
    return name, vaddr + sizes[name] // 4 * 2  # halfway, on a 2-byte (compressed) instruction boundary


def _addr2line(project, app: str, link_address: int) -> tuple[str, str]:
    out = subprocess.run([ADDR2LINE, "-f", "-e", str(_elf(project, app)), hex(link_address)],
                         capture_output=True, text=True, check=True).stdout.split()
    function, where = out[0], out[1]
    return function, where.split(" ")[0]


@pytest.mark.parametrize("strategy", ["iram", "xip"])
def test_decode_names_the_function_and_line_at_a_loaded_address(demo, strategy):
    project, uart, loaded = demo
    app = _one_app(loaded, strategy)
    name, link_address = _inside_an_export(project, app)
    bias = loaded[app].code_addr - _analysis(project, app)["code_vaddr"]  # where the loader put it
    if strategy == "iram":
        assert bias != 0  # linked at the chip's IRAM offset, loaded wherever the heap had room
    else:
        assert bias == 0  # XIP code runs where it was linked
    run_address = link_address + bias
    # What a panic would print: the apps loaded at that moment (the demo lists after each load).
    moment = project.root / f"{app}.loaded.txt"
    moment.write_text(next(l for l in uart.read_text().splitlines() if l.startswith(f"LOADED {app} ")) + "\n")
    result = _dynapps(project, "decode", "--loaded", str(moment), hex(run_address))
    assert result.returncode == 0, result.stderr
    function, where = _addr2line(project, app, link_address)
    assert function == name
    file, line = where.rsplit(":", 1)
    assert int(line) > 0
    decoded = result.stdout.split()
    assert decoded[:3] == [f"{run_address:#010x}", app, name], result.stdout
    got_file, got_line = decoded[3].rsplit(":", 1)
    assert got_line == line and got_file.endswith(file.rsplit("/", 1)[-1]), (result.stdout, where)


def test_decode_says_when_an_address_is_in_no_loaded_app(demo):
    project, uart, _ = demo
    result = _dynapps(project, "decode", "--loaded", str(uart), "0x4")
    assert result.returncode == 0 and result.stdout.strip() == "0x00000004 not in a loaded app", result


def test_gdb_symbols_places_iram_sections_where_the_loader_put_them(demo):
    project, uart, loaded = demo
    result = _dynapps(project, "gdb-symbols", str(uart))
    assert result.returncode == 0, result.stderr
    commands = {line.split()[1]: line for line in result.stdout.splitlines()}
    assert len(commands) == len(loaded), result.stdout
    for app, where in loaded.items():
        elf = str(project.root / "build" / "apps" / app / f"{app}.elf")
        assert commands[elf].startswith(f"add-symbol-file {elf}")
        if where.strategy == "xip":
            assert commands[elf] == f"add-symbol-file {elf}"
            continue
        # .text starts the code the loader copied, the first data section its data: the reported addresses.
        sections = commands[elf].split(" -s ")[1:]
        assert sections[0] == f".text {where.code_addr:#x}", commands[elf]
        assert sections[1].split()[0] in (".rodata", ".data"), commands[elf]
        assert sections[1].split()[1] == f"{where.data_addr:#x}", commands[elf]


def test_name_equals_address_places_an_iram_app_like_its_loaded_line(demo):
    project, uart, loaded = demo
    app = _one_app(loaded, "iram")
    from_line = _dynapps(project, "gdb-symbols", str(uart)).stdout
    line = next(l for l in from_line.splitlines() if f"/{app}.elf" in l)
    given = _dynapps(project, "gdb-symbols", f"{app}={loaded[app].code_addr:#x}")
    assert given.returncode == 0 and given.stdout.strip() == line, (given, line)


def test_a_build_that_is_not_the_flashed_one_is_one_line(demo):
    project, _, loaded = demo
    app = _one_app(loaded, "xip")
    moved = loaded[app].code_addr + 0x100
    result = _dynapps(project, "gdb-symbols", f"{app}={moved:#x}")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"app {app}: XIP code and data run where they were linked" in result.stderr


def test_gdb_symbols_reads_a_log_from_stdin(demo):
    project, uart, loaded = demo
    from_file = _dynapps(project, "gdb-symbols", str(uart))
    piped = subprocess.run([sys.executable, "-m", "dynapps", "gdb-symbols"], cwd=project.root, env=_env(),
                           input=uart.read_text(), capture_output=True, text=True)
    assert piped.returncode == 0 and piped.stdout == from_file.stdout and len(piped.stdout.splitlines()) == len(loaded)
