"""The ESP-IDF build integration (firmware/components/dynapps/project_include.cmake and
dynapps_idf.cmake) under real CMake and Ninja, on a copy of examples/hello_apps.

ESP-IDF itself can't run here (no Espressif toolchain, no Kconfig tooling): tests/idf_standin/
stands in for its tools/cmake/project.cmake, calling the component's files in ESP-IDF's order and
scopes, with each idf_* / esptool_py_* function checking its arguments as the real one takes
them. Everything else is real: cmake, ninja, `python -m dynapps` (this checkout's src/), the
RISC-V compiler, the host compiler for the generated wrappers and export table.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "hello_apps"
STANDIN_IDF = REPO / "tests" / "idf_standin"
CHECKOUT_PYTHON_DIR = Path(sys.executable).parent  # `python` there runs this venv's Python


def _env() -> dict:
    env = dict(os.environ)
    env["IDF_PATH"] = str(STANDIN_IDF)
    env["PYTHONPATH"] = str(REPO / "src")
    env["PATH"] = f"{CHECKOUT_PYTHON_DIR}{os.pathsep}{env['PATH']}"  # the example's `python -m dynapps`
    return env


class IdfProject:
    def __init__(self, root: Path, python: str = sys.executable):
        self.root, self.build_dir = root, root / "build"
        self.python = python

    def configure(self, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        return self._run(["cmake", "-S", str(self.root), "-B", str(self.build_dir), "-G", "Ninja",
                          "-DIDF_TARGET=esp32c6", f"-DPYTHON={self.python}"], check, env)

    def build(self, *targets: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        arguments = ["cmake", "--build", str(self.build_dir)]
        for target in targets:
            arguments += ["--target", target]
        return self._run(arguments, check, env)

    def flash_images(self) -> list[str]:
        """What `idf.py flash` would write, as the flash target lists it (offset, image)."""
        return (self.build_dir / "flash_project_args").read_text().split("\n")[:-1]

    def _run(self, arguments: list[str], check: bool, env: dict | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(arguments, capture_output=True, text=True, env={**_env(), **(env or {})})
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result


@pytest.fixture
def example(tmp_path) -> IdfProject:
    shutil.copytree(EXAMPLE, tmp_path / "hello_apps", ignore=shutil.ignore_patterns("build", "partitions.csv"))
    return IdfProject(tmp_path / "hello_apps")


def _library_members(project: IdfProject) -> list[str]:
    library = project.build_dir / "esp-idf" / "dynapps" / "lib__idf_dynapps.a"
    return subprocess.run(["ar", "t", str(library)], capture_output=True, text=True, check=True).stdout.split()


def test_configure_generates_the_table_and_adds_every_slot_to_flash(example):
    example.configure()

    # The partition table ESP-IDF reads at configure time exists then, with both slots.
    table = (example.root / "partitions.csv").read_text()
    assert "greet,          data, 0x40,    0x200000, 0x1000," in table
    assert "scale,          data, 0x40,    0x201000, 0x1000," in table
    assert example.flash_images() == ["0x200000 apps/greet.dapp", "0x201000 apps/scale.dapp"]
    assert (example.build_dir / "flash_dependencies").read_text().split() == ["dynapps_apps"]
    assert not (example.build_dir / "apps").exists()  # configuring compiles nothing


def test_build_runs_the_apps_build_and_compiles_the_wrappers_into_the_component(example):
    example.configure()
    built = example.build()

    assert "dynapps: building the apps" in built.stdout and "SUMMARY" in built.stdout
    assert sorted(p.name for p in (example.build_dir / "apps").glob("*.dapp")) == ["greet.dapp", "scale.dapp"]
    members = _library_members(example)
    assert {"exports.c.o", "dynapps_greet.c.o", "dynapps_scale.c.o"} <= set(members), members
    assert "ninja: no work to do." in example.build().stdout  # nothing changed: nothing runs


def test_an_edited_source_rebuilds_only_through_the_build(example):
    example.configure()
    example.build()
    before = (example.build_dir / "apps" / "scale.dapp").read_bytes()
    source = example.root / "apps" / "scale" / "scale.c"
    source.write_text(source.read_text().replace("value * 2", "value * 5"))

    rebuilt = example.build()

    assert "LINK scale" in rebuilt.stdout and "LINK greet" not in rebuilt.stdout
    assert (example.build_dir / "apps" / "scale.dapp").read_bytes() != before


def test_adding_and_removing_an_app_needs_no_other_step(example):
    example.configure()
    example.build()
    shutil.copytree(example.root / "apps" / "scale", example.root / "apps" / "triple")
    manifest = example.root / "apps" / "triple" / "app.yaml"
    manifest.write_text(manifest.read_text().replace("scale(", "triple("))
    source = example.root / "apps" / "triple" / "scale.c"
    source.write_text(source.read_text().replace("scale(", "triple(").replace("* 2", "* 3"))

    example.build()  # CMake notices the new manifest, configures again, then builds

    assert example.flash_images() == ["0x200000 apps/greet.dapp", "0x201000 apps/scale.dapp",
                                      "0x202000 apps/triple.dapp"]
    assert "dynapps_triple.c.o" in _library_members(example)
    assert (example.build_dir / "apps" / "triple.dapp").is_file()

    shutil.rmtree(example.root / "apps" / "triple")
    example.build()

    assert example.flash_images() == ["0x200000 apps/greet.dapp", "0x201000 apps/scale.dapp"]
    assert "dynapps_triple.c.o" not in _library_members(example)
    assert not (example.root / "build" / "generated" / "dynapps_triple.c").exists()


def _flash_summary(result: subprocess.CompletedProcess) -> str:
    return next(line for line in result.stdout.splitlines() if line.startswith("flash-apps: wrote"))


def test_dynapps_flash_writes_only_the_changed_slots(example):
    """Without a port (idf.py gave no ESPPORT): into dynapps' emulator flash image."""
    no_port = {"ESPPORT": "", "ESPTOOL_PORT": ""}
    example.configure()
    first = example.build("dynapps-flash", env=no_port)
    assert _flash_summary(first) == "flash-apps: wrote 12288 bytes into build/emulator/flash.bin " \
                                    "(partition-table, greet, scale)"
    source = example.root / "apps" / "greet" / "greet.c"
    source.write_text(source.read_text().replace("hello", "hi"))

    second = example.build("dynapps-flash", env=no_port)

    assert "LINK greet" in second.stdout
    assert _flash_summary(second) == "flash-apps: wrote 4096 bytes into build/emulator/flash.bin (greet)"


