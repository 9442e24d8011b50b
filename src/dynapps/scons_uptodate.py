"""The SCons side of the no-op shortcut (uptodate.py says what is recorded and why):

* `dynapps.up_to_date()`, which a project's SConstruct calls before it creates its Environment:
  when the record of the last complete run matches, it defines the asked-for aliases as up to date
  and returns True, and the SConstruct defines nothing else;
* `record_when_complete()`, which the tool calls after defining the targets: at exit, if every
  node of the asked-for targets' graph was built or found up to date, it writes the record.

Only `apps` and `generate` (or no target: the default, `apps`) are served: their targets are
files, nothing in their graph is AlwaysBuild. This module imports no dynapps stage.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from pathlib import Path

import SCons
import SCons.Node
import SCons.Node.Alias
import SCons.Node.FS
import SCons.Script

from . import uptodate

SERVED_TARGETS = ("apps", "generate")
DEFAULT_TARGET = "apps"
_SKIPPING_OPTIONS = ("clean", "no_exec", "question", "help", "interactive")
_STARTED_NS = time.time_ns()  # imported as the SConstruct starts, before the project is read
_COMPLETE = (SCons.Node.up_to_date, SCons.Node.executed)


def _root() -> Path:
    return Path(SCons.Node.FS.get_default_fs().Top.abspath)


def _targets() -> list[str]:
    return list(SCons.Script.COMMAND_LINE_TARGETS) or [DEFAULT_TARGET]


def _run_key() -> dict | None:
    """The run's key (uptodate.key), or None when the shortcut does not serve this run."""
    if any(SCons.Script.GetOption(option) for option in _SKIPPING_OPTIONS):
        return None
    if not set(_targets()) <= set(SERVED_TARGETS):
        return None
    return uptodate.key(sys.argv[1:], dict(os.environ), str(_root()), SCons.__version__)


def up_to_date() -> bool:
    """True when nothing changed since the last complete run of the same command: the targets
    asked for are then defined as up to date (SCons says so), without reading the project."""
    run_key = _run_key()
    if run_key is None or not uptodate.unchanged(_root(), run_key):
        return False
    if not SCons.Script.GetOption("no_progress") and not SCons.Script.GetOption("silent"):
        print(uptodate.SHORTCUT_MESSAGE)
    env = SCons.Script.Environment(tools=[])  # no tools: nothing is compiled
    unchanged = env.Value("unchanged since the last complete run (build/uptodate.json)")
    for target in SERVED_TARGETS:
        env.Alias(target, unchanged)
    env.Default(DEFAULT_TARGET)
    return True


def record_when_complete(env, extra_inputs: list[str]) -> None:
    """Register writing the record at exit (and removing it with `scons -c`); `extra_inputs`:
    files reading the project read that may be outside it (the SDKCONFIG= file, the signing key,
    the sdkconfig candidates)."""
    env.Clean(list(SERVED_TARGETS), f"#{uptodate.RECORD}")
    run_key = _run_key()
    if run_key is None:
        return
    roots = [SCons.Node.Alias.default_ans.lookup(target) for target in _targets()]
    if None in roots:
        return
    atexit.register(_write, run_key, roots, extra_inputs)


def _graph(roots: list) -> list:
    """Every node the targets depend on, once each (implicit dependencies as scanned)."""
    seen, stack, nodes = set(), list(roots), []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(node)
        stack.extend(node.children(scan=0))
    return nodes


def _write(run_key: dict, roots: list, extra_inputs: list[str]) -> None:
    if SCons.Script.GetBuildFailures():
        return
    inputs, outputs = [], []
    for node in _graph(roots):
        if node.get_state() not in _COMPLETE or node.always_build:
            return  # stopped half-way, or a target whose action is the point
        if isinstance(node, SCons.Node.FS.File):
            (outputs if node.has_builder() else inputs).append(node.get_abspath())
    root = _root()
    environ = dict(os.environ)
    inputs += extra_inputs + uptodate.project_files(root) + uptodate.package_files() + uptodate.search_folders(environ)
    uptodate.write(root, run_key, inputs, outputs, _STARTED_NS)
