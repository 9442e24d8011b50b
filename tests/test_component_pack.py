"""The loader component as the ESP Component Registry takes it: `compote component pack`
(idf-component-manager, the [test] extra) runs clean, and the archives hold what a registry
user needs: the loader, the build integration, README, LICENSE, metadata, the example."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
COMPONENT = REPO / "firmware" / "components" / "dynapps"


def _compote() -> str:
    """compote from this Python's environment (./dev's venv), else from PATH."""
    beside = Path(sys.executable).parent / "compote"
    found = str(beside) if beside.exists() else shutil.which("compote")
    assert found, "compote not found: pip install idf-component-manager (requirements.txt, the [test] extra)"
    return found


def _members(archive: Path) -> set[str]:
    with tarfile.open(archive) as tar:
        return {name.removeprefix("./") for name in tar.getnames()}


def test_compote_packs_the_component_and_its_example(tmp_path):
    packed = subprocess.run([_compote(), "component", "pack", "--name", "dynapps", "--dest-dir", str(tmp_path)],
                            capture_output=True, text=True, cwd=COMPONENT, env=dict(os.environ))

    assert packed.returncode == 0, packed.stdout + packed.stderr
    assert "WARNING" not in packed.stdout + packed.stderr, packed.stdout + packed.stderr
    members = _members(tmp_path / "dynapps_0.1.0.tgz")
    assert {"README.md", "LICENSE", "idf_component.yml", "CMakeLists.txt", "Kconfig", "project_include.cmake",
            "dynapps_idf.cmake", "include/dynapps.h", "src/dynapps_core.c", "port/esp-idf/dynapps_port_idf.c"} <= members
    assert not any(name.startswith("port/emulator/") and name != "port/emulator/" for name in members), members
    with tarfile.open(tmp_path / "dynapps_0.1.0.tgz") as tar:
        assert tar.extractfile("./LICENSE").read() == (REPO / "LICENSE").read_bytes()
    examples = _members(tmp_path / "dynapps_0.1.0_examples.tgz")
    assert any(name.endswith("hello_apps/dynapps.yaml") for name in examples), examples
    assert any(name.endswith("hello_apps/apps/greet/app.yaml") for name in examples), examples


def test_manifest_has_the_registry_fields():
    manifest = yaml.safe_load((COMPONENT / "idf_component.yml").read_text())
    assert manifest["license"] == "Apache-2.0"
    assert manifest["url"].startswith("https://") and manifest["repository"].startswith("https://")
    assert [example["path"] for example in manifest["examples"]] == ["../../../examples/hello_apps"]
    assert (COMPONENT / manifest["examples"][0]["path"] / "dynapps.yaml").is_file()


def test_the_tinyusb_transport_pulls_esp_tinyusb_only_when_chosen():
    """The TinyUSB CDC transport (docs/live.md) needs the esp_tinyusb managed component: offered in
    Kconfig only on USB OTG chips once the project has that component's CDC class, required by
    CMakeLists.txt only with that transport, and not a dependency of every esp32p4 project."""
    kconfig = (COMPONENT / "Kconfig").read_text()
    entry = kconfig[kconfig.index("config DYNAPPS_AGENT_TINYUSB_CDC\n"):]
    entry = entry[:entry.index("help")]
    assert re.search(r"^\s+depends on SOC_USB_OTG_SUPPORTED && TINYUSB_CDC_ENABLED$", entry, re.M), entry

    cmake = (COMPONENT / "CMakeLists.txt").read_text()
    guarded = re.findall(r"if\(CONFIG_DYNAPPS_AGENT_TINYUSB_CDC\)\n(.*?)endif\(\)", cmake, re.S)
    assert guarded and "esp_tinyusb" in guarded[0], cmake
    code = [line.split("#")[0] for line in cmake.splitlines()]
    assert sum("esp_tinyusb" in line for line in code) == 1, "esp_tinyusb required outside the transport's if()"

    manifest = yaml.safe_load((COMPONENT / "idf_component.yml").read_text())
    assert not any("tinyusb" in name for name in manifest["dependencies"]), manifest["dependencies"]
