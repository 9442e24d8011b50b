"""Shared fixtures: a throw-away copy of the project that real scons builds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TOOLS = REPO / "src"
sys.path.insert(0, str(TOOLS))

PROJECT_FILES = ["SConstruct", "dynapps.yaml", "firmware/exports.yaml", "firmware/partitions-base.csv",
                 "firmware/main/demo.c", "firmware/main/demo.h", "firmware/main/demo_calls.c", "firmware/main/demo_calls.h"]


class Project:
    """A project folder in tmp_path with the repository's tool; `scons()` runs the real scons."""

    def __init__(self, root: Path):
        self.root = root

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def scons(self, *args: str, check: bool = True, path_prefix: str = "") -> subprocess.CompletedProcess:
        """`path_prefix`: a folder searched before PATH (e.g. one holding a stand-in compiler)."""
        command = [sys.executable, "-m", "SCons", "-C", str(self.root), *args]
        env = _env()
        if path_prefix:
            env["PATH"] = path_prefix + os.pathsep + env["PATH"]
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        if check and result.returncode != 0:
            raise AssertionError(f"scons {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(TOOLS) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture
def empty_project(tmp_path) -> Project:
    """The project files without any app."""
    for relative in PROJECT_FILES:
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / relative, target)
    (tmp_path / "apps").mkdir()
    project_file = tmp_path / "dynapps.yaml"  # no apps yet, so no slot order either
    project_file.write_text("\n".join(l for l in project_file.read_text().splitlines() if "order:" not in l) + "\n")
    return Project(tmp_path)


@pytest.fixture
def example_project(empty_project) -> Project:
    """The project with the repository's example apps."""
    shutil.copytree(REPO / "apps", empty_project.root / "apps", dirs_exist_ok=True)
    shutil.copy(REPO / "dynapps.yaml", empty_project.root / "dynapps.yaml")
    return empty_project
