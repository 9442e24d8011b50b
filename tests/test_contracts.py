"""Issue 10, items 1-2: the stages hand each other typed contracts (contracts.py), the SCons tool
only wires them, `scons -h` lists the targets, and user-facing output goes through one logger."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from conftest import TOOLS
from dynapps.contracts import LinkAnalysis

from test_manifest_errors import GOOD_MANIFEST, GOOD_SOURCE, single_error_line

ANALYSIS = "build/apps/adder/adder.link.json"


def _adder(project, manifest: str = GOOD_MANIFEST):
    project.write("apps/adder/add.c", GOOD_SOURCE)
    project.write("apps/adder/app.yaml", manifest)
    return project.scons("apps")


def _steps(result) -> list[tuple[str, str]]:
    return re.findall(r"^(CC|LINK|IMAGE) (\S+)$", result.stdout, re.M)


def test_help_lists_every_target_with_a_line_beside_the_variables(empty_project):
    text = empty_project.scons("-h").stdout
    assert "CHIP" in text and "PORT" in text
    for target in ("apps", "flash-apps", "flash-all", "run", "keygen"):
        assert re.search(rf"^\s+{target}\s+\S.{{20,}}$", text, re.M), text


def test_link_analysis_round_trips_through_its_versioned_json(empty_project):
    from dynapps.contracts import LinkAnalysis
    _adder(empty_project)
    stored = json.loads((empty_project.root / ANALYSIS).read_text())
    analysis = LinkAnalysis.from_json(stored)
    assert stored["format"] == LinkAnalysis.FORMAT
    assert json.loads(json.dumps(analysis.to_json())) == stored
    assert (analysis.app, analysis.slot.app, analysis.exports[0].name) == ("adder", "adder", "add")


def test_link_analysis_of_another_format_is_one_error_line(empty_project):
    _adder(empty_project)
    path = empty_project.root / ANALYSIS
    path.write_text(json.dumps({**json.loads(path.read_text()), "format": 0}))
    error = single_error_line(empty_project.scons("apps", check=False))
    assert error.startswith(f"link analysis of app adder is format 0, this dynapps reads {LinkAnalysis.FORMAT}: build again"), error


def test_a_contract_change_rebuilds_its_stage_and_no_other(empty_project):
    """The image settings are the image builder's declared input: a new version rebuilds the image
    without relinking; a change to the link's contract (the firmware's export table) relinks."""
    _adder(empty_project)
    manifest = empty_project.root / "apps/adder/app.yaml"
    manifest.write_text(manifest.read_text().replace("version: 1.0.0", "version: 1.2.3"))
    assert _steps(empty_project.scons("apps")) == [("IMAGE", "adder.dapp")]
    exports = empty_project.root / "firmware/exports.yaml"
    exports.write_text(exports.read_text().replace("symbols:\n", "symbols:\n  - abs\n", 1))
    assert _steps(empty_project.scons("apps")) == [("LINK", "adder"), ("IMAGE", "adder.dapp")]


def test_console_prints_results_on_stdout_and_errors_on_stderr(capsys):
    from dynapps import console
    console.say("flash-apps: wrote 0 bytes")
    console.error("error: something")
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("flash-apps: wrote 0 bytes\n", "error: something\n")


def test_the_stages_import_without_scons():
    """Only scons_tool.py imports SCons: the stages, their contracts and the logger do not."""
    blocker = ("import sys\nclass Block:\n    def find_spec(self, name, *rest):\n"
               "        if name.split('.')[0] == 'SCons': raise ImportError('SCons is blocked')\n"
               "sys.meta_path.insert(0, Block())\n"
               "import dynapps.contracts, dynapps.link, dynapps.image, dynapps.flashing, dynapps.summary, "
               "dynapps.console, dynapps.wrappers, dynapps.partitions\n")
    result = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True,
                            env={"PYTHONPATH": str(TOOLS), "PATH": ""})
    assert result.returncode == 0, result.stderr
