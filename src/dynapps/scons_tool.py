"""The SCons side of the tool `dynapps` (the package's generate() calls generate() here): registers the builders, methods and aliases that turn apps/*/app.yaml
into loadable images. The work itself lives in the stage modules (manifest, layout, toolchain,
link, image, ...); this module only wires them into SCons.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import SCons.Action
import SCons.Builder
import SCons.Errors
import SCons.Script

from . import (chips, emulator, errors, esptool_target, firmware, flash, image, layout, link, manifest,
               partitions, project, render, stale, summary, toolchain, wrappers)
from .errors import DynappsError

TOOL_DIR = Path(__file__).parent
HOME = TOOL_DIR.parents[1]  # the dynapps checkout: loader component, emulator firmware
BUILD_DIR = "build"
APPS_BUILD = f"{BUILD_DIR}/apps"
GENERATED = f"{BUILD_DIR}/generated"
PARTITION_TABLE_BIN = f"{BUILD_DIR}/partition-table.bin"
EMULATOR_BUILD = f"{BUILD_DIR}/emulator"
EMULATOR_FLASH = f"{EMULATOR_BUILD}/flash.bin"
EMULATOR_FIRMWARE = f"{EMULATOR_BUILD}/firmware.elf"
COMPONENT = HOME / "firmware/components/dynapps"
CORE_SOURCES = sorted((COMPONENT / "src").glob("*.c"))  # the loader core, one file per stage
EMULATOR_MAIN = HOME / "firmware/emulator/emu_main.c"
FIRMWARE_CFLAGS = ["-O2", "-g", "-Wall", "-Wextra", "-Werror"]
FLASH_RECORD = f"{BUILD_DIR}/flash-record.json"
# Folders that only hold what this build produces: a file in them that no target of the build
# makes is a leftover (a removed app's wrappers, objects and image) and is deleted by `apps`.
# ESP-IDF's build compiles every build/generated/*.c, so a stale wrapper would still be built.
OWNED_FOLDERS = (APPS_BUILD, GENERATED, f"{EMULATOR_BUILD}/obj/generated")
APP_LIST = f"{BUILD_DIR}/app-list.txt"  # the apps of the last build: leftovers are looked for when it changes
RUN_TIMEOUT_S = 120.0
STAGE_MODULES = [str(TOOL_DIR / f"{name}.py") for name in ("link", "clib", "elf32", "relocs", "signatures", "csig", "image", "render",
                                                          "summary")]



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
            print(f"error: {output}: {errors.exit_status(words[0], status)}", file=sys.stderr)
        return status
    return run


def _link_action(target, source, env):
    config = json.loads(source[-1].read())
    objects = [str(node) for node in source if str(node).endswith(".o")]
    outputs = dict(zip(("elf", "json", "script", "stubs", "stubs_obj", "map"), map(str, target)))
    link.link(config, objects, outputs, log=print if env.get("VERBOSE") else None)
    return 0


def _link_emitter(target, source, env):
    base = str(target[0])[: -len(".elf")]
    outputs = [f"{base}.elf", f"{base}.link.json", f"{base}.ld", f"{base}_imports.S", f"{base}_imports.o",
               f"{base}.map"]
    return outputs, source


def _image_action(target, source, env):
    settings = json.loads(source[-1].read())
    analysis = json.loads(Path(str(source[1])).read_text())
    built = image.from_link(analysis, str(source[0]), settings["chip_id"], settings["has_fpu"],
                            settings["firmware_id"], settings["version"])
    data = built.to_bytes()
    slot_size = analysis["slot"]["size"]
    if len(data) > slot_size:
        granularity = settings["slot_alignment"]  # the slot is laid out in these: the hint must be one
        needed = (len(data) + granularity - 1) // granularity * granularity // 1024
        raise DynappsError(f"app {analysis['app']}: image is {len(data)} bytes but its slot holds "
                           f"{slot_size}; set limits.flash: {needed}K in {settings['manifest']}")
    Path(str(target[0])).write_bytes(data)
    return 0


def _summary_action(target, source, env):
    rows = []
    for json_node, image_node in zip(source[0::2], source[1::2]):
        rows.append((json.loads(Path(str(json_node)).read_text()), os.path.getsize(str(image_node))))
    text = summary.table(rows)
    Path(str(target[0])).write_text(text + "\n")
    print(text)
    return 0


# One line per step; VERBOSE=1 shows the compiler and linker commands in full instead.
STEP_COMSTRS = {
    "DYNAPPS_LINKCOMSTR": "LINK ${TARGET.filebase}",
    "DYNAPPS_IMAGECOMSTR": "IMAGE ${TARGET.file}",
    "DYNAPPS_SUMMARYCOMSTR": "SUMMARY",
    "DYNAPPS_GENCOMSTR": "GEN $TARGET",
    "DYNAPPS_FLASHCOMSTR": "FLASH-APPS",
    "DYNAPPS_RUNCOMSTR": "RUN ${SOURCES[0]} on the ${SOURCES[-1].read()} emulator",
}
QUIET_COMSTRS = {"CCCOMSTR": "CC $SOURCE", "ASPPCOMSTR": "AS $SOURCE", "LINKCOMSTR": "LINK $TARGET",
                 "INSTALLSTR": "GEN $TARGET"}


def _render_action(target, source, env):
    context = json.loads(source[1].read())
    Path(str(target[0])).write_text(render.render(Path(str(source[0])).name, **context))
    return 0


def _partition_table_action(target, source, env):
    rows = json.loads(source[0].read())
    table = partitions.Table(tuple(partitions.Partition(**row) for row in rows["partitions"]), rows["flash_size"])
    Path(str(target[0])).write_bytes(table.to_binary())
    return 0


def _flash_apps_action(target, source, env):
    """flash-apps without PORT: write the regions whose bytes in the emulator's flash image differ."""
    settings, wanted = _wanted_regions(source)
    flash_image = flash.FlashImage(Path(str(target[0])), settings["flash_size"])
    changed = flash_image.differing(wanted)
    written = flash_image.write(changed)
    print(f"flash-apps: wrote {written} bytes into {flash_image.path} ({flash.labels(changed)})")
    return 0


