#!/usr/bin/env python3
"""Run ESP-IDF's own CMake build (tools/cmake/project.cmake) on examples/hello_apps, as far as
this machine allows, and report what ran (docs/idf-integration.md, "What was checked").

A developer check, not a test: it needs an ESP-IDF tree (components/, headers + Kconfig, as in
/work/idf/<tag>), the ESP-IDF git history for the release's tools/cmake, esp-idf-kconfig
(kconfgen) and newlib's headers. Espressif's toolchain can't be installed here, so:

- `riscv32-esp-elf-gcc` is Debian's riscv64-unknown-elf-gcc (GCC 12) behind a small wrapper (the
  -march and -std spellings it takes, -mabi=ilp32[f], newlib's headers), and the apps are built with
  `toolchain: riscv64-unknown-elf`;
- the tree lacks submodules and most sources: components whose CMakeLists.txt stop on a missing
  submodule are removed, the mbedtls component's CMakeLists.txt keeps its registration but not
  the submodule's build, missing include folders and source files are created empty. Nothing
  is linked.

What runs for real: ESP-IDF's project.cmake, kconfgen, its requirement expansion, the dynapps
component's project_include.cmake inside it (`dynapps generate`), the build step `dynapps_apps`
(`dynapps apps`), the `partition_table_bin` target (ESP-IDF's gen_esp32part.py on the generated
partitions.csv), flash_project_args / flasher_args.json, and each compile command ESP-IDF's CMake
wrote for the dynapps component (loader, port, generated wrappers and export table) and main.

    python3 tools/idf_cmake_check.py --tag v5.5.5 --chip esp32c3 --work /tmp/idfcheck
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from dynapps import chips, toolchain  # noqa: E402  (the repository's own package, from src/)

MIRROR = Path("/work/.mirror/espressif+esp-idf/repo")
KCONFGEN_PYTHON = Path("/work/kcvenv/bin/python3")
NEWLIB_INCLUDE = Path("/work/idf/newlib-esp/newlib/libc/include")
FROM_HISTORY = ["tools/cmake", "tools/ldgen", "tools/kconfig_new", "Kconfig", "sdkconfig.rename", "CMakeLists.txt"]

GCC_WRAPPER = '''#!/usr/bin/python3
# Stand-in for Espressif's riscv32-esp-elf-{tool} (tools/idf_cmake_check.py only).
import os, shlex, sys
ARCH = {arch!r}  # the chip's -march/-mabi as Debian's GCC takes them: toolchain.debian_arch_flags
def fix(a):  # GCC 12's spellings: no gnu23/gnu++23; the arch flags are ARCH's
    a = {{"-std=gnu23": "-std=gnu2x", "-std=gnu++23": "-std=gnu++2b"}}.get(a, a)
    return None if a.startswith(tuple(flag.split("=")[0] + "=" for flag in ARCH)) else a
args = []
for a in sys.argv[1:]:
    if a.startswith("@") and os.path.isfile(a[1:]):
        args += [fix(x) for x in shlex.split(open(a[1:]).read())]
    else:
        args.append(fix(a))
args = ARCH + [a for a in args if a is not None]
# picolibc (ESP-IDF >= 6.0's default): ESP-IDF passes --specs=picolibc.specs itself, Debian has it.
if "-c" in args and os.environ.get("IDF_CHECK_LIBC") != "picolibc":  # newlib, as Espressif builds it
    args += ["-D_RETARGETABLE_LOCKING", "-idirafter{newlib}"]
os.execv("/usr/bin/riscv64-unknown-elf-{tool}", ["riscv64-unknown-elf-{tool}"] + args)
'''
MBEDTLS_CUT = "add_subdirectory(mbedtls)"  # where the mbedtls component starts building its submodule
# What the submodule's targets would add to the component's users (TF-PSA-Crypto, ESP-IDF >= 6.0).
MBEDTLS_SUBMODULE_INCLUDES = """# (idf_cmake_check: the submodule's build left out; its public include folders kept)
foreach(dir mbedtls/tf-psa-crypto/include mbedtls/tf-psa-crypto/drivers/builtin/include)
    if(EXISTS "${COMPONENT_DIR}/${dir}")
        target_include_directories(${COMPONENT_LIB} INTERFACE "${COMPONENT_DIR}/${dir}")
    endif()
