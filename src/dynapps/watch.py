"""`dynapps watch`: the live loop without a command per edit. One SCons process in interactive
mode keeps the project read (no start-up, no reading of the manifests per edit); every change to
an app's files is built (its image only, what `scons push` builds) and, when the image's bytes
changed, pushed into the agent and reloaded, through one connection held open.

A change outside the apps' own folders, or to an app.yaml, may change what the targets are (the
project file, the firmware's sdkconfig, the export table): then the SCons process is started
again, which reads the project anew, and every watched app is built. A build that fails prints
its errors and pushes nothing; the next change tries again. Nothing here imports SCons: it runs
`python -m SCons --interactive` (docs/live.md, "Watching").
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import uptodate
from .errors import DynappsError

PROMPT = b"scons>>> "
POLL_S = 0.02  # how often the project's files are looked at (a stat of each: ~1 ms for 100 files)
FAILED = "scons: *** "  # how SCons starts the line of a failed step
UP_TO_DATE = re.compile(r"scons: `.*' is up to date\.")


class InteractiveScons:
    """`scons --interactive` on a project: the project read once, then `build TARGET...` per call."""

    def __init__(self, root: Path, variables: list[str], scons_command: list[str], env: dict | None = None):
        self.root, self.variables, self.command, self.env = root, variables, scons_command, env
        self.process: subprocess.Popen | None = None
        self.start_output = ""

    def start(self) -> bool:
        """Start SCons (reading the project); False when reading it failed (start_output says why)."""
        self.stop()
        self.process = subprocess.Popen([*self.command, "--interactive", "-Q", *self.variables], cwd=self.root,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        env=self.env)
        self.start_output = self._until_prompt()
        return self.running

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def build(self, targets: list[str]) -> tuple[bool, str]:
        """(built, what SCons printed) for `targets`."""
        if not self.running:
            raise DynappsError("the SCons process is not running")
        self.process.stdin.write(("build " + " ".join(targets) + "\n").encode())
        self.process.stdin.flush()
        output = self._until_prompt()
        return FAILED not in output and "error: " not in output, output

    def _until_prompt(self) -> str:
        data = b""
        while not data.endswith(PROMPT):
            piece = os.read(self.process.stdout.fileno(), 65536)
            if not piece:  # SCons exited (reading the project failed)
                self.process.wait()
                break
            data += piece
        return data.removesuffix(PROMPT).decode(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.stdin.close()  # interactive mode exits at the end of its input
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@dataclass(frozen=True)
class Pushed:
    app: str
    strategy: str
    image_bytes: int
    seconds: float  # from the change being seen to the app running


def image_path(root: Path, app: str) -> Path:
    return root / "build" / "apps" / f"{app}.dapp"


def _snapshot(root: Path) -> dict[str, list[int] | None]:
    return {path: uptodate.file_state(path) for path in uptodate.project_files(root)}


def _changed(before: dict, after: dict) -> set[str]:
    return {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}


def _apps_of(root: Path, paths: set[str]) -> set[str] | None:
    """The apps whose own files (sources, headers) these are; None when one of them is anything
    else (an app.yaml, a file outside apps/<name>/): the project must then be read again."""
    apps = set()
    for path in paths:
        parts = Path(path).relative_to(root).parts
        if len(parts) < 3 or parts[0] != "apps" or parts[-1] in ("app.yaml", "app.yml"):
            return None
        apps.add(parts[1])
    return apps


def _print_now(text: str) -> None:
    print(text, flush=True)  # each line as it happens, also into a pipe


class Watcher:
    """Builds and pushes what changed in the apps `names` (every app of the project when empty)."""

    def __init__(self, device, root: Path, names: list[str], scons: InteractiveScons, say=None):
        self.device, self.root, self.names, self.scons = device, root, set(names), scons
        self.say = say or _print_now
        self.images: dict[str, bytes] = {}

    def _watched(self) -> list[str]:
        present = sorted(p.name for p in (self.root / "apps").iterdir() if (p / "app.yaml").is_file())
        return [name for name in present if not self.names or name in self.names]

    def begin(self) -> None:
        """Read the project and build every watched app: what is then on disk is the baseline
        (the firmware runs what flash-apps or an earlier push put there); nothing is pushed."""
        if not self.scons.start():
            raise DynappsError(f"reading the project failed:\n{self.scons.start_output.strip()}")
        apps = self._watched()
        if apps:
            self._build(apps)
        self.images = {app: image_path(self.root, app).read_bytes() for app in apps
                       if image_path(self.root, app).is_file()}
        self.say(f"watch: {', '.join(apps) or 'no apps'} in {self.root}; an edit is built and pushed (Ctrl-C ends)")

    def _build(self, apps: list[str]) -> bool:
        built, output = self.scons.build([str(image_path(self.root, app).relative_to(self.root)) for app in apps])
        shown = [line for line in output.splitlines() if not UP_TO_DATE.fullmatch(line)]
        if shown:
            self.say("\n".join(shown))
        return built

    def changed(self, paths: set[str]) -> list[Pushed]:
        """Build what `paths` affect and push the images whose bytes changed."""
        seen = time.monotonic()
        apps = _apps_of(self.root, paths)
        if apps is None or not self.scons.running:  # the targets may have changed, or reading them failed
            if not self.scons.start():
                self.say(self.scons.start_output.rstrip())
                return []
            apps = set(self._watched())
        apps = sorted(app for app in apps if app in self._watched())
        if not apps or not self._build(apps):
            return []
        pushed = []
        for app in apps:
            data = image_path(self.root, app).read_bytes()
            if data == self.images.get(app):
                continue
            loaded = self.device.push(data)
            self.images[app] = data
            pushed.append(Pushed(app, loaded.strategy, len(data), time.monotonic() - seen))
            self.say(f"{app}: pushed {len(data)} bytes, running ({loaded.strategy}) "
                     f"{pushed[-1].seconds:.2f} s after the change was seen")
        return pushed


def watch(watcher: Watcher, stop: threading.Event | None = None, on_push=None) -> None:
    """Poll the project's files until `stop` is set (or Ctrl-C); each change is built and pushed."""
    stop = stop or threading.Event()
    before = _snapshot(watcher.root)  # before the first build: an edit made meanwhile is seen
    watcher.begin()
    try:
        while not stop.is_set():
            time.sleep(POLL_S)
            after = _snapshot(watcher.root)
            paths = _changed(before, after)
            if paths:
                before = after
                pushed = watcher.changed(paths)
                if on_push and pushed:
                    on_push(pushed)
    finally:
        watcher.scons.stop()


def run(arguments: list[str], scons_command: list[str]) -> int:
    """`dynapps watch PORT [APP...] [NAME=value...]`: watch the project in the current folder;
    NAME=value are scons variables (CHIP=, SIGNING_KEY=, BAUD= also sets the port's rate)."""
    from . import errors, remote

    variables = [a for a in arguments if "=" in a]
    positional = [a for a in arguments if "=" not in a]
    if not positional:
        errors.report(DynappsError("usage: dynapps watch PORT [APP...] [NAME=value...]"))
        return 2
    port, names = positional[0], positional[1:]
    baud = int(dict(v.split("=", 1) for v in variables).get("BAUD", remote.DEFAULT_BAUD))
    root = Path.cwd()
    try:
        with remote.connect(port, project=root, baud=baud, on_log=None) as device:
            watch(Watcher(device, root, names, InteractiveScons(root, variables, scons_command)))
    except KeyboardInterrupt:
        return 0
    except Exception as error:  # noqa: BLE001 - one `error:` line
        errors.report(error)
        return 2
    return 0
