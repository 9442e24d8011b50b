"""dynapps: native dynamic apps for ESP-IDF firmware on RISC-V ESP32 chips.

The stages (manifest, layout, link, image, wrappers, partitions, flash, emulator, ...) are plain
Python modules of this package and import no SCons. This file is also the SCons tool `dynapps`:

    import dynapps
    if not dynapps.up_to_date():  # optional: a no-op `scons apps` stops here
        env = Environment(tools=["dynapps"], toolpath=[dynapps.TOOLPATH])
        env.DynappsApps()

SCons finds the tool as this package (toolpath holds the folder the package is in); `generate`
imports the SCons wiring (scons_tool.py) only when SCons asks for it, and loads the SCons tools
it needs (cc, c++, as, link), so "default" is not needed beside it.
"""

from pathlib import Path

TOOLPATH = str(Path(__file__).resolve().parent.parent)  # the folder SCons looks for `dynapps` in


def up_to_date() -> bool:
    """For the SConstruct, before it creates its Environment: True when this `scons apps` (or
    `generate`) has nothing to do since the last complete one, its targets then defined as up to
    date (scons_uptodate.py); False: define the targets as usual."""
    from . import scons_uptodate
    return scons_uptodate.up_to_date()


def generate(env):
    from . import scons_tool
    scons_tool.generate(env)


def exists(env):
    return True