endforeach()
"""


def say(text: str) -> None:
    print(f"idf_cmake_check: {text}", flush=True)


def make_tree(tag: str, idf_tree: Path, work: Path) -> Path:
    idf = work / "idf"
    shutil.rmtree(idf, ignore_errors=True)
    shutil.copytree(idf_tree / "components", idf / "components", symlinks=True)
    archive = subprocess.run(["git", "-C", str(MIRROR), "archive", tag, *FROM_HISTORY], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(idf)], input=archive.stdout, check=True)
    # The mbedtls component registers itself (its include folders), then builds the submodule,
    # whose CMake the tree lacks: keep the registration, leave the submodule's build out.
    mbedtls = idf / "components" / "mbedtls" / "CMakeLists.txt"
    text = mbedtls.read_text()
    mbedtls.write_text(text[:text.index(MBEDTLS_CUT)] + MBEDTLS_SUBMODULE_INCLUDES)
    return idf


def make_tools(work: Path, chip: str) -> Path:
    bin_dir = work / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in ("ar", "as", "ld", "nm", "objcopy", "objdump", "ranlib", "readelf", "size", "strip", "gcc-ar",
                 "gcc-nm", "gcc-ranlib", "cpp", "addr2line", "c++filt", "gcov", "strings", "elfedit"):
        link = bin_dir / f"riscv32-esp-elf-{tool}"
        if not link.exists():
            link.symlink_to(f"/usr/bin/riscv64-unknown-elf-{tool}")
    for tool in ("gcc", "g++", "c++"):
        path = bin_dir / f"riscv32-esp-elf-{tool}"
        path.write_text(GCC_WRAPPER.format(tool=tool, newlib=NEWLIB_INCLUDE,
                                              arch=toolchain.debian_arch_flags(chips.profile(chip))))
        path.chmod(0o755)
    python = bin_dir / "python"  # ESP-IDF's Python: kconfgen's venv plus dynapps and its dependencies
    site = next((ROOT / ".venv" / "lib").glob("python3*/site-packages"))
    python.write_text(f'#!/bin/sh\nPYTHONPATH={ROOT / "src"}:{site} exec {KCONFGEN_PYTHON} "$@"\n')
    python.chmod(0o755)
    return bin_dir


def make_project(work: Path) -> Path:
    project = work / "hello_apps"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(ROOT / "examples" / "hello_apps", project, ignore=shutil.ignore_patterns("build", "partitions.csv"))
    cmake = project / "CMakeLists.txt"
    cmake.write_text(cmake.read_text().replace("project(hello_apps)", "set(COMPONENTS main)\nproject(hello_apps)"))
    yaml = project / "dynapps.yaml"
    yaml.write_text(yaml.read_text().replace("hybrid_threshold:", "toolchain: riscv64-unknown-elf\nhybrid_threshold:"))
    return project


def configure(project: Path, chip: str, env: dict, bin_dir: Path, idf: Path) -> subprocess.CompletedProcess:
    """Configure until it passes or stops for a reason other than the tree's missing pieces."""
    for _ in range(20):
        shutil.rmtree(project / "build", ignore_errors=True)
        (project / "sdkconfig").unlink(missing_ok=True)
        result = subprocess.run(["cmake", "-S", str(project), "-B", str(project / "build"), "-G", "Ninja",
                                 f"-DIDF_TARGET={chip}", f"-DPYTHON={bin_dir / 'python'}", "-DPYTHON_DEPS_CHECKED=1",
                                 "-DCMAKE_C_COMPILER_WORKS=1", "-DCMAKE_CXX_COMPILER_WORKS=1",
                                 "-DCMAKE_TRY_COMPILE_TARGET_TYPE=STATIC_LIBRARY"],  # nothing links here
                                capture_output=True, text=True, env=env)
        log = result.stdout + result.stderr
        flat = " ".join(log.split())
        if result.returncode == 0:
            return result
        submodule = re.search(r"CMake Error at (\S+/components/([\w-]+))/CMakeLists.txt:\d+ \(message\): Missing", flat)
        include = re.search(r"Include directory '([^']+)' is not a directory", flat)
        sources = re.findall(r"Cannot find source file: (\S+)", flat)
        if submodule:
            say(f"removing component {submodule.group(2)} (its submodule is not in the tree)")
            shutil.rmtree(submodule.group(1))
        elif include:
            Path(include.group(1)).mkdir(parents=True)
        elif sources:
            for source in sources:
                Path(source).parent.mkdir(parents=True, exist_ok=True)
                Path(source).touch()
        else:
            return result
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tag", required=True)
    parser.add_argument("--chip", default="esp32c3")
    parser.add_argument("--idf-tree", type=Path, help="default: /work/idf/<tag>")
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    idf = make_tree(args.tag, args.idf_tree or Path("/work/idf") / args.tag, args.work)
    bin_dir = make_tools(args.work, args.chip)
    project = make_project(args.work)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "IDF_PATH": str(idf),
           "IDF_COMPONENT_MANAGER": "0"}
    env.pop("PYTHONPATH", None)

    configured = configure(project, args.chip, env, bin_dir, idf)
    if configured.returncode != 0:
        print(configured.stdout[-3000:] + configured.stderr[-3000:])
        say("FAILED: ESP-IDF's configure step")
        return 1
    say(f"configured with ESP-IDF {args.tag} tools/cmake for {args.chip}; "
        + next(line for line in configured.stdout.splitlines() if "dynapps: apps of" in line).strip("- "))
    build = project / "build"
    built = subprocess.run(["ninja", "-C", str(build), "dynapps_apps", "partition_table_bin"], capture_output=True,
                           text=True, env=env)
    if built.returncode != 0:
        print(built.stdout[-3000:] + built.stderr[-2000:])
        say("FAILED: ninja dynapps_apps partition_table_bin")
        return 1
    say("built: dynapps_apps (" + ", ".join(sorted(p.name for p in (build / "apps").glob("*.dapp")))
        + ") and partition_table_bin (ESP-IDF's gen_esp32part.py on the generated partitions.csv)")
    say("flash_project_args: " + " | ".join((build / "flash_project_args").read_text().splitlines()))
    targets = subprocess.run(["ninja", "-C", str(build), "-t", "targets", "all"], capture_output=True, text=True,
                             check=True).stdout
    objects = re.findall(r"^(esp-idf/(?:dynapps|main)/CMakeFiles/\S+\.obj):", targets, re.MULTILINE)
    sdkconfig_h = (build / "config" / "sdkconfig.h").read_text()
    env["IDF_CHECK_LIBC"] = "picolibc" if "#define CONFIG_LIBC_PICOLIBC 1" in sdkconfig_h else "newlib"
    say(f"C library: {env['IDF_CHECK_LIBC']} (sdkconfig)")
    failed = 0
    for obj in objects:
        command = subprocess.run(["ninja", "-C", str(build), "-t", "commands", obj], capture_output=True, text=True,
                                 check=True).stdout.splitlines()[-1]
        compiled = subprocess.run(command, shell=True, cwd=build, capture_output=True, text=True, env=env)
        failed += compiled.returncode != 0
        say(f"{'compiled' if compiled.returncode == 0 else 'FAILED  '} {obj.split('.dir/')[-1]}"
            + ("" if compiled.returncode == 0 else ": " + compiled.stderr.strip().splitlines()[-1]))
    return 1 if failed or not objects else 0


if __name__ == "__main__":
    sys.exit(main())