def test_dynapps_flash_takes_the_port_idf_py_passes(example):
    """idf.py hands its -p as ESPPORT; nothing answers there, which the one error line says."""
    example.configure()

    result = example.build("dynapps-flash", check=False, env={"ESPPORT": "/dev/nonexistent-port"})

    assert result.returncode != 0
    assert "error: cannot open serial port /dev/nonexistent-port" in result.stdout + result.stderr


def test_a_firmware_not_using_the_generated_table_is_one_clear_error(example):
    defaults = example.root / "sdkconfig.defaults"
    defaults.write_text(defaults.read_text().replace('"partitions.csv"', '"my_partitions.csv"'))

    result = example.configure(check=False)

    assert result.returncode != 0
    message = " ".join(result.stderr.split())
    assert f"the firmware must use the partition table with the app slots, {example.root}/partitions.csv, " \
           f"but its sdkconfig names {example.root}/my_partitions.csv: set CONFIG_PARTITION_TABLE_CUSTOM=y and " \
           'CONFIG_PARTITION_TABLE_CUSTOM_FILENAME="partitions.csv"' in message, result.stderr


def test_an_app_error_stops_the_configure_step_with_dynapps_line(example):
    manifest = example.root / "apps" / "scale" / "app.yaml"
    manifest.write_text(manifest.read_text().replace("strategy: iram", "strategy: sideways"))

    result = example.configure(check=False)

    assert result.returncode != 0
    assert "dynapps: error: apps/scale/app.yaml:3: strategy: expected one of" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_python_without_dynapps_is_named(example, tmp_path):
    bare = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    example.python = str(bare / "bin" / "python")
    # Only the example's own `python -m dynapps component-dir` finds the package (through a shim).
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "python").write_text(f'#!/bin/sh\nPYTHONPATH={REPO / "src"} exec {sys.executable} "$@"\n')
    (shim / "python").chmod(0o755)

    result = example.configure(check=False, env={"PYTHONPATH": "", "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}"})

    assert result.returncode != 0
    message = " ".join(result.stderr.split())
    assert f"dynapps: the Python package is not installed in ESP-IDF's Python ({example.python}): " \
           f"run `{example.python} -m pip install dynapps`" in message, result.stderr


def test_the_idf_py_action_hands_idf_py_port_and_baud_to_the_target(monkeypatch):
    """idf.py's side (the example's idf_ext.py): `idf.py -p PORT -b BAUD dynapps-flash` runs the
    build target with ESPPORT/ESPBAUD, as idf.py's own `flash` does. idf.py's module
    idf_py_actions.tools is stood in for: the two functions the action calls, recording."""
    import types

    sys.path.insert(0, str(REPO / "src"))
    from dynapps import idf_ext
    calls = []
    tools = types.ModuleType("idf_py_actions.tools")
    tools.ensure_build_directory = lambda args, prog_name: calls.append(("ensure", prog_name))
    tools.run_target = lambda target, args, env: calls.append(("run", target, env))
    monkeypatch.setitem(sys.modules, "idf_py_actions", types.ModuleType("idf_py_actions"))
    monkeypatch.setitem(sys.modules, "idf_py_actions.tools", tools)

    action = idf_ext.action_extensions({}, str(EXAMPLE))["actions"]["dynapps-flash"]
    action["callback"]("dynapps-flash", types.SimpleNamespace(info_name="dynapps-flash"),
                       types.SimpleNamespace(port="/dev/ttyUSB0", baud=921600))

    assert calls == [("ensure", "dynapps-flash"),
                     ("run", "dynapps-flash", {"ESPBAUD": "921600", "ESPPORT": "/dev/ttyUSB0"})]
    assert action["order_dependencies"] == ["build"]
    command = idf_ext.flash_apps_command(["CHIP=esp32c6"], {"ESPPORT": "/dev/ttyACM0", "ESPBAUD": "460800"})
    assert command[-4:] == ["flash-apps", "CHIP=esp32c6", "PORT=/dev/ttyACM0", "BAUD=460800"]
