"""The SCons side of the tool `dynapps` (the package's generate() calls generate() here): it
registers the builders, methods and aliases that turn apps/*/app.yaml into loadable images, and
nothing else. The work lives in the SCons-free stage modules (manifest, layout, toolchain, link,
image, wrappers, partitions, flashing, emulator); each builder hands its stage one typed contract
(contracts.py) through a construction variable in its action's `varlist`, so a change to any of
the contract's fields rebuilds the target, and no action reads a value from a source position.
"""

from __future__ import annotations

import atexit
import gc
import hashlib
import json
import os
import shlex
import shutil
import sys
import threading
from pathlib import Path

import SCons.Action
import SCons.Builder
import SCons.Defaults
import SCons.Errors
import SCons.Script

# The stages that only actions or some targets need (link, image, summary, flashing, signing, the
# emulator, the live agent's host side) are imported where they are used: a build does not pay for
# importing what it does not run.
from . import (chips, console, cxx, errors, idf_versions, native, project, render, scons_uptodate, sdkconfig, size,
               stale, toolchain, wrappers)
from .contracts import (AppSlot, FlashOptions, ImageSettings, LinkAnalysis, LinkConfig, LinkOutputs, MemoryMap,
                        ProjectPlan)
from .errors import DynappsError
from .manifest import Manifest
from .partitions import Table

TOOL_DIR = Path(__file__).parent
BUILD_DIR = "build"
APPS_BUILD = f"{BUILD_DIR}/apps"
GENERATED = f"{BUILD_DIR}/generated"
PARTITION_TABLE_BIN = f"{BUILD_DIR}/partition-table.bin"
EMULATOR_BUILD = f"{BUILD_DIR}/emulator"
EMULATOR_FLASH = f"{EMULATOR_BUILD}/flash.bin"
EMULATOR_FIRMWARE = f"{EMULATOR_BUILD}/firmware.elf"
LIVE_BUILD = f"{EMULATOR_BUILD}/live"  # the emulator firmware built with the live agent (docs/live.md)
FLASH_RECORD = f"{BUILD_DIR}/flash-record.json"
# What the ESP-IDF build reads at its configure step (the component's project_include.cmake):
# the generated sources and the app slots `idf.py flash` writes (docs/idf-integration.md).
IDF_APPS_CMAKE = f"{BUILD_DIR}/idf-apps.cmake"
# Folders that only hold what this build produces: a file in them that no target of the build
# makes is a leftover (a removed app's wrappers, objects and image) and is deleted by `apps`.
# ESP-IDF's build compiles every build/generated/*.c, so a stale wrapper would still be built.
OWNED_FOLDERS = (APPS_BUILD, GENERATED, f"{EMULATOR_BUILD}/obj/generated", f"{LIVE_BUILD}/obj/generated")
APP_LIST = f"{BUILD_DIR}/app-list.txt"  # the apps of the last build: leftovers are looked for when it changes
RUN_TIMEOUT_S = 120.0
STAGE_MODULES = [str(TOOL_DIR / f"{name}.py") for name in ("link", "clib", "cxx", "elf32", "relocs", "signatures", "csig",
                                                          "image", "render", "summary", "size", "contracts")]
LINK_TEMPLATES = [str(render.template_path(name)) for name in ("imports.S.j2", "copy.ld.j2", "xip.ld.j2")]

# The construction variable through which each builder receives its contract (contracts.py).
LINK_CONFIG = "DYNAPPS_LINK_CONFIG"
IMAGE_SETTINGS = "DYNAPPS_IMAGE_SETTINGS"
RUN_CHIP = "DYNAPPS_RUN_CHIP"  # the chip profile the emulator reproduces (a name: chips.profile)
RUN_IDF = "DYNAPPS_RUN_IDF"  # the ESP-IDF release whose flash mapping the emulator reproduces (idf_versions)
SUMMARY_IDF = "DYNAPPS_SUMMARY_IDF"  # the ESP-IDF release the summary names XIP mappings for
SUMMARY_ROWS = "DYNAPPS_SUMMARY_ROWS"  # {app: (link analysis file, image file)}
MEMORY_MAP = "DYNAPPS_MEMORY_MAP"  # the size report's regions (size.py)
RENDER_CONTEXT = "DYNAPPS_RENDER_CONTEXT"  # the template's variables (a dict: JSON-able)
PARTITION_TABLE = "DYNAPPS_PARTITION_TABLE"
FLASH_OPTIONS = "DYNAPPS_FLASH_OPTIONS"
APP_NAMES = "DYNAPPS_APP_NAMES"  # {"apps": [names]}: a dict, which SCons signs by its repr
PUSH_OPTIONS = "DYNAPPS_PUSH_OPTIONS"  # remote.PushOptions

# `scons -h`: what each target does, listed beside the variables.
TARGETS = {
    "apps": "build every app's image, the firmware's wrappers and export table, partitions.csv and "
            "the partition table (the default)",
    "generate": "only what the firmware build reads, no compiling: the wrappers, the export table, "
                "partitions.csv and build/idf-apps.cmake (ESP-IDF's configure step runs it)",
    "flash-apps": "write the app slots and the partition table that changed: into the emulator's flash "
                  "image, or to the board at PORT",
    "flash-all": "write every file the ESP-IDF build's flasher_args.json lists (IDF_BUILD) and every app slot "
                 "to the board at PORT",
    "run": "build, flash-apps into the emulator's flash image, boot the firmware in the emulator",
    "keygen": "write a new image signing key (ECDSA P-256) to signing.key of dynapps.yaml (or SIGNING_KEY)",
    "live": "build the emulator firmware with the live agent; `dynapps live` (./dev live) also boots it, its "
            "UART on a pty (printed), until Ctrl-C",
    "push": "build APP's image and push it into the running firmware's agent at PORT, reload it (no reset)",
}
KEY_PATH = "DYNAPPS_KEY_PATH"  # keygen: where the private key goes (a str)
# SCons's generic tools for what the builders compile and link (the compilers themselves are the
# toolchain's): not "default", which looks for every tool it knows and runs the host's gcc.
SCONS_TOOLS = ("cc", "c++", "as", "link")


