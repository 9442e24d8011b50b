#!/usr/bin/env python3
"""Compile the dynapps component (portable core + ESP-IDF port) against a real ESP-IDF tree.

ESP-IDF itself can't be installed where the tests run, so this developer check is the closest
thing to `idf.py build` of the component: it generates a real `sdkconfig.h` for the chip from
ESP-IDF's own Kconfig files and the example firmware's sdkconfig.defaults (with esp-idf-kconfig's
`kconfgen`, from PyPI), then compiles every source of firmware/components/dynapps with the RISC-V
cross compiler, -Wall -Wextra -Werror, against the include folders of the components the
component's CMakeLists.txt requires (and theirs).

    python tools/idf_port_check.py --idf /path/to/esp-idf --chip esp32c3 [--kconfgen-python PY]
                                   [--defaults more.defaults ...]

--agent tinyusb-cdc (esp32p4) also needs the managed components ESP-IDF does not ship:
--esp-tinyusb DIR (device/esp_tinyusb of github.com/espressif/esp-usb, >= 2.0) and --tinyusb DIR
(github.com/espressif/tinyusb); their Kconfig and public include folders are used as a project
that adds espressif/esp_tinyusb would have them.

--defaults adds sdkconfig lines after the firmware's (e.g. CONFIG_SPIRAM=y, to compile the PSRAM
paths of the port, which the example firmware's defaults leave off).

The ESP-IDF tree must include its mbedtls submodule (components/mbedtls/mbedtls). The tree is
only read; nothing from it belongs in this repository. Exit status 0 when every source compiled.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from dynapps import chips, sdkconfig, toolchain  # noqa: E402  (the repository's own package, from src/)

COMPONENT = ROOT / "firmware/components/dynapps"
FIRMWARE = ROOT / "firmware"
CC = toolchain.DEBIAN_GCC  # with -march/-mabi from the chip profile spelled for it (toolchain.py)

# The component's PRIV_REQUIRES and what their public headers include in turn. Between ESP-IDF
# releases some moved (newlib -> esp_libc in 6.0, esp_security split out of esp_hw_support):
# a name missing from a release is skipped.
COMPONENTS = ["esp_partition", "esp_mm", "heap", "esp_hw_support", "esp_system", "freertos", "log", "soc",
              "mbedtls", "esp_common", "esp_rom", "newlib", "esp_libc", "hal", "riscv", "spi_flash",
              "esp_app_format", "esp_security", "bootloader_support", "esp_timer", "efuse", "esp_psram",
              "esp_driver_gpio", "esp_pm", "esp_stdio", "esp_blockdev",
              # the live agent's transports (CONFIG_DYNAPPS_AGENT, --agent)
              "driver", "esp_driver_uart", "esp_driver_usb_serial_jtag", "esp_ringbuf", "vfs", "esp_hal_uart",
              "esp_hal_usb"]
AGENT_TRANSPORTS = {"uart": "CONFIG_DYNAPPS_AGENT_UART=y\n",
                    "usb-serial-jtag": "CONFIG_DYNAPPS_AGENT_USB_SERIAL_JTAG=y\n",
                    # esp_tinyusb's own option first: the choice depends on it (Kconfig)
                    "tinyusb-cdc": "CONFIG_TINYUSB_CDC_ENABLED=y\nCONFIG_DYNAPPS_AGENT_TINYUSB_CDC=y\n"}
# Managed components a transport needs, not part of an ESP-IDF tree: --esp-tinyusb / --tinyusb give
# their source folders (device/esp_tinyusb of espressif/esp-usb, espressif/tinyusb).
TINYUSB_TRANSPORT = "tinyusb-cdc"

# Folder names that hold headers inside a component; searched up to a few levels down.
INCLUDE_DIR_NAMES = {"include", "platform_include", "register", "freertos"}
SKIP_PARTS = {"hw_ver1", "hw_ver3", "sim", "stubs", "test", "test_apps", "host_test", "linux", "xtensa", "esp_tee", "mbedtls_rom", "tests",
              "programs", "3rdparty", "framework", "library", "ld", "ulp"}


def chip_filter(path: Path, chip: str) -> bool:
    """Keep folders of no chip or of this chip (soc/esp32c3/include, not soc/esp32s3/include)."""
    return all(not re.fullmatch(r"esp32\w*", part) or part == chip for part in path.parts)


def include_dirs(idf: Path, chip: str, revision: str) -> list[Path]:
    found: list[Path] = []
    for name in COMPONENTS:
        base = idf / "components" / name
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(base)
            if (path.is_dir() and path.name in INCLUDE_DIR_NAMES and len(rel.parts) <= 5
                    and not SKIP_PARTS.intersection(rel.parts) and chip_filter(rel, chip)):
                found.append(path)
    # FreeRTOS: the kernel's own folders and ESP-IDF's configuration for RISC-V.
    freertos = idf / "components/freertos"
    # esp32p4: register headers per silicon revision (soc/CMakeLists.txt picks one).
    found += [p for p in (idf / f"components/soc/{chip}/register/{revision}",) if p.is_dir()]
    found += [p for p in (freertos / "FreeRTOS-Kernel/portable/riscv/include/freertos",
                          freertos / "config/riscv/include", freertos / "esp_additions/arch/riscv/include",
                          idf / "components/mbedtls/mbedtls/tf-psa-crypto/drivers/builtin/include")
              if p.is_dir()]
    # newlib/esp_libc's platform_include wraps the C library's headers with #include_next: first.
    found.sort(key=lambda p: p.name != "platform_include")
    return found


def idf_version(idf: Path) -> str:
    text = (idf / "tools/cmake/version.cmake").read_text()
    parts = [re.search(rf"IDF_VERSION_{k} (\d+)", text).group(1) for k in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


def sdkconfig_header(idf: Path, chip: str, python: str, work: Path, extra_defaults=(),
                     agent: str | None = None, managed: tuple[Path, ...] = ()) -> Path:
    """sdkconfig.h from ESP-IDF's Kconfig tree, the managed components' Kconfig, the dynapps Kconfig
    and the firmware's defaults (with `agent`, plus CONFIG_DYNAPPS_AGENT on that transport)."""
    kconfigs = (sorted(idf.glob("components/*/Kconfig")) + [p / "Kconfig" for p in managed if (p / "Kconfig").is_file()]
                + [COMPONENT / "Kconfig"])
    projbuild = sorted(idf.glob("components/*/Kconfig.projbuild"))
    (work / "kconfigs.in").write_text("".join(f'source "{p}"\n' for p in kconfigs))
    (work / "kconfigs_projbuild.in").write_text("".join(f'source "{p}"\n' for p in projbuild))
    renames = [str(p) for p in [idf / "sdkconfig.rename", idf / f"components/soc/{chip}/sdkconfig.rename"]
               + sorted(idf.glob("components/*/sdkconfig.rename"))
               + sorted(idf.glob(f"components/*/sdkconfig.rename.{chip}")) if p.is_file()]
    header = work / "sdkconfig.h"
    env = {"IDF_PATH": idf, "IDF_TARGET": chip, "IDF_TOOLCHAIN": "gcc", "IDF_VERSION": idf_version(idf),
           "IDF_INIT_VERSION": idf_version(idf), "IDF_ENV_FPGA": "", "IDF_CI_BUILD": "",
           "IDF_MINIMAL_BUILD": "n",
           "COMPONENT_KCONFIGS_SOURCE_FILE": work / "kconfigs.in",
           "COMPONENT_KCONFIGS_PROJBUILD_SOURCE_FILE": work / "kconfigs_projbuild.in",
           "COMPONENT_KCONFIGS_EXCLUDED_SOURCE_FILE": work / "none.in",
           "COMPONENT_KCONFIGS_PROJBUILD_EXCLUDED_SOURCE_FILE": work / "none.in"}
    defaults = [FIRMWARE / "sdkconfig.defaults", FIRMWARE / f"sdkconfig.defaults.{chip}", *extra_defaults]
    if agent:
        (work / "sdkconfig.agent").write_text("CONFIG_DYNAPPS_AGENT=y\n" + AGENT_TRANSPORTS[agent])
        defaults.append(work / "sdkconfig.agent")
    command = [python, "-m", "kconfgen", "--kconfig", str(idf / "Kconfig"), "--config", str(work / "sdkconfig")]
    for path in defaults:
        command += ["--defaults", str(path)]
    for path in renames:
        command += ["--sdkconfig-rename", path]
    for key, value in env.items():
        command += ["--env", f"{key}={value}"]
    command += ["--output", "header", str(header), "--output", "config", str(work / "sdkconfig")]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not header.exists():
        sys.exit(f"kconfgen failed for {chip}:\n{result.stdout}\n{result.stderr}")
    if agent:
        refused = [line for line in AGENT_TRANSPORTS[agent].split() if not config_value(header, line[7:-2])]
        if refused:  # kconfgen drops a choice whose `depends on` fails: say so, compile nothing else
            sys.exit(f"ESP-IDF {idf_version(idf)} {chip}: Kconfig refuses {', '.join(refused)} (--agent {agent})")
    return header


