"""dynapps: native dynamic apps for ESP-IDF firmware on RISC-V ESP32 chips.

The stages (manifest, layout, link, image, wrappers, partitions, flash, emulator, ...) are plain
Python modules of this package and import no SCons. This file is also the SCons tool `dynapps`:

    import dynapps
    env = Environment(tools=["default", "dynapps"], toolpath=[dynapps.TOOLPATH])

SCons finds the tool as this package (toolpath holds the folder the package is in); `generate`
imports the SCons wiring (scons_tool.py) only when SCons asks for it.
"""

from pathlib import Path

TOOLPATH = str(Path(__file__).resolve().parent.parent)  # the folder SCons looks for `dynapps` in


def generate(env):
    from . import scons_tool
    scons_tool.generate(env)


def exists(env):
    return True