def _board_key(port: str) -> str:
    return f"serial:{port}"


def _wanted_regions(source) -> tuple[dict, list]:
    settings = json.loads(source[-1].read())
    images = {name: (offset, Path(str(node)).read_bytes())
              for (name, offset), node in zip(settings["slots"], source[1:-1])}
    return settings, flash.regions(Path(str(source[0])).read_bytes(), images)


def _esptool_options(env, settings) -> dict:
    return {"before": env["BEFORE"], "after": env["AFTER"], "flash_size": settings["flash_size"],
            "no_stub": bool(env["NO_STUB"])}


def _flash_board_action(target, source, env):
    """flash-apps with PORT: write the regions that changed since the record to the board."""
    settings, wanted = _wanted_regions(source)
    port, record = env["PORT"], flash.Record(Path(FLASH_RECORD))
    key = _board_key(port)
    if env["FORCE"] or env["SKIP_FLASHED"]:
        record.forget(key)
    changed = record.changed(key, wanted)
    record.forget_regions(key, changed)  # unknown until verified: a write cut off is redone next run
    flashed = esptool_target.write_regions(port, env["BAUD"], settings["chip"], changed,
                                           skip_flashed=bool(env["SKIP_FLASHED"]), **_esptool_options(env, settings))
    record.remember(key, list(flashed.on_chip))
    print(f"flash-apps: wrote {flashed.byte_count} bytes to {port} ({flash.labels(list(flashed.written))})")
    return 0


def _flash_all_action(target, source, env):
    """flash-all: the ESP-IDF firmware and every app region, in one esptool connection."""
    settings, wanted = _wanted_regions(source)
    port, record = env["PORT"], flash.Record(Path(FLASH_RECORD))
    if not port:
        raise DynappsError("flash-all writes a board: give PORT=... (or set ESPTOOL_PORT)")
    record.forget(_board_key(port))  # the whole flash is rewritten: nothing is known until verified
    flashed = esptool_target.full_flash(port, env["BAUD"], settings["chip"], Path(env.Dir(env["IDF_BUILD"]).abspath),
                                        wanted, skip_flashed=bool(env["SKIP_FLASHED"]),
                                        **_esptool_options(env, settings))
    record.remember(_board_key(port), list(flashed.on_chip))
    print(f"flash-all: wrote {flashed.byte_count} bytes to {port} ({flash.labels(list(flashed.written))})")
    return 0


def _remove_stale_action(target, source, env):
    """Delete what removed apps left in OWNED_FOLDERS (stale.py), then write the app list."""
    for path in stale.remove([env.Dir(f"#{folder}") for folder in OWNED_FOLDERS], Path(env.Dir("#").abspath)):
        print(f"REMOVE {path}")
    Path(str(target[0])).write_text(source[0].read())
    return 0


def _linker_script_action(target, source, env):
    Path(str(target[0])).write_text(source[0].read())
    return 0


