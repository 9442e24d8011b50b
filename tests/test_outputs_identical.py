"""Acceptance of issue 10: a refactor leaves every build output of the example apps byte for byte
as it was. The images (build/apps/*.dapp), the generated wrappers and export table
(build/generated/*), partitions.csv and build/partition-table.bin are built for each chip with the
real scons and their sha256 compared with tests/golden/outputs-<chip>.json.

When a change is meant to alter these outputs (new wrapper templates, a new image field), build
the goldens again and commit them with the change:

    .venv/bin/python tests/test_outputs_identical.py
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests/golden"
CHIPS = ("esp32c3", "esp32c6", "esp32h2", "esp32p4")


def golden_path(chip: str) -> Path:
    return GOLDEN / f"outputs-{chip}.json"


def output_digests(root: Path) -> dict[str, str]:
    """sha256 of every output the acceptance names, keyed by its path relative to the project."""
    paths = sorted(root.glob("build/apps/*.dapp")) + sorted(p for p in root.glob("build/generated/*") if p.is_file())
    paths += [root / "partitions.csv", root / "build/partition-table.bin"]
    return {path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}


def build_outputs(root: Path, chip: str) -> dict[str, str]:
    """`scons apps CHIP=chip` in the project at `root`, then the digests of its outputs."""
    shutil.rmtree(root / "build", ignore_errors=True)
    command = [sys.executable, "-m", "SCons", "-C", str(root), "-Q", "apps", f"CHIP={chip}"]
    env = dict(os.environ, PYTHONPATH=str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, f"scons apps CHIP={chip} failed:\n{result.stdout}\n{result.stderr}"
    return output_digests(root)


@pytest.mark.parametrize("chip", CHIPS)
def test_example_outputs_match_golden(example_project, chip):
    golden = json.loads(golden_path(chip).read_text())
    built = build_outputs(example_project.root, chip)
    assert sorted(built) == sorted(golden), "the set of output files changed"
    differing = [name for name in golden if built[name] != golden[name]]
    assert not differing, f"{chip}: outputs differ from {golden_path(chip).name}: {', '.join(differing)}"


def regenerate() -> None:
    """Build the examples for every chip in a temporary copy and write the golden files."""
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import PROJECT_FILES
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for relative in PROJECT_FILES + ["dynapps.yaml"]:
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / relative, root / relative)
        shutil.copytree(REPO / "apps", root / "apps")
        GOLDEN.mkdir(exist_ok=True)
        for chip in CHIPS:
            digests = build_outputs(root, chip)
            golden_path(chip).write_text(json.dumps(digests, indent=2, sort_keys=True) + "\n")
            print(f"wrote {golden_path(chip).relative_to(REPO)} ({len(digests)} files)")


if __name__ == "__main__":
    regenerate()