def config_value(header: Path, name: str) -> str | None:
    match = re.search(rf"^#define CONFIG_{name} (.+)$", header.read_text(), re.MULTILINE)
    return match.group(1).strip() if match else None


def arena_agreement(work: Path, header: Path) -> str:
    """What the app build's sdkconfig reader (src/dynapps/sdkconfig.py) makes of the sdkconfig
    kconfgen wrote, checked against the sdkconfig.h the component is compiled with."""
    config = sdkconfig.load(work, None, work)
    arena = config.arena(chips.profile(config.chip))
    compiled = (int(config_value(header, "DYNAPPS_DATA_ARENA_ADDRESS"), 0),
                int(config_value(header, "DYNAPPS_DATA_ARENA_SIZE"), 0))
    if (arena.start, arena.size) != compiled:
        sys.exit(f"the app build reads the arena {arena.start:#x}+{arena.size} from sdkconfig, the component is "
                 f"compiled with {compiled[0]:#x}+{compiled[1]}")
    return f"data arena {arena.start:#x}+{arena.size} (the app build reads the same)"


def managed_flags(chip: str, esp_tinyusb: Path, tinyusb: Path) -> list[str]:
    """What a project with espressif/esp_tinyusb gives its components: esp_tinyusb's include folder
    (tusb_config.h among them), TinyUSB's src/ and the MCU TinyUSB's CMakeLists.txt defines
    publicly (OPT_MCU_ESP32P4 for esp32p4)."""
    return [f"-isystem{esp_tinyusb / 'include'}", f"-isystem{tinyusb / 'src'}", f"-DCFG_TUSB_MCU=OPT_MCU_{chip.upper()}"]