def _run_action(target, source, env):
    """Boot the emulator firmware on the flash image flash-apps wrote; fail if the firmware does."""
    chip = source[-1].read()
    machine = emulator.Machine(chips.profile(chip), Path(str(source[1])).read_bytes(), echo=sys.stdout.buffer)
    machine.load_firmware(str(source[0]))
    result = machine.run(timeout_s=RUN_TIMEOUT_S)
    sys.stdout.flush()
    if env.get("VERBOSE"):
        for fault in result.faults:
            print(f"emulator: {fault}", file=sys.stderr)
    table = emulator.where_apps_ran(machine, result.uart_text)  # empty for firmware without LOADED lines
    if table:
        print(table)
    failure = emulator.failure(machine, result, RUN_TIMEOUT_S)
    if failure:
        raise DynappsError(failure)
    return 0


def _builder(function, comstr: str, **options):
    return SCons.Builder.Builder(action=SCons.Action.Action(_action(function), comstr), **options)


LinkBuilder = _builder(_link_action, "$DYNAPPS_LINKCOMSTR", emitter=_link_emitter)
ImageBuilder = _builder(_image_action, "$DYNAPPS_IMAGECOMSTR", suffix=".dapp")
SummaryBuilder = _builder(_summary_action, "$DYNAPPS_SUMMARYCOMSTR")
RenderBuilder = _builder(_render_action, "$DYNAPPS_GENCOMSTR")
PartitionTableBuilder = _builder(_partition_table_action, "$DYNAPPS_GENCOMSTR")
FlashAppsBuilder = _builder(_flash_apps_action, "$DYNAPPS_FLASHCOMSTR")
LinkerScriptBuilder = _builder(_linker_script_action, "$DYNAPPS_GENCOMSTR")
RunBuilder = _builder(_run_action, "$DYNAPPS_RUNCOMSTR")


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
    variables.Add(*_bool_variable("VERBOSE", "print full commands", False))
    return variables


def _app_env(env, tools: toolchain.Toolchain, profile: chips.ChipProfile, proj, app: manifest.Manifest):
    app_env = env.Clone()
    app_env.Replace(
        CC=tools.cc, AS=tools.cc, OBJSUFFIX=".o",
        CCFLAGS=tools.arch_flags(profile) + tools.libc_flags() + toolchain.APP_CFLAGS + list(proj.cflags) + list(app.cflags),
        ASFLAGS=tools.arch_flags(profile) + toolchain.APP_ASFLAGS,  # .S sources: the same ISA and ABI as the C objects
        CPPPATH=[f"#{app.directory}", "#firmware/components/dynapps/include"],
        CPPDEFINES=list(app.defines),
    )
    return app_env


def _link_config(tools, profile, proj, exports, app: manifest.Manifest, slot: layout.Slot) -> dict:
    return {
        "app": app.name, "manifest": app.path, "strategy": app.strategy, "threshold": proj.hybrid_threshold,
        "i_d_offset": profile.i_d_offset, "slot": slot.__dict__,
        "rodata_delta": profile.flash_dbus.start - profile.flash_ibus.start,
        "exports": [e.name for e in app.exports], "export_lines": {e.name: e.line for e in app.exports},
        "signatures": [e.signature.declare() for e in app.exports], "known_types": sorted(app.known_types),
        "init": app.init, "deinit": app.deinit, "lifecycle_lines": {"init": app.init_line, "deinit": app.deinit_line},
        "firmware_symbols": list(exports.symbols), "exports_file": exports.path,
        "cc": tools.cc, "arch_flags": tools.arch_flags(profile), "libc_flags": tools.libc_flags(),
    }


def _build_app(env, tools, profile, proj, exports, app, slot):
    app_env = _app_env(env, tools, profile, proj, app)
    out = f"{APPS_BUILD}/{app.name}"
    objects = [app_env.Object(f"#{out}/{Path(src).stem}.o", f"#{src}")[0] for src in app.sources]
    config = env.Value(json.dumps(_link_config(tools, profile, proj, exports, app, slot), sort_keys=True))
    linked = env.DynappsLink(f"#{out}/{app.name}.elf", objects + [config])
    env.Depends(linked, STAGE_MODULES + [str(render.template_path(t)) for t in ("imports.S.j2", "iram.ld.j2", "xip.ld.j2")])
    settings = env.Value(json.dumps({"chip_id": profile.chip_id, "has_fpu": profile.has_fpu,
                                     "firmware_id": exports.id, "manifest": app.path, "version": app.version,
                                     "slot_alignment": layout.slot_alignment(profile, slot.xip_capable)}, sort_keys=True))
    built = env.DynappsImage(f"#{APPS_BUILD}/{app.name}.dapp", [linked[0], linked[1], settings])
    env.Depends(built, STAGE_MODULES)
    return linked[1], built[0]


