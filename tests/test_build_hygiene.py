"""Build hygiene through the real scons: the SCons cache, the default job count, what removing an
app leaves behind, and the limits.flash hint of an image that outgrows its slot."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from conftest import REPO

SUMMARY_HEADER = re.compile(r"^app\s+strategy\s+why\s+text", re.M)


def _value_app(project, name: str, value: int, manifest_extra: str = "") -> None:
    project.write(f"apps/{name}/{name}.c", f"#include <stdint.h>\nint32_t {name}_value(void) {{ return {value}; }}\n")
    project.write(f"apps/{name}/app.yaml", f"exports:\n  - int32_t {name}_value(void)\n{manifest_extra}")


def _append_to_sconstruct(project, text: str) -> None:
    sconstruct = project.root / "SConstruct"
    sconstruct.write_text(sconstruct.read_text() + text)


def test_with_a_cache_the_summary_is_printed_and_flash_apps_runs(empty_project):
    _value_app(empty_project, "alpha", 1)
    _append_to_sconstruct(empty_project, 'CacheDir("cache")\n')
    first = empty_project.scons("apps", "flash-apps")
    assert SUMMARY_HEADER.search(first.stdout) and "flash-apps: wrote" in first.stdout
    shutil.rmtree(empty_project.root / "build")

    again = empty_project.scons("apps", "flash-apps")
    assert "Retrieved `build/apps/alpha.dapp' from cache" in again.stdout  # the cache is in use
    assert SUMMARY_HEADER.search(again.stdout), again.stdout
    assert re.search(r"flash-apps: wrote \d+ bytes into build/emulator/flash\.bin \(partition-table, alpha\)",
                     again.stdout), again.stdout
    cached = [path for path in (empty_project.root / "cache").rglob("*") if path.is_file()]
    assert cached and all(path.stat().st_size != 4 * 1024 * 1024 for path in cached)  # never the flash image


def test_jobs_default_to_the_number_of_cpus(empty_project):
    _append_to_sconstruct(empty_project, 'print("jobs", GetOption("num_jobs"))\n')
    assert re.search(r"^jobs (\d+)$", empty_project.scons("-n").stdout, re.M).group(1) == str(len(os.sched_getaffinity(0)))
    assert re.search(r"^jobs (\d+)$", empty_project.scons("-n", "-j1").stdout, re.M).group(1) == "1"
    assert re.search(r"^jobs (\d+)$", empty_project.scons("-n", "-j3").stdout, re.M).group(1) == "3"
    sconstruct = empty_project.root / "SConstruct"
    sconstruct.write_text('SetOption("num_jobs", 3)\n' + sconstruct.read_text())  # the project's own choice
    assert re.search(r"^jobs (\d+)$", empty_project.scons("-n").stdout, re.M).group(1) == "3"


def test_removing_an_app_removes_its_generated_files_and_outputs(empty_project):
    _value_app(empty_project, "alpha", 1)
    _value_app(empty_project, "beta", 2)
    empty_project.scons("apps")
    build = empty_project.root / "build"
    assert (build / "generated/dynapps_beta.c").exists() and (build / "apps/beta.dapp").exists()
    shutil.rmtree(empty_project.root / "apps/beta")

    empty_project.scons("apps")
    leftovers = sorted(str(path.relative_to(build)) for path in build.rglob("*beta*"))
    assert leftovers == [], leftovers
    assert (build / "generated/dynapps_alpha.c").exists() and (build / "apps/alpha.dapp").exists()
    assert (build / "generated/exports.c").exists()


def test_the_limits_flash_hint_of_an_iram_app_is_in_4k_sectors(empty_project):
    source = "#include <stdint.h>\nconst uint8_t blob[70000] = {1};\nuint8_t get(uint32_t i) { return blob[i]; }\n"
    empty_project.write("apps/big/big.c", source)
    empty_project.write("apps/big/app.yaml", "strategy: iram\nlimits:\n  flash: 64K\nexports:\n  - uint8_t get(uint32_t i)\n")
    result = empty_project.scons("apps", check=False)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    match = re.fullmatch(r"error: app big: image is (\d+) bytes but its slot holds 65536; set limits\.flash: (\d+)K "
                         r"in apps/big/app\.yaml", errors[0])
    assert match, errors[0]
    size, hint = int(match.group(1)), int(match.group(2))
    assert hint == -(-size // 4096) * 4 < 128  # whole 4 KB sectors, not a 64 KB page
    empty_project.write("apps/big/app.yaml", f"strategy: iram\nlimits:\n  flash: {hint}K\n"
                                             "exports:\n  - uint8_t get(uint32_t i)\n")
    empty_project.scons("apps")  # the hint is enough


def _steps(output: str) -> list[str]:
    return re.findall(r"(?:^|\s)((?:CC|LINK|IMAGE) \S+)$", output, re.M)


def test_an_edited_stage_module_or_template_rebuilds_what_it_affects(empty_project, tmp_path):
    """Links and images depend on one stage-version value (the content of the stage modules and
    templates), not on each file: editing a template relinks, editing a stage module remakes what
    uses it, and nothing else runs. The tool is a copy here, so that it can be edited."""
    tool = tmp_path / "tool"
    shutil.copytree(REPO / "src" / "dynapps", tool / "dynapps", ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(tool))

    def build() -> list[str]:
        result = subprocess.run([sys.executable, "-m", "SCons", "-C", str(empty_project.root), "apps"],
                                capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        return _steps(result.stdout)

    _value_app(empty_project, "alpha", 1)
    assert build() == ["CC apps/alpha/alpha.c", "LINK alpha", "IMAGE alpha.dapp"]
    assert build() == []
    template = tool / "dynapps" / "templates" / "copy.ld.j2"
    template.write_text(template.read_text() + "{# edited: the same script, a new template #}\n")
    assert build() == ["LINK alpha"]  # the same ELF: the image is up to date by content
    stage = tool / "dynapps" / "image.py"  # the link stage uses it too
    stage.write_text(stage.read_text() + "# edited\n")
    assert build() == ["LINK alpha", "IMAGE alpha.dapp"]
    stage = tool / "dynapps" / "signing.py"  # the image stage's alone
    stage.write_text(stage.read_text() + "# edited\n")
    assert build() == ["IMAGE alpha.dapp"]
    assert build() == []
