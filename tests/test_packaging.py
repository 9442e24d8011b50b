"""The package as a user gets it: `pip install` into a fresh venv outside this repository, then a
new project with two apps built and run with the documented `dynapps` command, and the ESP-IDF
example (examples/hello_apps) built with its documented commands: `dynapps apps`, and the CMake
build with the component the package carries (ESP-IDF's project.cmake stood in for, as in
tests/test_idf_cmake.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
# What `pip install .` reads: the package sources and the C side it ships (pyproject.toml).
PACKAGE_FILES = ["pyproject.toml", "LICENSE", "README.md", "src", "firmware/components/dynapps", "firmware/emulator"]
APPS = ["crc", "fir"]
# The project's own firmware code run in the emulator: it uses the generated wrapper of one app.
DEMO_C = """#include "demo.h"
#include "dynapps.h"
#include "dynapps_crc.h"

int dynapps_demo(void) { return 0; }
"""


def _copy_package_sources(target: Path) -> None:
    """A copy, so that pip's build writes nothing into this checkout."""
    for relative in PACKAGE_FILES:
        source, destination = REPO / relative, target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(source, destination)


def _fresh_venv_with_dynapps(tmp_path: Path) -> Path:
    """A venv holding only pip's install of dynapps; its dependencies come from this venv (a .pth
    line). pip builds the wheel in its usual isolated build environment, with setuptools from the
    package index pip is configured with."""
    sources, venv = tmp_path / "sources", tmp_path / "venv"
    _copy_package_sources(sources)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                              str(sources)], capture_output=True, text=True, env=_user_env())
    assert install.returncode == 0, install.stdout + install.stderr
    return venv


def _user_env() -> dict:
    """The environment without this checkout's src/ on PYTHONPATH: only the installed package."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def _new_project(root: Path) -> None:
    """A project as a user writes it: no SConstruct, two apps copied from the examples."""
    (root / "firmware" / "main").mkdir(parents=True)
    for relative in ("firmware/exports.yaml", "firmware/partitions-base.csv", "firmware/main/demo.h"):
        shutil.copy(REPO / relative, root / relative)
    (root / "firmware" / "main" / "demo.c").write_text(DEMO_C)
    project = (REPO / "dynapps.yaml").read_text()
    project = re.sub(r"order: \[.*\]", f"order: [{', '.join(APPS)}]", project)
    project = re.sub(r"(emulator_sources:.*\n)(\s+- .*\n)+", r"\1    - firmware/main/demo.c\n", project)
    (root / "dynapps.yaml").write_text(project)
    for app in APPS:
        shutil.copytree(REPO / "apps" / app, root / "apps" / app)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    return _fresh_venv_with_dynapps(tmp_path_factory.mktemp("installed"))


def test_installed_package_builds_and_runs_a_new_two_app_project(venv, tmp_path):
    python, command = venv / "bin" / "python", venv / "bin" / "dynapps"
    where = subprocess.run([str(python), "-c", "import dynapps, dynapps.native as n; print(dynapps.__file__, n.ROOT)"],
                           capture_output=True, text=True, env=_user_env(), cwd=tmp_path, check=True).stdout.split()
    assert all(path.startswith(str(venv)) for path in where), where  # the installed copy, C side included
    project = tmp_path / "project"
    _new_project(project)

    built = subprocess.run([str(command), "apps", "run"], capture_output=True, text=True, env=_user_env(), cwd=project)

    assert built.returncode == 0, built.stdout + built.stderr
    assert sorted(p.name for p in (project / "build" / "apps").glob("*.dapp")) == ["crc.dapp", "fir.dapp"]
    assert f"{venv}/lib" in built.stdout  # the emulator firmware compiled from the package's copy
    shown = subprocess.run([str(command), "inspect", "build/apps/fir.dapp"], capture_output=True, text=True,
                           env=_user_env(), cwd=project)
    assert shown.returncode == 0 and "app         fir" in shown.stdout, shown.stdout + shown.stderr


def test_the_idf_example_builds_with_the_installed_package(venv, tmp_path):
    """The example copied out as a user starts from it; `python` is the venv's, as ESP-IDF's
    Python is in an ESP-IDF shell."""
    project = tmp_path / "hello_apps"
    shutil.copytree(REPO / "examples" / "hello_apps", project)
    env = {**_user_env(), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "IDF_PATH": str(REPO / "tests" / "idf_standin")}

    apps = subprocess.run(["dynapps", "apps"], capture_output=True, text=True, env=env, cwd=project)
    assert apps.returncode == 0, apps.stdout + apps.stderr
    assert sorted(p.name for p in (project / "build" / "apps").glob("*.dapp")) == ["greet.dapp", "scale.dapp"]
    shutil.rmtree(project / "build")

    component = subprocess.run(["python", "-m", "dynapps", "component-dir"], capture_output=True, text=True,
                               env=env, check=True).stdout.strip()
    assert component.startswith(str(venv)) and Path(component, "project_include.cmake").is_file(), component
    build = project / "build"
    for command in (["cmake", "-S", str(project), "-B", str(build), "-G", "Ninja", "-DIDF_TARGET=esp32c3",
                     f"-DPYTHON={venv / 'bin' / 'python'}"], ["cmake", "--build", str(build)]):
        step = subprocess.run(command, capture_output=True, text=True, env=env)
        assert step.returncode == 0, step.stdout + step.stderr
    assert sorted(p.name for p in (build / "apps").glob("*.dapp")) == ["greet.dapp", "scale.dapp"]
    assert (build / "flash_project_args").read_text() == "0x200000 apps/greet.dapp\n0x201000 apps/scale.dapp\n"
    assert f"-I{component}/include" in (build / "build.ninja").read_text()  # the package's component compiled


def _requirement_names(requirements: list[str]) -> set[str]:
    return {Requirement(line).name.lower() for line in requirements}


def test_requirements_pin_exactly_the_package_dependencies_and_extras():
    """./dev installs requirements.txt: the runtime dependencies plus the test and bench extras."""
    metadata = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = metadata["optional-dependencies"]
    pinned = [l for l in (REPO / "requirements.txt").read_text().splitlines() if l.strip() and not l.startswith("#")]
    assert all("==" in line for line in pinned), pinned
    declared = _requirement_names(metadata["dependencies"]) | _requirement_names(extras["test"] + extras["bench"])
    assert _requirement_names(pinned) == declared
    assert not _requirement_names(metadata["dependencies"]) & {"pytest", "matplotlib"}  # tools stay in extras
    versions = {Requirement(line).name.lower(): next(iter(Requirement(line).specifier)).version for line in pinned}
    for line in metadata["dependencies"] + extras["test"] + extras["bench"]:
        declared_range = Requirement(line)
        assert declared_range.specifier.contains(versions[declared_range.name.lower()]), line