# ---- actions: each reads its contract, calls its stage, writes its targets ---------------------

def _action(function):
    """Every Python action: any exception is one `error:` line naming the file being built
    (errors.report), never a traceback; VERBOSE=1 adds the traceback of a dynapps bug."""
    def run(target, source, env):
        try:
            return function(target, source, env)
        except Exception as error:  # noqa: BLE001 - the one place every action's failure is reported
            errors.report(error, str(target[0]), bool(env.get("VERBOSE")))
            return 1
    run.__name__ = function.__name__
    return run


def _reporting_spawn(spawn):
    """Commands SCons runs (the compiler): one `error:` line when one crashes or can't be run. Its
    own diagnostics already say what is wrong with the code, so ordinary failures pass through."""
    def run(shell, escape, command, arguments, env):
        status = spawn(shell, escape, command, arguments, env)
        if status < 0 or status >= 126:
            words = shlex.split(" ".join(arguments))  # undo SCons's shell quoting
            output = words[words.index("-o") + 1] if "-o" in words[:-1] else "build"
            console.error(f"error: {output}: {errors.exit_status(words[0], status)}")
        return status
    return run


def _prepare_links_early(env, plan: ProjectPlan) -> None:
    profile, tools = plan.project.profile, plan.tools
    env["SPAWN"] = _preparing_links(env["SPAWN"], (tools.cc, tuple(tools.arch_flags(profile)),
                                                   tuple(tools.libc_flags())))


def _preparing_links(spawn, toolchain_flags: tuple):
    """The first command SCons runs (an app's compile) also starts link.prepare in a thread: the
    links' one-time work is then done while the compilers run, and the first links, which would
    each wait for it, find it done. A failure there is left for the link to report."""
    started = threading.Lock()

    def prepare() -> None:
        from . import link
        try:
            link.prepare(*toolchain_flags)
        except Exception:  # noqa: BLE001 - each link calls prepare again and reports what fails
            pass

    def run(shell, escape, command, arguments, env):
        if started.acquire(blocking=False):
            threading.Thread(target=prepare, name="dynapps link preparation", daemon=True).start()
        return spawn(shell, escape, command, arguments, env)
    return run


