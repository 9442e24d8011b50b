"""`scons apps` on a copy of the example project: real cross compiler, real scons, real ELF files."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from dynapps import chips, image

READELF = "riscv64-unknown-elf-readelf"
REPO_INCLUDE = __import__("conftest").REPO / "firmware/components/dynapps/include"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The example project built once for the module (with -j2)."""
    from conftest import REPO, PROJECT_FILES, Project
    import shutil

    root = tmp_path_factory.mktemp("examples")
    for relative in PROJECT_FILES:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / relative, root / relative)
    shutil.copytree(REPO / "apps", root / "apps")
    project = Project(root)
    result = project.scons("-j2", "apps")
    return project, result


def _analysis(project, app):
    return json.loads((project.root / f"build/apps/{app}/{app}.link.json").read_text())


def _image(project, app):
    return image.read((project.root / f"build/apps/{app}.dapp").read_bytes())


def _apps(project):
    return sorted(p.stem for p in (project.root / "build/apps").glob("*.dapp"))


def test_every_example_builds_with_both_strategies(built):
    project, result = built
    apps = _apps(project)
    assert len(apps) >= 5
    strategies = {_image(project, app).strategy for app in apps}
    assert strategies == {"iram", "xip"}
    for app in apps:
        assert re.search(rf"^{app}\s+(iram|xip)\s+(auto|manifest)", result.stdout, re.M), result.stdout
    assert re.search(r"^CC apps/fir/fir\.c$", result.stdout, re.M)
    assert re.search(r"^LINK fir$", result.stdout, re.M)
    assert re.search(r"^IMAGE fir\.dapp$", result.stdout, re.M)


def test_second_build_does_nothing(built):
    project, _ = built
    result = project.scons("apps")
    assert "`apps' is up to date." in result.stdout
    assert not re.search(r"^(CC|LINK|IMAGE) ", result.stdout, re.M)


def test_touching_one_source_rebuilds_only_that_app(built):
    project, _ = built
    source = project.root / "apps/pid/pid.c"
    source.write_text(source.read_text().replace("0.05f", "0.06f"))  # a real edit: SCons decides by content
    result = project.scons("apps")
    steps = re.findall(r"^(CC|LINK|IMAGE) (\S+)$", result.stdout, re.M)
    assert steps == [("CC", "apps/pid/pid.c"), ("LINK", "pid"), ("IMAGE", "pid.dapp")], result.stdout


def test_xip_images_are_never_patched_and_sit_where_the_layout_says(built):
    project, _ = built
    for app in _apps(project):
        img, analysis = _image(project, app), _analysis(project, app)
        if img.strategy != "xip":
            continue
        slot = analysis["slot"]
        assert img.fixups == []
        assert slot["vaddr"] % 0x10000 == 0 and slot["flash_offset"] % 0x10000 == 0
        assert img.code_vaddr == slot["vaddr"] + image.HEADER_SIZE
        assert img.data_vaddr == slot["ram_address"]
        assert slot["vaddr"] == 0x42000000 + slot["flash_offset"]  # esp32c3 instruction bus, identity
        for name, vaddr, _flags in img.exports:
            assert img.code_vaddr <= vaddr < img.code_vaddr + len(img.code), name


def _absolute_words(elf_path):
    """R_RISCV_32 relocations in loaded sections, as readelf (not our code) reports them."""
    out = subprocess.run([READELF, "-rW", elf_path], capture_output=True, text=True, check=True).stdout
    words, section = [], None
    for line in out.splitlines():
        header = re.match(r"Relocation section '\.rela(\S+)'", line)
        if header:
            section = header.group(1)
            continue
        fields = line.split()
        if section and not section.startswith(".debug") and len(fields) >= 3 and fields[2] == "R_RISCV_32":
            words.append(int(fields[0], 16))
    return sorted(words)


def test_iram_fixups_cover_every_absolute_pointer(built):
    project, _ = built
    checked = 0
    for app in _apps(project):
        img = _image(project, app)
        if img.strategy != "iram":
            continue
        words = _absolute_words(str(project.root / f"build/apps/{app}/{app}.elf"))
        code_size = len(img.code)
        # esp32c3: code linked at the IRAM/DRAM offset, data right after it minus that offset
        assert img.code_vaddr == 0x700000 and img.data_vaddr == code_size
        linked = [img.code_vaddr + o if o < code_size else img.data_vaddr + o - code_size for o in img.fixups]
        assert linked == words, app
        checked += len(words)
    assert checked > 0  # the examples do have pointers in initialised data


def test_dispatch_has_pointer_tables_and_a_jump_table(built):
    project, _ = built
    img = _image(project, "dispatch")
    assert img.strategy == "iram"
    assert len(img.fixups) >= 12  # 4 names + 4 handlers + 4 greetings
    relocations = subprocess.run([READELF, "-rW", str(project.root / "build/apps/dispatch/dispatch.o")],
                                 capture_output=True, text=True, check=True).stdout
    assert "rodata.dispatch_classify" in relocations  # the switch table


