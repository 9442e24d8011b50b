"""The emulator's command line and `python -m dynapps.inspect` run with SCons not importable: the
stages are a plain library, only scons_tool.py imports SCons (issue 10)."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import TOOLS

# Blocks SCons (any `import SCons...` raises ImportError), then runs module argv[1] as __main__.
WITHOUT_SCONS = """
import runpy, sys
sys.modules["SCons"] = None
module, sys.argv = sys.argv[1], sys.argv[1:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def run_without_scons(module: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(TOOLS) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", WITHOUT_SCONS, module, *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_scons_is_blocked_by_the_runner():
    """The runner itself: a module that imports SCons fails under it (else the tests below prove nothing)."""
    result = run_without_scons("SCons.Script")
    assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr, result.stderr


def test_emulator_and_inspect_run_without_scons(example_project):
    example_project.scons("apps", "flash-apps", "build/emulator/firmware.elf")
    root = example_project.root
    chip = next(line.split()[1] for line in (root / "dynapps.yaml").read_text().splitlines()
                if line.startswith("chip:"))
    ran = run_without_scons("dynapps.emulator", "--chip", chip, "--firmware", str(root / "build/emulator/firmware.elf"),
                            "--flash", str(root / "build/emulator/flash.bin"))
    assert ran.returncode == 0, ran.stderr
    assert "DEMO OK: 0 failure(s)" in ran.stdout and "Traceback" not in ran.stderr
    image = sorted((root / "build/apps").glob("*.dapp"))[0]
    inspected = run_without_scons("dynapps.inspect", str(image))
    assert inspected.returncode == 0, inspected.stderr
    assert image.stem in inspected.stdout and "Traceback" not in inspected.stderr