def _contract(env, key: str, kind: type):
    """The contract a builder was called with (env[key]); a missing or wrong one is a wiring bug."""
    value = env.get(key)
    if not isinstance(value, kind):
        raise SCons.Errors.UserError(f"dynapps: {key} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def _link_action(target, source, env):
    from . import link
    config = _contract(env, LINK_CONFIG, LinkConfig)
    outputs = LinkOutputs.for_elf(str(target[0]))
    link.link(config, [str(node) for node in source], outputs, log=console.say if env.get("VERBOSE") else None)
    return 0


def _link_emitter(target, source, env):
    """The six files of LinkOutputs, from the ELF's name; sources are the app's objects only."""
    _contract(env, LINK_CONFIG, LinkConfig)
    return LinkOutputs.for_elf(str(target[0])).paths(), source


def _image_action(target, source, env):
    from . import image
    outputs = LinkOutputs.for_elf(str(source[0]))
    analysis = LinkAnalysis.from_json(_read_json(outputs.analysis))
    data = image.build(analysis, outputs.elf, _contract(env, IMAGE_SETTINGS, ImageSettings))
    Path(str(target[0])).write_bytes(data)
    return 0


def _image_emitter(target, source, env):
    """One source, the app's ELF; its link analysis beside it is read too, so it is one as well."""
    _contract(env, IMAGE_SETTINGS, ImageSettings)
    if len(source) != 1 or not str(source[0]).endswith(".elf"):
        raise SCons.Errors.UserError(f"dynapps: an image is built from one linked ELF, got {list(map(str, source))}")
    return target, [source[0], LinkOutputs.for_elf(str(source[0])).analysis]


def _read_json(path: str) -> dict:
    return json.loads(Path(path).read_text())


def _summary_action(target, source, env):
    """The per-app table, then the size report (against the last build's size.json) and the
    layout picture: targets summary.txt, size.json, layout.svg."""
    from . import summary
    rows = [(LinkAnalysis.from_json(_read_json(analysis)), os.path.getsize(image_file))
            for analysis, image_file in _contract(env, SUMMARY_ROWS, dict).values()]
    memory = _contract(env, MEMORY_MAP, MemoryMap)
    text_file, json_file, svg_file = (Path(str(node)) for node in target)
    report = size.report(memory, rows, size.read_previous(json_file))
    text = summary.table(rows, idf_versions.release(_contract(env, SUMMARY_IDF, str))) + "\n\n" + report.text()
    text_file.write_text(text + "\n")
    json_file.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    svg_file.write_text(size.svg(memory, rows))
    console.say(text)
    console.say(f"layout picture: {svg_file}")
    return 0


def _render_action(target, source, env):
    context = _contract(env, RENDER_CONTEXT, dict)
    Path(str(target[0])).write_text(render.render(Path(str(source[0])).name, **context))
    return 0


def _partition_table_action(target, source, env):
    Path(str(target[0])).write_bytes(_contract(env, PARTITION_TABLE, Table).to_binary())
    return 0


def _flash_apps_action(target, source, env):
    """flash-apps without PORT: into the emulator's flash image (the target)."""
    from . import flashing
    console.say(flashing.to_emulator(Path(str(target[0])), _contract(env, FLASH_OPTIONS, FlashOptions)))
    return 0


def _flash_board_action(target, source, env):
    """flash-apps with PORT: to the board, what changed since the flash record."""
    from . import flashing
    console.say(flashing.to_board(Path(FLASH_RECORD), _contract(env, FLASH_OPTIONS, FlashOptions)))
    return 0


def _flash_all_action(target, source, env):
    """flash-all: the ESP-IDF firmware and every app region, in one esptool connection."""
    from . import flashing
    console.say(flashing.everything_to_board(Path(FLASH_RECORD), _contract(env, FLASH_OPTIONS, FlashOptions)))
    return 0


def _remove_stale_action(target, source, env):
    """Delete what removed apps left in OWNED_FOLDERS (stale.py), then write the app list."""
    for path in stale.remove([env.Dir(f"#{folder}") for folder in OWNED_FOLDERS], Path(env.Dir("#").abspath)):
        console.say(f"REMOVE {path}")
    Path(str(target[0])).write_text("".join(f"{name}\n" for name in _contract(env, APP_NAMES, dict)["apps"]))
    return 0


def _keygen_action(target, source, env):
    """keygen: a new private key at signing.key; never over an existing one. The key file is no
    target of the build, so `scons -c` never deletes it."""
    from . import signing
    path = Path(_contract(env, KEY_PATH, str))
    signing.keygen(path, str(path))
    console.say(f"keygen: wrote the private key {path} (keep it out of version control); every image "
                "is signed with it from now on and the firmware's export table carries its public key")
    return 0


def _linker_script_action(target, source, env):
    Path(str(target[0])).write_text(source[0].read())
    return 0


def _run_action(target, source, env):
    """Boot the emulator firmware (source 0) on the flash image flash-apps wrote (source 1); fail if
    the firmware does."""
    from . import emulator
    firmware_elf, flash_image = map(str, source)
    machine = emulator.Machine(chips.profile(_contract(env, RUN_CHIP, str)), Path(flash_image).read_bytes(),
                               echo=sys.stdout.buffer, idf=_contract(env, RUN_IDF, str))
    machine.load_firmware(firmware_elf)
    result = machine.run(timeout_s=RUN_TIMEOUT_S)
    sys.stdout.flush()
    if env.get("VERBOSE"):
        for fault in result.faults:
            console.error(f"emulator: {fault}")
    table = emulator.where_apps_ran(machine, result.uart_text)  # empty for firmware without LOADED lines
    if table:
        console.say(table)
    failure = emulator.failure(machine, result, RUN_TIMEOUT_S)
    if failure:
        raise DynappsError(failure)
    return 0


def _live_action(target, source, env):
    """`live`: what `dynapps live` boots (remote.LiveSetup: the chip, the agent firmware, source 0,
    and the flash image, source 1), written for it; the serving runs in `dynapps live`'s main
    thread, where Ctrl-C reaches it (an SCons action runs in a worker thread)."""
    from . import remote
    firmware_elf, flash_image = (Path(str(node)).resolve() for node in source)
    remote.LiveSetup(_contract(env, RUN_CHIP, str), str(firmware_elf), str(flash_image)).write(Path(str(target[0])))
    return 0


def _push_action(target, source, env):
    from . import remote
    remote.push_app(_contract(env, PUSH_OPTIONS, remote.PushOptions))
    return 0


# One line per step; VERBOSE=1 shows the compiler and linker commands in full instead.
STEP_COMSTRS = {
    "DYNAPPS_LINKCOMSTR": "LINK ${TARGET.filebase}",
    "DYNAPPS_IMAGECOMSTR": "IMAGE ${TARGET.file}",
    "DYNAPPS_SUMMARYCOMSTR": "SUMMARY",
    "DYNAPPS_GENCOMSTR": "GEN $TARGET",
    "DYNAPPS_FLASHCOMSTR": "FLASH-APPS",
    "DYNAPPS_FLASHALLCOMSTR": "FLASH-ALL",
    "DYNAPPS_RUNCOMSTR": "RUN ${SOURCES[0]} on the ${DYNAPPS_RUN_CHIP} emulator",
    "DYNAPPS_LIVECOMSTR": "LIVE ${SOURCES[0]} for the ${DYNAPPS_RUN_CHIP} emulator: `dynapps live` boots it",
    "DYNAPPS_PUSHCOMSTR": "PUSH ${SOURCES[0]}",
}
QUIET_COMSTRS = {"CCCOMSTR": "CC $SOURCE", "CXXCOMSTR": "CXX $SOURCE", "ASPPCOMSTR": "AS $SOURCE", "LINKCOMSTR": "LINK $TARGET",
                 "INSTALLSTR": "GEN $TARGET"}


def _step(function, comstr: str | None, contract: str | tuple[str, ...] | None = None) -> SCons.Action.Action:
    """A Python action whose signature includes its contracts' repr (a change rebuilds)."""
    contracts = (contract,) if isinstance(contract, str) else contract or ()
    return SCons.Action.Action(_action(function), comstr, varlist=list(contracts))


def _builder(function, comstr: str, contract: str | tuple[str, ...] | None = None, **options):
    return SCons.Builder.Builder(action=_step(function, comstr, contract), **options)


LinkBuilder = _builder(_link_action, "$DYNAPPS_LINKCOMSTR", LINK_CONFIG, emitter=_link_emitter)
ImageBuilder = _builder(_image_action, "$DYNAPPS_IMAGECOMSTR", IMAGE_SETTINGS, suffix=".dapp", emitter=_image_emitter)
SummaryBuilder = _builder(_summary_action, "$DYNAPPS_SUMMARYCOMSTR", (SUMMARY_ROWS, SUMMARY_IDF, MEMORY_MAP))
RenderBuilder = _builder(_render_action, "$DYNAPPS_GENCOMSTR", RENDER_CONTEXT)
PartitionTableBuilder = _builder(_partition_table_action, "$DYNAPPS_GENCOMSTR", PARTITION_TABLE)
FlashAppsBuilder = _builder(_flash_apps_action, "$DYNAPPS_FLASHCOMSTR", FLASH_OPTIONS)
LinkerScriptBuilder = _builder(_linker_script_action, "$DYNAPPS_GENCOMSTR")
RunBuilder = _builder(_run_action, "$DYNAPPS_RUNCOMSTR", (RUN_CHIP, RUN_IDF))
BUILDERS = {"DynappsLink": LinkBuilder, "DynappsImage": ImageBuilder, "DynappsSummary": SummaryBuilder,
            "DynappsRender": RenderBuilder, "DynappsPartitionTable": PartitionTableBuilder,
            "DynappsFlashApps": FlashAppsBuilder, "DynappsLinkerScript": LinkerScriptBuilder,
            "DynappsRun": RunBuilder}


# ---- command-line variables ----------------------------------------------------------------------

CC_LAUNCHERS = ("ccache", "distcc", "icecc")  # what ESP-IDF (CCACHE_ENABLE) and PlatformIO users put before CC

def _choice_variable(key: str, help_text: str, choices) -> tuple:
    """A variable that is empty (the project file decides) or one of `choices`."""
    def validate(_key, value, _env):
        if value and value not in choices:
            raise DynappsError(f"{key}={value}: expected one of {', '.join(choices)}")
    return key, f"{help_text} ({' | '.join(choices)})", "", validate


def _bool_variable(key: str, help_text: str, default: bool) -> tuple:
    """SCons's BoolVariable, whose bad value names the variable and the accepted spellings."""
    key, help_text, default, validator, convert = SCons.Script.BoolVariable(key, help_text, default)

    def converter(value):
        try:
            return convert(value)
        except ValueError:
            raise DynappsError(f"{key}={value}: expected 1 or 0 (also yes/no, true/false, on/off)") from None
    return key, help_text, default, validator, converter


def _variables():
    variables = SCons.Script.Variables(None, SCons.Script.ARGUMENTS)
    variables.Add(*_choice_variable("CHIP", "target chip (default: dynapps.yaml)", chips.names()))
    variables.Add(*_choice_variable("TOOLCHAIN", "RISC-V compiler (default: dynapps.yaml)", project.TOOLCHAINS))
    variables.Add("PORT", "serial port of a board for flash-apps (or ESPTOOL_PORT); none: the emulator's flash image",
                  os.environ.get("ESPTOOL_PORT", ""))
    variables.Add("BAUD", "baud rate for flash-apps and flash-all (or ESPTOOL_BAUD)", os.environ.get("ESPTOOL_BAUD", "460800"))
    variables.Add("BEFORE", "reset before flashing: default-reset, usb-reset, no-reset, no-reset-no-sync (or ESPTOOL_BEFORE)",
                  os.environ.get("ESPTOOL_BEFORE", "default-reset"))
    variables.Add("AFTER", "reset after flashing: hard-reset, no-reset, no-reset-stub, watchdog-reset (or ESPTOOL_AFTER)",
                  os.environ.get("ESPTOOL_AFTER", "hard-reset"))
    variables.Add(*_bool_variable("NO_STUB", "flash through the ROM loader only, without esptool's stub", False))
    variables.Add(*_bool_variable("FORCE", "flash-apps: write every region, whatever build/flash-record.json says", False))
    variables.Add(*_bool_variable("SKIP_FLASHED", "flash-apps: offer every region, write those whose MD5 on the chip differs", False))
    variables.Add("IDF_BUILD", "ESP-IDF build folder flash-all reads", "firmware/build")
    variables.Add("SIGNING_KEY", "private key images are signed with (default: signing.key in dynapps.yaml)", "")
    variables.Add(*_choice_variable("IDF", f"ESP-IDF release of the firmware: its flash mapping rules in the emulator "
                                           f"and the summary (default: {idf_versions.DEFAULT})", idf_versions.RELEASES))
    variables.Add("SDKCONFIG", "the firmware's sdkconfig (the ESP-IDF build passes its own)", "")
    variables.Add("APP", "push: the app to build and push into the agent at PORT", "")
    variables.Add(*_bool_variable("VERBOSE", "print full commands", False))
    key, help_text, _, validate = _choice_variable("CC_LAUNCHER", "run every compile through a compiler launcher "
                                                   "(or DYNAPPS_CC_LAUNCHER)", CC_LAUNCHERS)
    variables.Add(key, help_text, os.environ.get("DYNAPPS_CC_LAUNCHER", ""), validate)
    variables.Add("CACHE_DIR", "a build cache shared by clones and machines, e.g. on a network store "
                  "(or DYNAPPS_CACHE_DIR; docs/performance.md, 'Teams')", os.environ.get("DYNAPPS_CACHE_DIR", ""))
    return variables


# ---- definers: each wires one group of targets from the project plan -----------------------------

def _launched(env, compiler: str) -> str:
    """The compile command's compiler, behind CC_LAUNCHER if one is set."""
    launcher = env.get("CC_LAUNCHER")
    return f"{launcher} {compiler}" if launcher else compiler


def _app_overrides(env, tools: toolchain.Toolchain, profile: chips.ChipProfile, proj, app: Manifest) -> dict:
    """An app's compile settings, as overrides of the Object builder's call: a cheap override
    environment per app instead of an env.Clone() (a deep copy of the environment) per app."""
    return dict(
        CC=_launched(env, tools.cc), CXX=_launched(env, tools.cxx), AS=tools.cc, OBJSUFFIX=".o",
        CCFLAGS=tools.app_cflags(profile) + list(proj.cflags) + list(app.cflags),
        CXXFLAGS=tools.app_cxxflags(),
        ASFLAGS=tools.app_asflags(profile),
        CPPPATH=[f"#{app.directory}", str(native.COMPONENT / "include")],
        CPPDEFINES=list(app.defines),
    )


def _stage_version(env, files: tuple[str, ...]):
    """One Value node standing for the content of the stage modules and templates a step runs:
    a target depends on it instead of on each file (one up-to-date check, not one per file per
    target), and an edit of any of them changes it and rebuilds the target. Read once per run."""
    versions = env.setdefault("DYNAPPS_STAGE_VERSIONS", {})
    if files not in versions:
        digest = hashlib.sha256()
        for path in files:
            digest.update(Path(path).name.encode() + b"\0" + Path(path).read_bytes())
        versions[files] = env.Value(f"dynapps stages {digest.hexdigest()}")
    return versions[files]


def _idf(env, proj) -> idf_versions.IdfRelease:
    """The ESP-IDF release the firmware is built with (idf_versions.firmware_release): its
    sdkconfig's, else IDF=."""
    config = proj.firmware_config
    configured = config.idf_version if config else None
    return idf_versions.firmware_release(env.get("IDF") or None, configured,
                                         config.where(sdkconfig.IDF_VERSION) if configured else "")


def _cxx_runtime(env, overrides: dict, app: Manifest, out: str) -> list:
    """A C++ app's copy of dynapps' C++ runtime support (cxx.py), compiled with its C flags
    (`overrides`: the app's compile settings); the link takes only the objects the app uses."""
    if not app.is_cxx:
        return []
    return [env.Object(f"#{out}/dynapps_{source.stem}.o", str(source), **overrides)[0]
            for source in cxx.RUNTIME_SOURCES]


def _image_path(app: str) -> str:
    return f"{APPS_BUILD}/{app}.dapp"


def _define_app(env, plan: ProjectPlan, app: Manifest):
    """An app's objects, its link and its image; returns (link analysis node, image node)."""
    proj, profile, tools = plan.project, plan.project.profile, plan.tools
    slot = plan.layout.slot(app.name)
    overrides = _app_overrides(env, tools, profile, proj, app)
    out = f"{APPS_BUILD}/{app.name}"
    objects = [env.Object(f"#{out}/{Path(src).stem}.o", f"#{src}", **overrides)[0] for src in app.sources]
    runtime = _cxx_runtime(env, overrides, app, out)
    config = LinkConfig.of(app, slot, profile, tools, plan.firmware, proj, tuple(str(node) for node in runtime))
    linked = env.DynappsLink(f"#{out}/{app.name}.elf", objects + runtime, **{LINK_CONFIG: config})
    env.Depends(linked, _stage_version(env, tuple(STAGE_MODULES + LINK_TEMPLATES)))
    key = proj.signing_key_path(env.get("SIGNING_KEY", ""))
    settings = ImageSettings(profile.chip_id, profile.has_fpu, plan.firmware.prefix_ids, app.path, app.version,
                             profile.slot_alignment(slot.xip_capable), str(key) if key else "")
    built = env.DynappsImage(f"#{_image_path(app.name)}", linked[0], **{IMAGE_SETTINGS: settings})
    env.Depends(built, [_stage_version(env, tuple(STAGE_MODULES + [str(TOOL_DIR / "signing.py")]))]
                + ([env.File(str(key))] if key else []))
    return linked[1], built[0]


def _define_apps(env, plan: ProjectPlan) -> tuple[list, object]:
    """Every app's image and the summary table printed after them; returns (images, summary)."""
    pairs = {app.name: _define_app(env, plan, app) for app in plan.apps}
    rows = {name: (str(analysis), str(built)) for name, (analysis, built) in pairs.items()}
    longest_first = sorted(plan.apps, key=lambda app: -_source_bytes(plan.project.root, app))
    report = env.DynappsSummary([f"#{APPS_BUILD}/summary.txt", f"#{size.SIZE_JSON}", f"#{size.LAYOUT_SVG}"],
                                [n for app in longest_first for n in pairs[app.name]],
                                **{SUMMARY_ROWS: rows, SUMMARY_IDF: _idf(env, plan.project).name, MEMORY_MAP: MemoryMap.of(plan)})
    env.NoCache(report)  # built to be printed: taken from a CacheDir it would print nothing
    env.Precious(report[1])  # read before it is rewritten: the change against the previous build
    env.Depends(report, _stage_version(env, tuple(STAGE_MODULES + [str(render.template_path("layout.svg.j2"))])))
    return [built for _, built in pairs.values()], report[0]


def _source_bytes(root: Path, app: Manifest) -> int:
    """An app's source bytes: a guess at its compile time. SCons builds the summary's sources in
    their order, depth first, so the apps that take longest start first and the short ones fill
    the CPUs at the end, instead of a long compile starting last while the other CPUs idle."""
    return sum((root / source).stat().st_size for source in app.sources)


def _render(env, target: str, template: str, context: dict):
    return env.DynappsRender(f"#{target}", str(render.template_path(template)), **{RENDER_CONTEXT: context})[0]


def _define_generated(env, plan: ProjectPlan) -> list:
    """Wrappers per app and the firmware export table, for the firmware build."""
    from . import signing
    key = plan.project.signing_key_path(env.get("SIGNING_KEY", ""))
    public_key = signing.public_key(signing.load_private_key(key, str(key))) if key else None
    nodes = [_render(env, f"{GENERATED}/exports.c", "exports.c.j2", wrappers.exports_context(plan.firmware, public_key))]
    for app in plan.apps:
        context = wrappers.app_context(app)
        for header in app.headers:  # the wrappers include them by name
            nodes += env.InstallAs(f"#{GENERATED}/{Path(header).name}", f"#{header}")
        nodes.append(_render(env, f"{GENERATED}/dynapps_{app.name}.h", "app_wrappers.h.j2", context))
        nodes.append(_render(env, f"{GENERATED}/dynapps_{app.name}.c", "app_wrappers.c.j2", context))
    return nodes


def _define_partitions(env, plan: ProjectPlan) -> tuple:
    """partitions.csv (for ESP-IDF's build) and the partition table binary (for flash-apps)."""
    rows = [row.csv_row() for row in plan.partitions.partitions]
    csv_node = _render(env, "partitions.csv", "partitions.csv.j2", {"base": plan.project.base_partitions, "rows": rows})
    env.NoClean(csv_node)  # promised at the top level, read by ESP-IDF's build
    binary = env.DynappsPartitionTable(f"#{PARTITION_TABLE_BIN}", [], **{PARTITION_TABLE: plan.partitions})
    return csv_node, binary[0]


def _define_idf_apps(env, plan: ProjectPlan, generated: list, csv_node):
    """build/idf-apps.cmake: the generated sources and the app slots, for the ESP-IDF build."""
    slots = [{"name": app.name, "offset": plan.layout.slot(app.name).flash_offset,
              "image": _image_path(app.name)} for app in plan.apps]
    sources = sorted(f"{GENERATED}/{node.name}" for node in generated if node.name.endswith(".c"))
    inputs = [plan.project.path, plan.project.exports_file, plan.project.base_partitions]
    context = {"project_file": plan.project.path, "generated_dir": GENERATED, "sources": sources,
               "partitions_csv": str(csv_node), "inputs": inputs, "slots": slots}
    return _render(env, IDF_APPS_CMAKE, "idf_apps.cmake.j2", context)


def _define_stale_cleanup(env, plan: ProjectPlan):
    """The app list, rewritten (after deleting a removed app's leftovers) when the apps change."""
    names = {"apps": [app.name for app in plan.apps]}
    app_list = env.Command(f"#{APP_LIST}", [], _step(_remove_stale_action, None, APP_NAMES), **{APP_NAMES: names})
    env.NoCache(app_list)  # its action is the point
    return app_list


def _flash_options(env, plan: ProjectPlan, table_bin, images) -> FlashOptions:
    slots = tuple(AppSlot(app.name, plan.layout.slot(app.name).flash_offset, str(node))
                  for app, node in zip(plan.apps, images, strict=True))
    return FlashOptions(plan.project.chip, plan.project.flash_size, str(table_bin), slots,
                        plan.project.partition_table_offset, port=env["PORT"],
                        baud=env["BAUD"], before=env["BEFORE"], after=env["AFTER"], no_stub=bool(env["NO_STUB"]),
                        force=bool(env["FORCE"]), skip_flashed=bool(env["SKIP_FLASHED"]),
                        idf_build=env.Dir(env["IDF_BUILD"]).abspath)


def _define_flash_targets(env, plan: ProjectPlan, table_bin, images):
    """flash-apps (the emulator's flash image, or a board with PORT) and flash-all; returns the
    emulator's flash image, which `run` boots."""
    options = {FLASH_OPTIONS: _flash_options(env, plan, table_bin, images)}
    flashed = env.DynappsFlashApps(f"#{EMULATOR_FLASH}", [table_bin] + images, **options)
    env.AlwaysBuild(flashed)
    env.Precious(flashed)  # written region by region: SCons must not delete it first
    env.NoCache(flashed)  # its action is the point: a copy from a CacheDir would skip the writing
    board = env.Override(options)  # the aliases' actions read the same FlashOptions
    if env.get("PORT"):  # a board; `run` keeps using the emulator's image
        env.AlwaysBuild(board.Alias("flash-apps", [table_bin] + images,
                                    _step(_flash_board_action, "$DYNAPPS_FLASHCOMSTR", FLASH_OPTIONS)))
    else:
        env.Alias("flash-apps", flashed)
    env.AlwaysBuild(board.Alias("flash-all", [table_bin] + images,
                                _step(_flash_all_action, "$DYNAPPS_FLASHALLCOMSTR", FLASH_OPTIONS)))
    return flashed[0]


def _object_name(env, source: Path) -> str:
    """Object path for a firmware source from the project or from dynapps' own C sources."""
    root = Path(env.Dir("#").abspath)
    if source.is_relative_to(root):
        return source.relative_to(root).with_suffix(".o").as_posix()
    return "dynapps/" + source.relative_to(native.ROOT).with_suffix(".o").as_posix()


def _emulator_firmware(env, proj, generated, idf: idf_versions.IdfRelease, agent: bool = False):
    """The firmware the emulator runs, as emulator.build_spec composes it, wired into SCons: its
    sources (then the generated wrappers and export table) compiled and linked with its script.
    With `agent`, the live agent's firmware, in its own folder (LIVE_BUILD)."""
    from . import emulator
    spec = emulator.build_spec(proj.profile, proj.emulator_sources, GENERATED, idf=idf,
                               require_signed=proj.require_signed, table_offset=proj.partition_table_offset,
                               agent=agent, trust_marks=proj.trust_marks)
    tools = toolchain.discover(spec.compiler_prefix)
    folder = LIVE_BUILD if agent else EMULATOR_BUILD
    script = env.DynappsLinkerScript(f"#{folder}/firmware.ld", env.Value(spec.linker_script))
    includes = [str(d) for d in spec.include_dirs] + [f"#{d}" for d in spec.project_include_dirs]
    fw_env = env.Clone(CC=_launched(env, tools.cc), LINK=tools.cc, AS=tools.cc, OBJSUFFIX=".o", CPPPATH=includes,
                       CPPDEFINES=[],
                       CCFLAGS=list(spec.ccflags), ASFLAGS=list(spec.cflags),
                       LINKFLAGS=spec.link_flags(script[0]), LIBS=[])
    sources = [*spec.dynapps_sources, *(proj.root / source for source in spec.project_sources)]
    objects = [fw_env.Object(f"#{folder}/obj/{_object_name(env, source)}", str(source))[0]
               for source in sources]
    objects += [fw_env.Object(f"#{folder}/obj/generated/{node.name[:-2]}.o", node)[0]
                for node in generated if node.name.endswith(".c")]
    elf = fw_env.Program(f"#{LIVE_BUILD}/firmware.elf" if agent else f"#{EMULATOR_FIRMWARE}", objects)
    fw_env.Depends(elf, script)
    return elf[0]


def _define_run(env, plan: ProjectPlan, generated: list, flashed) -> None:
    """`run`: boot the emulator firmware on the flash image flash-apps wrote."""
    if not plan.project.emulator_sources:
        env.Alias("run", ["apps", flashed])
        return
    firmware_elf = _emulator_firmware(env, plan.project, generated, _idf(env, plan.project))
    ran = env.DynappsRun(f"#{EMULATOR_BUILD}/run.log", [firmware_elf, flashed],
                         **{RUN_CHIP: plan.project.chip, RUN_IDF: _idf(env, plan.project).name})
    env.AlwaysBuild(ran)
    env.Alias("run", ["apps", ran])


def _define_live(env, plan: ProjectPlan, generated: list, flashed) -> None:
    """`live`: the emulator firmware with the agent, booted on a pty by `dynapps live`."""
    from . import remote
    live_elf = _emulator_firmware(env, plan.project, generated, _idf(env, plan.project), agent=True)
    env.Alias("live-firmware", live_elf)
    served = env.Command(f"#{remote.LIVE_SETUP}", [live_elf, flashed],
                         _step(_live_action, "$DYNAPPS_LIVECOMSTR", RUN_CHIP), **{RUN_CHIP: plan.project.chip})
    env.AlwaysBuild(served)
    env.Alias("live", ["apps", served])


def _define_push(env, plan: ProjectPlan, images) -> None:
    """`push`: APP's image built and pushed into the agent at PORT (a board's, or the emulator's pty)."""
    from . import remote
    name = env.get("APP", "")
    by_name = {app.name: node for app, node in zip(plan.apps, images, strict=True)}
    if name not in by_name:
        raise DynappsError(f"push needs APP=<name> of an app of the project ({', '.join(sorted(by_name))})"
                           if not name else f"APP={name}: no such app ({', '.join(sorted(by_name))})")
    if not env.get("PORT"):
        raise DynappsError("push needs PORT=<serial port of the agent> (a board's, or the pty `scons live` printed)")
    options = remote.PushOptions(env["PORT"], str(by_name[name]), str(plan.project.root), int(env["BAUD"]))
    # Only the app's image: a push can't change the firmware, so its wrappers, the summary and the
    # other apps are `scons apps`'s business, not the live loop's.
    pushed = env.Alias("push", by_name[name], _step(_push_action, "$DYNAPPS_PUSHCOMSTR", PUSH_OPTIONS),
                       **{PUSH_OPTIONS: options})
    env.AlwaysBuild(pushed)


def _apps(env):
    """`env.DynappsApps()`: any failure while reading the project and defining the targets is one
    `error:` line (errors.report) and exit status 2, before anything is built."""
    try:
        _define_targets(env)
    except Exception as error:  # noqa: BLE001 - the SConscript phase's one report
        errors.report(error, "reading the project", bool(env.get("VERBOSE")))
        SCons.Script.Exit(2)


def _define_keygen(env, root: Path) -> None:
    """keygen alone: the other targets need the key it makes (the export table carries its public
    key), so it is defined before them and, asked for, instead of them."""
    proj = project.load(root, env.get("CHIP") or None, env.get("TOOLCHAIN") or None)
    key = proj.signing_key_path(env.get("SIGNING_KEY", ""))
    if key is None:
        raise DynappsError("keygen: no key path: set signing.key in dynapps.yaml (a file outside the project, "
                           "e.g. ~/.config/dynapps/<project>-signing.pem) or pass SIGNING_KEY=<path>")
    made = env.Alias("keygen", [], _step(_keygen_action, "$DYNAPPS_GENCOMSTR", KEY_PATH), **{KEY_PATH: str(key)})
    env.AlwaysBuild(made)


def _define_targets(env):
    root = Path(env.Dir("#").abspath)
    if "keygen" in SCons.Script.COMMAND_LINE_TARGETS:
        _define_keygen(env, root)
        return
    plan = ProjectPlan.load(root, env.get("CHIP") or None, env.get("TOOLCHAIN") or None,
                            _sdkconfig(env))
    images, report = _define_apps(env, plan)
    if plan.apps:
        _prepare_links_early(env, plan)
    generated = _define_generated(env, plan)
    csv_node, table_bin = _define_partitions(env, plan)
    firmware_inputs = [csv_node, table_bin, _define_idf_apps(env, plan, generated, csv_node)] + generated \
        + _define_stale_cleanup(env, plan)
    env.Alias("generate", firmware_inputs)
    env.Alias("apps", [report] + firmware_inputs)
    env.Default("apps")
    flashed = _define_flash_targets(env, plan, table_bin, images)
    asked = SCons.Script.COMMAND_LINE_TARGETS
    if _asks_for(asked, {"run"}, EMULATOR_BUILD):  # an emulator firmware's definition costs 0.05 s
        _define_run(env, plan, generated, flashed)
    if _asks_for(asked, {"live", "live-firmware"}, LIVE_BUILD):
        _define_live(env, plan, generated, flashed)
    if "push" in asked:
        _define_push(env, plan, images)
    env.Help(_targets_help(), append=True)
    scons_uptodate.record_when_complete(env, _inputs_outside_graph(env, plan))


def _inputs_outside_graph(env, plan: ProjectPlan) -> list[str]:
    """What reading the project may read besides the project folder's files: the sdkconfig
    candidates of firmware.idf_project, SDKCONFIG=, the signing key (scons_uptodate.py)."""
    files = sdkconfig.candidates(plan.project.root / plan.project.idf_project) + [_sdkconfig(env)] \
        + [plan.project.signing_key_path(env.get("SIGNING_KEY", ""))]
    return [str(path) for path in files if path is not None]


def _asks_for(asked: list[str], names: set[str], folder: str) -> bool:
    """Whether the command line asks for one of the targets `names` or for a file in `folder`
    (or a folder holding it: `scons build`, `scons .`)."""
    for target in asked:
        path = os.path.normpath(target.lstrip("#"))
        if target in names or path == "." or path == folder or f"{path}/".startswith(f"{folder}/") \
                or folder.startswith(f"{path}/"):
            return True
    return False


def _sdkconfig(env) -> Path | None:
    """SDKCONFIG=...: the firmware's sdkconfig, as the ESP-IDF build passes it (relative paths
    from the project root)."""
    return Path(env.Dir("#").abspath, env["SDKCONFIG"]) if env.get("SDKCONFIG") else None


def _targets_help() -> str:
    width = max(map(len, TARGETS))
    return "\nTargets:\n" + "".join(f"    {name.ljust(width)}  {text}\n" for name, text in TARGETS.items())


def _default_jobs() -> None:
    """-j defaults to the CPUs this process may use, unless the user gave -j (or SCONSFLAGS did)."""
    values = SCons.Script.Main.OptionsParser.values.__dict__  # command line (and SCONSFLAGS) only, not defaults
    if "num_jobs" not in values and "num_jobs" not in values["__SConscript_settings__"]:  # nor SetOption
        SCons.Script.SetOption("num_jobs", len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                               else os.cpu_count() or 1)


def _command_line_error(message: str) -> None:
    console.error(f"error: command line: {' '.join(message.split())}")
    SCons.Script.Exit(2)


def _read_variables(env):
    """The command-line variables into `env`; a misspelt or invalid one stops the build (a
    silently ignored PROT=/dev/ttyUSB0 would flash the emulator's image instead of the board)."""
    variables = _variables()
    try:
        variables.Update(env)
    except (DynappsError, SCons.Errors.UserError) as error:
        _command_line_error(str(error))
    unknown = variables.UnknownVariables()
    if unknown:
        key, value = next(iter(unknown.items()))
        _command_line_error(f"unknown variable {key}={value}; the variables are: "
                            f"{', '.join(sorted(variables.keys()))} (scons -h describes them)")
    return variables


def generate(env):
    for tool in SCONS_TOOLS:
        env.Tool(tool)
    # SCons decides about source files through its default environment, which it otherwise makes
    # on first use, in a build thread, with every tool it knows (racing other threads importing
    # them): made here, without tools. Its decider stays SCons's default, by content: the
    # `content-timestamp` one trusts whole-second timestamps, too coarse for an edit-build loop.
    SCons.Defaults.DefaultEnvironment(tools=[])
    # Python's last garbage collection, at exit, walks every object of the build graph: 20 of the
    # 28 ms a cold build of 6 apps spent exiting. Frozen, they are left to the OS. Registered
    # here, it runs after the exit handlers registered later (the no-op record's); every file the
    # build writes is closed by then.
    atexit.register(gc.freeze)
    _default_jobs()
    variables = _read_variables(env)
    env["SPAWN"] = _reporting_spawn(env["SPAWN"])
    env.Help("Variables (NAME=value on the command line):\n" + variables.GenerateHelpText(env))
    env.SetDefault(**STEP_COMSTRS)
    if not env.get("VERBOSE"):
        env.SetDefault(**QUIET_COMSTRS)
    env.Append(BUILDERS=BUILDERS)
    env.AddMethod(_apps, "DynappsApps")
    _use_team_settings(env)


def _use_team_settings(env) -> None:
    """CC_LAUNCHER must be a command on PATH; CACHE_DIR becomes SCons's CacheDir (every target
    but the apps summary and flash-apps' write, which are NoCache: their action is the point)."""
    launcher = env.get("CC_LAUNCHER")
    if launcher and shutil.which(launcher, path=env["ENV"].get("PATH")) is None:
        _command_line_error(f"CC_LAUNCHER={launcher}: no '{launcher}' on PATH; install it or leave CC_LAUNCHER empty")
    if launcher:  # its settings (CCACHE_DIR, DISTCC_HOSTS, ICECC_VERSION, ...) and where its home is
        prefix = launcher.upper() + "_"
        env["ENV"].update({k: v for k, v in os.environ.items() if k.startswith(prefix) or k == "HOME"})
    if env.get("CACHE_DIR"):
        env.CacheDir(env["CACHE_DIR"])


def exists(env):
    return True