def test_imports_and_the_export_table_prefix(built):
    project, _ = built
    from dynapps import firmware, project as project_module
    table = firmware.load_exports(project_module.load(project.root))
    for app in _apps(project):
        img = _image(project, app)
        # the shortest prefix of the table holding every import, named by its id
        assert img.exports_count == max((index + 1 for _, index in img.imports), default=0)
        assert img.exports_id == (table.prefix_ids[img.exports_count - 1] if img.exports_count else 0)
        for name, index in img.imports:
            assert table.symbols[index] == name
    assert [n for n, _ in _image(project, "dispatch").imports] == ["printf", "strcmp", "strlen"]
    assert [n for n, _ in _image(project, "crc").imports] == ["memcpy", "memset"]


def test_layout_slots_are_aligned_and_disjoint(built):
    project, _ = built
    slots = sorted((_analysis(project, app)["slot"] for app in _apps(project)), key=lambda s: s["flash_offset"])
    for before, after in zip(slots, slots[1:]):
        assert before["flash_offset"] + before["size"] <= after["flash_offset"]
    for slot in slots:
        assert slot["flash_offset"] % (0x10000 if slot["xip_capable"] else chips.FLASH_SECTOR) == 0


def test_inspect_prints_an_image(built):
    project, _ = built
    from conftest import _env
    import sys
    result = subprocess.run([sys.executable, "-m", "dynapps.inspect", str(project.root / "build/apps/dispatch.dapp")],
                            capture_output=True, text=True, env=_env())
    assert result.returncode == 0, result.stderr
    assert "strategy iram" in result.stdout and "dispatch_init at" in result.stdout and "(init)" in result.stdout


def test_clean_removes_every_output(built):
    project, _ = built
    project.scons("-c", "apps")
    leftovers = [p for p in (project.root / "build").rglob("*") if p.is_file()] if (project.root / "build").exists() else []
    assert leftovers == []
    project.scons("apps")  # and it builds again from scratch


def test_verbose_prints_full_commands(empty_project):
    empty_project.write("apps/adder/add.c", "#include <stdint.h>\nint32_t add(int32_t a, int32_t b) { return a + b; }\n")
    empty_project.write("apps/adder/app.yaml", "exports:\n  - int32_t add(int32_t a, int32_t b)\n")
    result = empty_project.scons("VERBOSE=1", "apps")
    assert re.search(r"gcc -o \S*add\.o -c .*-mcmodel=medany -mno-relax", result.stdout), result.stdout
    assert re.search(r"gcc .*-T \S*adder\.ld -Wl,--no-relax", result.stdout), result.stdout


def test_the_apps_with_the_most_source_compile_first(empty_project):
    """SCons builds in the order it is given: the largest app's compile starts first, so a long
    compile does not start last while the other CPUs idle (docs/performance.md, figure 1)."""
    sizes = {"alpha": 1, "beta": 40, "gamma": 8}  # functions per app; alphabetical order is not size order
    for name, count in sizes.items():
        body = "".join(f"int32_t {name}_{i}(int32_t x) {{ return x * {i + 3} + {i}; }}\n" for i in range(count))
        empty_project.write(f"apps/{name}/{name}.c", "#include <stdint.h>\n" + body)
        empty_project.write(f"apps/{name}/app.yaml", f"exports:\n  - int32_t {name}_0(int32_t x)\n")
    result = empty_project.scons("-j1", "apps")
    compiled = re.findall(r"^CC apps/(\w+)/", result.stdout, re.M)
    assert compiled == ["beta", "gamma", "alpha"], result.stdout


def test_help_lists_the_variables(empty_project):
    result = empty_project.scons("-h")
    for variable in ("CHIP", "TOOLCHAIN", "PORT", "BAUD", "VERBOSE"):
        assert variable in result.stdout


def test_generated_headers_stand_alone_and_say_where_they_come_from(built, tmp_path):
    project, _ = built
    generated = project.root / "build/generated"
    headers = sorted(generated.glob("dynapps_*.h"))
    assert len(headers) >= 5
    for header in headers:
        app = header.stem[len("dynapps_"):]
        first = header.read_text().splitlines()[0]
        assert first == f"/* Generated by dynapps from apps/{app}/app.yaml; do not edit.", first
        probe = tmp_path / f"{app}_probe.c"
        probe.write_text(f'#include "{header.name}"\n')
        subprocess.run(["riscv64-unknown-elf-gcc", "-march=rv32imc", "-mabi=ilp32", "--specs=picolibc.specs",
                        "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only", f"-I{generated}",
                        f"-I{REPO_INCLUDE}", str(probe)], check=True, capture_output=True, text=True)
    assert (generated / "exports.c").read_text().startswith("/* Generated by dynapps from firmware/exports.yaml")
