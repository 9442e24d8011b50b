"""The no-op shortcut (uptodate.py, scons_uptodate.py) through the real scons: a `scons apps` with
nothing changed since the last complete one stops before reading the project, and every kind of
change it could hide makes the next run a full one that rebuilds what changed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from dynapps import uptodate

SHORTCUT = uptodate.SHORTCUT_MESSAGE
STEP = re.compile(r"^((?:CC|LINK|IMAGE) \S+)$", re.M)


def _app(project, name: str, value: int, header: str = "") -> None:
    include, gain = (f'#include "{header}"\n', " * GAIN") if header else ("", "")
    project.write(f"apps/{name}/{name}.c",
                  f"#include <stdint.h>\n{include}int32_t {name}_value(void) {{ return {value}{gain}; }}\n")
    project.write(f"apps/{name}/app.yaml", f"exports:\n  - int32_t {name}_value(void)\n")


def _age(project) -> None:
    """Date every project file a few seconds back: what the record trusts is older than the run
    (a file modified moments before a run is racy, uptodate.py)."""
    past = time.time() - 10
    for path in project.root.rglob("*"):
        if path.is_file() and "build" not in path.relative_to(project.root).parts:
            os.utime(path, (past, past))


def _build(project, *args: str):
    result = project.scons(*args, "apps") if "apps" not in args else project.scons(*args)
    return result, STEP.findall(result.stdout)


@pytest.fixture
def recorded(empty_project):
    """A one-app project after a complete build that wrote the record."""
    _app(empty_project, "alpha", 1, header="alpha_gain.h")
    empty_project.write("apps/alpha/alpha_gain.h", "#define GAIN 2\n")
    _age(empty_project)
    result, steps = _build(empty_project)
    assert steps == ["CC apps/alpha/alpha.c", "LINK alpha", "IMAGE alpha.dapp"], result.stdout
    assert (empty_project.root / "build/uptodate.json").is_file()
    return empty_project


def test_a_no_op_after_a_complete_build_takes_the_shortcut(recorded):
    result, steps = _build(recorded)
    assert SHORTCUT in result.stdout and "`apps' is up to date." in result.stdout and steps == []
    recorded.write("apps/alpha/.alpha.c.swp", "an editor's swap file")  # no input: still nothing to do
    recorded.write("apps/alpha/alpha.c~", "an editor's backup")
    assert SHORTCUT in _build(recorded)[0].stdout
    result, _ = _build(recorded, "-j2", "-Q")  # options that change only the output or the jobs
    assert "`apps' is up to date." in result.stdout and SHORTCUT not in result.stdout  # -Q: quiet
    assert STEP.findall(result.stdout) == []


@pytest.mark.parametrize("change, rebuilt", [
    ("edit a source", ["CC apps/alpha/alpha.c", "LINK alpha", "IMAGE alpha.dapp"]),
    ("edit a header the scanner found", ["CC apps/alpha/alpha.c", "LINK alpha", "IMAGE alpha.dapp"]),
    ("delete an image", ["IMAGE alpha.dapp"]),
    ("touch a source", []),
    ("add an app", ["CC apps/beta/beta.c", "LINK beta", "IMAGE beta.dapp"]),
    ("add a source to an app", ["CC apps/alpha/alpha_more.c", "LINK alpha"]),  # unused: the same image
    ("add an sdkconfig", "LINK alpha"),
    ("another CHIP", "CC apps/alpha/alpha.c"),
])
def test_every_change_makes_a_full_run(recorded, change, rebuilt):
    root = recorded.root
    args = []
    if change == "edit a source":
        (root / "apps/alpha/alpha.c").write_text((root / "apps/alpha/alpha.c").read_text().replace("return 1", "return 3"))
    elif change == "edit a header the scanner found":
        (root / "apps/alpha/alpha_gain.h").write_text("#define GAIN 3\n")
    elif change == "delete an image":
        (root / "build/apps/alpha.dapp").unlink()
    elif change == "touch a source":
        os.utime(root / "apps/alpha/alpha.c")
    elif change == "add an app":
        _app(recorded, "beta", 2)
    elif change == "add a source to an app":
        recorded.write("apps/alpha/alpha_more.c", "int alpha_more(void) { return 4; }\n")
    elif change == "add an sdkconfig":
        recorded.write("firmware/sdkconfig.defaults", "CONFIG_ESPTOOLPY_FLASHSIZE_4MB=y\n")
    elif change == "another CHIP":
        args = ["CHIP=esp32c6"]
    result, steps = _build(recorded, *args)
    assert SHORTCUT not in result.stdout, result.stdout
    if isinstance(rebuilt, list):
        assert steps == rebuilt, result.stdout
    else:
        assert rebuilt in result.stdout.splitlines(), result.stdout
    assert SHORTCUT in _build(recorded, *args)[0].stdout  # recorded again (nothing racy: the build took long enough)


def test_a_file_modified_during_or_just_before_a_run_is_not_trusted(recorded):
    source = recorded.root / "apps/alpha/alpha.c"
    source.write_text(source.read_text().replace("return 1", "return 5"))
    future = time.time() + 5  # as if modified while the run read it
    os.utime(source, (future, future))
    result, steps = _build(recorded)
    assert steps[0] == "CC apps/alpha/alpha.c", result.stdout
    result, steps = _build(recorded)  # not recorded: a full run again, finding nothing to do
    assert SHORTCUT not in result.stdout and steps == [], result.stdout


def test_a_failed_build_writes_no_record_and_flash_apps_is_never_served(recorded):
    record = recorded.root / "build/uptodate.json"
    before = record.read_bytes()
    recorded.write("apps/alpha/alpha.c", "this is not C\n")
    _age(recorded)
    assert recorded.scons("apps", check=False).returncode != 0
    assert record.read_bytes() == before  # the last complete build's record stays: it no longer matches
    result = recorded.scons("apps", check=False)
    assert result.returncode != 0 and SHORTCUT not in result.stdout
    _app(recorded, "alpha", 1)
    _age(recorded)
    _build(recorded)
    for _ in range(2):  # flash-apps writes into the emulator's flash image every time: never skipped
        result = recorded.scons("apps", "flash-apps")
        assert SHORTCUT not in result.stdout and "flash-apps:" in result.stdout, result.stdout


def test_a_changed_environment_variable_or_tool_makes_a_full_run(recorded, tmp_path):
    from conftest import REPO, _env

    def build(**environment) -> str:
        command = [sys.executable, "-m", "SCons", "-C", str(recorded.root), "apps"]
        result = subprocess.run(command, capture_output=True, text=True, env={**_env(), **environment})
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    assert SHORTCUT not in build(ESPTOOL_BAUD="115200")  # a variable the build reads (its default BAUD)
    assert SHORTCUT in build(ESPTOOL_BAUD="115200")
    tool = tmp_path / "tool"
    shutil.copytree(REPO / "src" / "dynapps", tool / "dynapps", ignore=shutil.ignore_patterns("__pycache__"))
    for path in tool.rglob("*"):
        os.utime(path, (time.time() - 10,) * 2)
    assert SHORTCUT not in build(PYTHONPATH=str(tool))
    assert SHORTCUT in build(PYTHONPATH=str(tool))
    stage = tool / "dynapps" / "image.py"
    stage.write_text(stage.read_text() + "# edited\n")
    output = build(PYTHONPATH=str(tool))
    assert SHORTCUT not in output and "IMAGE alpha.dapp" in output, output