def compile_component(idf: Path, chip: str, header: Path, work: Path, libc_include: list[Path],
                      agent: bool = False, extra_flags: list[str] | None = None) -> list[str]:
    """Compile every component source; returns the failures (compiler output)."""
    chip_id = config_value(header, "IDF_FIRMWARE_CHIP_ID")
    fpu = "1" if config_value(header, "SOC_CPU_HAS_FPU") else "0"
    flags = toolchain.debian_arch_flags(chips.profile(chip)) + ["-std=gnu17", "-Os", "-ffunction-sections", "-Wall", "-Wextra", "-Werror",
                          "-Wno-error=deprecated-declarations",
                          f"-DDYNAPPS_CHIP_ID={chip_id}", f"-DDYNAPPS_FPU_ABI={fpu}", "-DESP_PLATFORM",
                          "-DIDF_VER=\"check\"", "-D_GNU_SOURCE", "-D_POSIX_READER_WRITER_LOCKS",
                          f"-I{work}", f"-I{COMPONENT / 'include'}", f"-I{COMPONENT / 'src'}",
                          f"-I{COMPONENT / 'agent'}"]
    # Compile definitions ESP-IDF's soc component gives every user (soc/CMakeLists.txt).
    flags += ["-DSOC_MMU_PAGE_SIZE=CONFIG_MMU_PAGE_SIZE", "-DSOC_XTAL_FREQ_MHZ=CONFIG_XTAL_FREQ"]
    # What the component's CMakeLists.txt defines from Kconfig besides the ids above.
    flags += [f"-D{name}=1" for name in ("DYNAPPS_TRUST_MARKS", "DYNAPPS_REQUIRE_SIGNED_IMAGES")
              if config_value(header, name)]
    # ESP-IDF's headers as system headers: -Werror is for the component's own code.
    revision = "hw_ver1" if config_value(header, "ESP32P4_SELECTS_REV_LESS_V3") else "hw_ver3"
    flags += [f"-isystem{path}" for path in include_dirs(idf, chip, revision)] + (extra_flags or [])
    # The C library behind ESP-IDF's platform_include: picolibc (ESP-IDF >= 6.0's default,
    # Debian's picolibc has it) or newlib as Espressif's toolchain builds it (retargetable locks).
    if config_value(header, "LIBC_PICOLIBC"):
        flags += ["--specs=picolibc.specs"]
    else:
        flags += ["-D_RETARGETABLE_LOCKING"] + [f"-isystem{path}" for path in libc_include]
    failures = []
    sources = sorted((COMPONENT / "src").glob("*.c")) + sorted((COMPONENT / "port/esp-idf").glob("*.c"))
    if agent:
        sources += [COMPONENT / "agent/dynapps_agent.c", *sorted((COMPONENT / "agent/port/esp-idf").glob("*.c"))]
    for source in sources:
        result = subprocess.run([CC, *flags, "-c", str(source), "-o", str(work / (source.stem + ".o"))],
                                capture_output=True, text=True)
        status = "ok" if result.returncode == 0 else "FAILED"
        print(f"  {source.relative_to(ROOT)}: {status}")
        if result.returncode != 0:
            failures.append(result.stderr)
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idf", type=Path, required=True, help="an ESP-IDF tree with its mbedtls submodule")
    parser.add_argument("--chip", choices=chips.names(), action="append", help="default: every chip")
    parser.add_argument("--libc-include", type=Path, action="append",
                        help="newlib headers as ESP-IDF's toolchain has them (Espressif's newlib fork: "
                             "newlib/libc/include); default: Debian's libnewlib-dev, /usr/include/newlib")
    parser.add_argument("--defaults", type=Path, action="append", default=[],
                        help="another sdkconfig.defaults file, applied after the firmware's")
    parser.add_argument("--kconfgen-python", default=sys.executable,
                        help="a Python with esp-idf-kconfig installed (default: this one)")
    parser.add_argument("--agent", choices=sorted(AGENT_TRANSPORTS),
                        help="also compile the live agent, CONFIG_DYNAPPS_AGENT on this transport")
    parser.add_argument("--esp-tinyusb", type=Path, help="esp_tinyusb's source folder (--agent tinyusb-cdc)")
    parser.add_argument("--tinyusb", type=Path, help="TinyUSB's source folder, espressif/tinyusb (--agent tinyusb-cdc)")
    args = parser.parse_args()
    managed: tuple[Path, ...] = ()
    if args.agent == TINYUSB_TRANSPORT:
        if not (args.esp_tinyusb and args.tinyusb):
            parser.error("--agent tinyusb-cdc needs --esp-tinyusb DIR and --tinyusb DIR")
        managed = (args.esp_tinyusb.resolve(), args.tinyusb.resolve())
    failed = False
    for chip in args.chip or chips.names():
        if not (args.idf / "components/soc" / chip).is_dir():
            print(f"ESP-IDF {idf_version(args.idf)} {chip}: not supported by this release, skipped")
            continue
        with tempfile.TemporaryDirectory() as temp:
            work = Path(temp)
            header = sdkconfig_header(args.idf.resolve(), chip, args.kconfgen_python, work,
                                      [path.resolve() for path in args.defaults], args.agent, managed)
            print(f"ESP-IDF {idf_version(args.idf)} {chip}: sdkconfig.h generated; {arena_agreement(work, header)}; "
                  "compiling")
            failures = compile_component(args.idf.resolve(), chip, header, work,
                                         args.libc_include or [Path("/usr/include/newlib")], bool(args.agent),
                                         managed_flags(chip, *managed) if managed else None)
            for text in failures:
                print(text, file=sys.stderr)
            failed |= bool(failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