def _render(env, target: str, template: str, context: dict):
    source = [str(render.template_path(template)), env.Value(json.dumps(context, sort_keys=True))]
    return env.DynappsRender(f"#{target}", source)[0]


def _generated_sources(env, manifests, exports) -> list:
    """Wrappers per app and the firmware export table, for the firmware build."""
    nodes = [_render(env, f"{GENERATED}/exports.c", "exports.c.j2", wrappers.exports_context(exports))]
    for app in manifests:
        context = wrappers.app_context(app)
        for header in app.headers:  # the wrappers include them by name
            nodes += env.InstallAs(f"#{GENERATED}/{Path(header).name}", f"#{header}")
        nodes.append(_render(env, f"{GENERATED}/dynapps_{app.name}.h", "app_wrappers.h.j2", context))
        nodes.append(_render(env, f"{GENERATED}/dynapps_{app.name}.c", "app_wrappers.c.j2", context))
    return nodes


def _partition_outputs(env, proj, table):
    rows = [row.csv_row() for row in table.partitions]
    csv_node = _render(env, "partitions.csv", "partitions.csv.j2", {"base": proj.base_partitions, "rows": rows})
    env.NoClean(csv_node)  # promised at the top level, read by ESP-IDF's build
    data = {"flash_size": table.flash_size,
            "partitions": [{k: v for k, v in p.__dict__.items()} for p in table.partitions]}
    binary = env.DynappsPartitionTable(f"#{PARTITION_TABLE_BIN}", env.Value(json.dumps(data, sort_keys=True)))
    return csv_node, binary[0]


def _object_name(env, source: Path) -> str:
    """Object path for a firmware source from the project or from the dynapps checkout."""
    root = Path(env.Dir("#").abspath)
    if source.is_relative_to(root):
        return source.relative_to(root).with_suffix(".o").as_posix()
    return "dynapps/" + source.relative_to(HOME).with_suffix(".o").as_posix()


def _emulator_firmware(env, proj, generated):
    """The firmware the emulator runs: loader core, emulator port and platform, the project's
    firmware sources (firmware.emulator_sources) and the generated wrappers and export table."""
    profile = proj.profile
    tools = toolchain.discover("riscv64-unknown-elf")  # picolibc's: the emulator firmware's C library
    spec = emulator.firmware_link_spec(profile)
    script = env.DynappsLinkerScript(f"#{EMULATOR_BUILD}/firmware.ld", env.Value(spec["linker_script"]))
    includes = [str(COMPONENT / "include"), str(HOME / "firmware/emulator/include"), f"#{GENERATED}"]
    includes += sorted({f"#{Path(source).parent.as_posix()}" for source in proj.emulator_sources})
    fw_env = env.Clone(CC=tools.cc, AS=tools.cc, OBJSUFFIX=".o", CPPPATH=includes, CPPDEFINES=[],
                       CCFLAGS=spec["cflags"] + FIRMWARE_CFLAGS, ASFLAGS=spec["cflags"],
                       LINKFLAGS=spec["ldflags"] + [f"-T{script[0]}"], LIBS=[])
    sources = [Path(p) for p in spec["sources"]] + CORE_SOURCES + [EMULATOR_MAIN]
    sources += [proj.root / source for source in proj.emulator_sources]
    objects = [fw_env.Object(f"#{EMULATOR_BUILD}/obj/{_object_name(env, source)}", str(source))[0]
               for source in sources]
    objects += [fw_env.Object(f"#{EMULATOR_BUILD}/obj/generated/{node.name[:-2]}.o", node)[0]
                for node in generated if node.name.endswith(".c")]
    elf = fw_env.Program(f"#{EMULATOR_FIRMWARE}", objects)
    fw_env.Depends(elf, script)
    return elf[0]


def _load_everything(env):
    root = Path(env.Dir("#").abspath)
    proj = project.load(root, env.get("CHIP") or None, env.get("TOOLCHAIN") or None)
    manifests = manifest.load_all(root)
    wrappers.check_names(manifests)
    exports = firmware.load_exports(proj)
    plan = layout.plan(proj, manifests, firmware.data_arena(proj))
    base = partitions.read_csv(root / proj.base_partitions, proj.base_partitions)
    table = partitions.build(base, plan, proj.flash_size)
    return proj, manifests, exports, plan, table, toolchain.discover(proj.toolchain)


