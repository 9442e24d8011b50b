"""C++ apps (docs/manifest.md, "C++ sources"): .cpp sources compiled by the toolchain's g++ with
-fno-exceptions -fno-rtti, extern "C" exports checked against DWARF, static constructors run at
load before init and destructors at unload after deinit, in both strategies, in the emulator on
esp32c3 and esp32p4; what an image can't carry (exceptions, RTTI, thread-safe statics, operator
new without the firmware's allocator) is one build error line naming the app."""

from __future__ import annotations

import re
import shutil

import pytest

from conftest import REPO, Project
from dynapps import chips, emulator

TEST_APPS = REPO / "tests" / "apps"
FIRMWARE_DIR = "firmware/cpp"


def make_project(root, chip: str, strategy: str | None = None, app: str = "cppdemo") -> Project:
    """A project with the C++ test app (forced to `strategy`) and its emulator firmware."""
    for relative in ("SConstruct", "firmware/exports.yaml", "firmware/partitions-base.csv"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / relative, root / relative)
    shutil.copytree(TEST_APPS / app, root / "apps" / app)
    if strategy:
        manifest = root / "apps" / app / "app.yaml"
        manifest.write_text(manifest.read_text() + f"strategy: {strategy}\n")
    (root / FIRMWARE_DIR).mkdir(parents=True)
    shutil.copy(TEST_APPS / "firmware" / "cpp_demo.c", root / FIRMWARE_DIR / "cpp_demo.c")
    shutil.copy(REPO / "firmware/main/demo.h", root / FIRMWARE_DIR / "demo.h")
    text = (REPO / "dynapps.yaml").read_text()
    text = re.sub(r"^chip: \S+", f"chip: {chip}", text, flags=re.M)
    text = re.sub(r"^  order: .*\n", "", text, flags=re.M)
    text = re.sub(r"(  emulator_sources:.*\n)(    - .*\n)+", rf"\1    - {FIRMWARE_DIR}/cpp_demo.c\n", text)
    (root / "dynapps.yaml").write_text(text)
    return Project(root)


def run_in_emulator(project: Project, chip: str) -> emulator.RunResult:
    project.scons("-j2", "apps", "flash-apps", "build/emulator/firmware.elf")
    machine = emulator.Machine(chips.profile(chip), (project.root / "build/emulator/flash.bin").read_bytes())
    machine.load_firmware(project.root / "build/emulator/firmware.elf")
    return machine.run(timeout_s=60)


RUNS = [(chip, strategy) for chip in ("esp32c3", "esp32p4") for strategy in ("iram", "xip")]


@pytest.mark.parametrize("chip,strategy", RUNS, ids=[f"{c}-{s}" for c, s in RUNS])
def test_cpp_app_runs_constructors_before_init_and_destructors_after_deinit(tmp_path, chip, strategy):
    project = make_project(tmp_path, chip, strategy)
    result = run_in_emulator(project, chip)
    text = result.uart_text
    assert result.faults == [] and result.reason == "exit", text
    assert "LOAD-ERROR" not in text and "CALL-ERROR" not in text, text
    events = [line for line in text.splitlines()
              if re.match(r"(CTOR|INIT|LOADED|RESULT|DEINIT|DTOR|FINI|UNLOADED) ", line)]
    assert events == [
        "CTOR first 1",  # .init_array, in source order
        "CTOR second 2",
        "INIT cppdemo constructed=2",  # init after every constructor
        f"LOADED cppdemo {strategy}",
        "RESULT constructed 2",
        "RESULT push 23",  # the template Ring<int32_t, 4>
        "RESULT sum 23",
        "RESULT scaled 42",  # a virtual call: the vtable's words were fixed up (IRAM) or linked in place (XIP)
        "DEINIT cppdemo",  # deinit before every destructor
        "DTOR second 2",  # __cxa_atexit registrations, in reverse
        "DTOR first 1",
        "FINI cppdemo",  # .fini_array
        "UNLOADED cppdemo DYNAPPS_OK",
    ], text
    assert result.exit_code == 0, text
