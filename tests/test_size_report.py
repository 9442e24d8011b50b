"""The size report and the layout picture written by every build (size.py): the figures come
from the layout and the built apps, the change column from the previous build, and `dynapps
size [--json]` prints the last report."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"


def _link_analyses(root: Path) -> dict[str, dict]:
    return {path.name.removesuffix(".link.json"): json.loads(path.read_text())
            for path in (root / "build" / "apps").glob("*/*.link.json")}


def _regions(report: dict) -> dict[str, dict]:
    return {region["name"]: region for region in report["regions"] + report["totals"]}


def _dynapps(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "dynapps", *args], capture_output=True, text=True, cwd=root, env=env)


def test_every_build_reports_each_region_from_the_layout_and_the_images(example_project):
    root = example_project.root
    built = example_project.scons("apps")

    report = json.loads((root / "build" / "size.json").read_text())
    regions = _regions(report)
    analyses = _link_analyses(root)
    images = {name: (root / "build" / "apps" / f"{name}.dapp").stat().st_size for name in analyses}
    slots = sum(a["slot"]["size"] for a in analyses.values())
    assert regions["flash: app slots"] == {"name": "flash: app slots", "used": slots, "total": 0x100000,
                                           "free": 0x100000 - slots, "percent": round(100 * slots / 0x100000, 1),
                                           "change": None}
    assert regions["flash: images in their slots"]["used"] == sum(images.values())
    assert regions["flash: images in their slots"]["total"] == slots
    arena = sum(a["slot"]["ram_size"] or 0 for a in analyses.values())
    assert regions["RAM: data arena (XIP-capable slots)"]["used"] == arena == 17408  # the example apps
    iram = sum(a["code_size"] + a["data_size"] + a["bss_size"] for a in analyses.values() if a["strategy"] == "iram")
    executable = regions["RAM: executable (IRAM-copy apps)"]
    assert executable["used"] == iram and executable["total"] is None and executable["free"] is None
    assert regions["total RAM"]["used"] == arena + iram
    assert "PSRAM (PSRAM-copy apps)" not in regions  # no app copied into PSRAM
    assert "Memory used by the apps (esp32c3; change: against the previous build)" in built.stdout
    assert f"flash: app slots                     {slots}" in built.stdout

    picture = ElementTree.parse(root / "build" / "layout.svg").getroot()
    legend = [text.text for text in picture.iter(f"{SVG}text")]
    assert f"fir: 0x220000, 64 KB, image {images['fir']} B ({100 * images['fir'] / 65536:.0f}%)" in legend
    assert "crc (iram): 1424 B" in legend and "dispatch (runs iram): 0x3fcd0000, 4 KB" in legend
    assert "factory: 0x10000, 1984 KB" in legend


def test_the_change_against_the_previous_build(example_project):
    root = example_project.root
    example_project.scons("apps")
    manifest = root / "apps" / "stats" / "app.yaml"
    manifest.write_text(manifest.read_text() + "limits:\n  flash: 128K\n  ram: 8K\n")

    rebuilt = example_project.scons("apps")

    regions = _regions(json.loads((root / "build" / "size.json").read_text()))
    assert regions["flash: app slots"]["change"] == 65536
    assert regions["RAM: data arena (XIP-capable slots)"]["change"] == 4096
    assert regions["flash: images in their slots"]["change"] == 0
    assert "+65536" in rebuilt.stdout


def test_dynapps_size_prints_the_last_report(example_project):
    root = example_project.root
    missing = _dynapps(root, "size")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: no size report in build/size.json: build the apps first (dynapps apps)"
    example_project.scons("apps")

    text, as_json = _dynapps(root, "size"), _dynapps(root, "size", "--json")

    assert text.returncode == 0 and as_json.returncode == 0
    assert json.loads(as_json.stdout) == json.loads((root / "build" / "size.json").read_text())
    assert text.stdout.splitlines()[0] == "Memory used by the apps (esp32c3; change: against the previous build)"
    assert "RAM: data arena (XIP-capable slots)   17408" in text.stdout