def _apps(env):
    """`env.DynappsApps()`: any failure while reading the project and defining the targets is one
    `error:` line (errors.report) and exit status 2, before anything is built."""
    try:
        _define_targets(env)
    except Exception as error:  # noqa: BLE001 - the SConscript phase's one report
        errors.report(error, "reading the project", bool(env.get("VERBOSE")))
        SCons.Script.Exit(2)


def _define_targets(env):
    """Define every app's targets, the generated files, partitions, `apps` and `flash-apps`."""
    proj, manifests, exports, plan, table, tools = _load_everything(env)
    profile = proj.profile
    pairs = [_build_app(env, tools, profile, proj, exports, app, plan.slot(app.name)) for app in manifests]
    images = [image_node for _, image_node in pairs]
    report = env.DynappsSummary(f"#{APPS_BUILD}/summary.txt", [n for pair in pairs for n in pair])
    env.NoCache(report)  # built to be printed: taken from a CacheDir it would print nothing
    generated = _generated_sources(env, manifests, exports)
    csv_node, table_bin = _partition_outputs(env, proj, table)
    app_list = env.Command(f"#{APP_LIST}", env.Value("".join(f"{app.name}\n" for app in manifests)),
                           SCons.Action.Action(_action(_remove_stale_action), None))
    env.NoCache(app_list)  # its action is the point
    env.Alias("apps", [report, csv_node, table_bin] + generated + app_list)
    env.Default("apps")
    settings = env.Value(json.dumps({"flash_size": proj.flash_size, "chip": proj.chip,
                                     "slots": [[a.name, plan.slot(a.name).flash_offset] for a in manifests]}))
    flashed = env.DynappsFlashApps(f"#{EMULATOR_FLASH}", [table_bin] + images + [settings])
    env.AlwaysBuild(flashed)
    env.Precious(flashed)  # written region by region: SCons must not delete it first
    env.NoCache(flashed)  # its action is the point: a copy from a CacheDir would skip the writing
    if env.get("PORT"):  # a board; `run` keeps using the emulator's image
        env.AlwaysBuild(env.Alias("flash-apps", [table_bin] + images + [settings],
                                  SCons.Action.Action(_action(_flash_board_action), "$DYNAPPS_FLASHCOMSTR")))
    else:
        env.Alias("flash-apps", flashed)
    env.AlwaysBuild(env.Alias("flash-all", [table_bin] + images + [settings],
                              SCons.Action.Action(_action(_flash_all_action), "FLASH-ALL")))
    if not proj.emulator_sources:
        env.Alias("run", ["apps", flashed])
        return
    firmware_elf = _emulator_firmware(env, proj, generated)
    ran = env.DynappsRun(f"#{EMULATOR_BUILD}/run.log", [firmware_elf, flashed[0], env.Value(proj.chip)])
    env.AlwaysBuild(ran)
    env.Alias("run", ["apps", ran])


def _default_jobs() -> None:
    """-j defaults to the CPUs this process may use, unless the user gave -j (or SCONSFLAGS did)."""
    values = SCons.Script.Main.OptionsParser.values.__dict__  # command line (and SCONSFLAGS) only, not defaults
    if "num_jobs" not in values and "num_jobs" not in values["__SConscript_settings__"]:  # nor SetOption
        SCons.Script.SetOption("num_jobs", len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                               else os.cpu_count() or 1)


def _command_line_error(message: str) -> None:
    print(f"error: command line: {' '.join(message.split())}", file=sys.stderr)
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
    _default_jobs()
    variables = _read_variables(env)
    env["SPAWN"] = _reporting_spawn(env["SPAWN"])
    env.Help(variables.GenerateHelpText(env))
    env.SetDefault(**STEP_COMSTRS)
    if not env.get("VERBOSE"):
        env.SetDefault(**QUIET_COMSTRS)
    env.Append(BUILDERS={"DynappsLink": LinkBuilder, "DynappsImage": ImageBuilder, "DynappsSummary": SummaryBuilder,
                         "DynappsRender": RenderBuilder, "DynappsPartitionTable": PartitionTableBuilder,
                         "DynappsFlashApps": FlashAppsBuilder, "DynappsLinkerScript": LinkerScriptBuilder,
                         "DynappsRun": RunBuilder})
    env.AddMethod(_apps, "DynappsApps")


def exists(env):
    return True
