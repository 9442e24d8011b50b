"""Handles, locking and per-task status of the loader core, in host C with a real mutex.

tests/c/handles/ holds three test programs, each built here from the core, the host port
(tests/c/host_port.c: a non-recursive pthread mutex, as FreeRTOS's) and tests/c/handles/tiny_app.c:

- test_handles.c: stale handles (use after free, double unload, a reused record address), an
  unmatched call_end, init/deinit that call the loader (a deadlock while they ran under the lock);
  under ASan/UBSan.
- test_threads.c: four threads loading, calling, unloading and reloading at once; under ASan/UBSan
  and, separately, under TSan.
- test_status.c: the wrappers `scons apps` generates for a real app (tests/c/handles/tls/),
  compiled for the host: <app>_status() per task, a wrapper whose app was unloaded elsewhere.

Each program has a watchdog (tiny_app.c) that reports a deadlock and exits 3; the subprocess
timeout is only a backstop.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from test_loader_host import CORE_SOURCES, HOST_DEFINES, HOST_FLAGS, HOST_LIBS, INCLUDES, ROOT

HANDLES = ROOT / "tests" / "c" / "handles"
SUPPORT = [ROOT / "tests" / "c" / "host_port.c", ROOT / "tests" / "c" / "check.c", ROOT / "tests" / "c" / "image_builder.c", HANDLES / "tiny_app.c"]
# test_loader_host's flags without its sanitizers: each program here picks its own
COMMON_FLAGS = [*(f for f in HOST_FLAGS if "sanitize" not in f), "-DDYNAPPS_MAX_LOADED_APPS=8",
                *HOST_DEFINES, *INCLUDES, f"-I{HANDLES}"]
SANITIZERS = {
    "asan": ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
    "tsan": ["-fsanitize=thread"],
}

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="no host gcc")


def _build_and_run(tmp_path: Path, program: str, sanitizer: str, extra: list[Path] = (),
                   include: list[Path] = ()) -> str:
    binary = tmp_path / f"{program}_{sanitizer}"
    sources = [*CORE_SOURCES, *SUPPORT, *extra, HANDLES / f"{program}.c"]
    build = subprocess.run(["gcc", *COMMON_FLAGS, *SANITIZERS[sanitizer], *(f"-I{i}" for i in include),
                            *map(str, sources), "-o", str(binary), *HOST_LIBS], capture_output=True, text=True)
    assert build.returncode == 0, f"compile failed:\n{build.stdout}{build.stderr}"
    try:
        run = subprocess.run([str(binary)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"{program} ({sanitizer}) hung: a deadlock the watchdog did not catch\n{expired.stdout}")
    print(run.stdout, run.stderr)
    assert run.returncode == 0, f"{program} ({sanitizer}) failed (exit {run.returncode}):\n{run.stdout}\n{run.stderr}"
    assert run.stdout.rstrip().endswith(" 0 failed"), run.stdout
    return run.stdout


def test_handles_and_lock(tmp_path: Path) -> None:
    _build_and_run(tmp_path, "test_handles", "asan")


@pytest.mark.parametrize("sanitizer", ["asan", "tsan"])
def test_four_threads(tmp_path: Path, sanitizer: str) -> None:
    _build_and_run(tmp_path, "test_threads", sanitizer)


TLS_APP = HANDLES / "tls"  # the app test_status.c calls through its generated wrappers


def test_generated_wrapper_status_per_task(empty_project, tmp_path: Path) -> None:
    for source in sorted(TLS_APP.iterdir()):
        empty_project.write(f"apps/tls/{source.name}", source.read_text())
    empty_project.scons("apps")
    generated = empty_project.root / "build" / "generated"
    _build_and_run(tmp_path, "test_status", "asan", extra=[generated / "dynapps_tls.c"], include=[generated])
