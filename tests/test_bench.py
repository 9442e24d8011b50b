"""The benchmark keeps working: `bench/run.py --quick` in a temporary folder produces the table,
the plot and every figure and target. No timing is asserted (these machines are noisy)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from conftest import REPO, TOOLS

FIGURES = [
    "## Figure 1: build overhead",
    "second clone, cold `scons apps` from a warm shared cache",
    "cold `scons apps`, 2 of the apps",
    "| CPU ratio |",
    "## Figure 2: no-op and incremental `scons apps`",
    "## Figure 3: load cost in executed RV32 instructions",
    "## Figure 4: image size against the app's section bytes and its ELF",
    "## Figure 5: RAM held per loaded app",
    "## Figure 6: iteration, one app edited among",
    "## Figure 7: the call path, in exact RV32 instructions",
    "## Figure 8: the live loop, one app edited among",
]
TARGETS = [
    "cold `scons apps` of 4 apps ≤ 1.1× the direct compiler commands",
    "cold `scons apps` of 2 apps ≤ 1.3× the direct compiler commands",
    "no-op `scons apps` of 8 apps ≤ 1.5× the CPU time of SCons on an empty SConstruct",
    "XIP load cost at",
    "XIP load time at",
    "IRAM load cost ≤ copy + 10 instructions/fix-up + 100/import",
    "image ≤ 1.03× raw section bytes",
    "XIP app RAM = data + bss + import table, nothing for code",
    "loader bookkeeping ≤ 64 bytes per app",
    "edit one app → flash-apps writes ≤ its image rounded up to 4 KB (+ an XIP image's trust-mark sector)",
    "edit → app running in the emulator ≤ 2 s",
    "wrapped call ≤ 10 instructions over a raw indirect call (esp32c3)",
    "wrapped call ≤ 10 instructions over a raw indirect call (esp32c6)",
    "edit → running by push ≤ 1 s in the emulator, with `dynapps watch`",
    "edit → running by push ≤ 1 s in the emulator, one `scons push` per edit",
]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    work, out = tmp_path_factory.mktemp("bench-work"), tmp_path_factory.mktemp("bench-out")
    env = {**__import__("os").environ, "PYTHONPATH": str(TOOLS)}
    result = subprocess.run([sys.executable, str(REPO / "bench/run.py"), "--quick", "--work", str(work),
                             "--out", str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result, out


def test_table_and_plot_are_written(quick_run):
    result, out = quick_run
    text = (out / "results.md").read_text()
    assert text in result.stdout  # the table is printed too
    png = (out / "load_cost.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    assert "![load cost against code size](load_cost.png)" in text
    assert re.search(r"^Machine load: 1-minute load average [\d.]+ when the run started \(other work: \w+", text, re.M)


def test_every_figure_is_present(quick_run):
    text = (quick_run[1] / "results.md").read_text()
    for heading in FIGURES:
        assert heading in text, heading
    # Figure 3 has a count for each strategy and size, and the phases add up to it.
    rows = re.findall(r"^\| (iram|xip)_(\d+)k \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \|", text, re.M)
    assert {(s, int(k)) for s, k, *_ in rows} == {(s, k) for s in ("iram", "xip") for k in (1, 4, 16)}


def test_every_target_is_judged(quick_run):
    result, out = quick_run
    text = (out / "results.md").read_text()
    for target in TARGETS:
        line = next((l for l in text.splitlines() if l.startswith("| " + target)), None)
        assert line is not None, target
        assert re.search(r"\*\*(met|MISSED)\*\*", line), line
        assert target.split(" ≤")[0].split(" =")[0] in result.stdout


def test_numbers_are_recorded_and_consistent(quick_run):
    results = json.loads((quick_run[1] / "results.json").read_text())
    assert len(results["targets"]) == len(TARGETS)
    assert results["load"]["run"]["phase_mark"] > 0  # the loader marked its phases in the bench firmware
    for name, app in results["load"]["run"]["apps"].items():
        assert app["status"] == "OK", (name, app)
        assert app["load_instructions"] > 1000
        assert sum(app["phases"].values()) == app["load_instructions"]
        # the loader's phase marks cover the load: outside them only the harness's few instructions
        assert 0 <= app["phases"]["other"] < 64, (name, app)
        assert (app["phases"]["fixing up"] > 0) == name.startswith("iram"), (name, app)
        assert app["phases"]["hashing"] > 0 and app["phases"]["binding"] > 0
    # the time model: every IRAM load read its image's lines from flash and hashed it; an XIP load,
    # booted with the trust mark its first load wrote, hashed nothing
    for name, app in results["load"]["run"]["apps"].items():
        image = results["load"]["sizes"][name]["image"]
        if name.startswith("iram"):
            assert app["sha_bytes"] == image - 32 and app["flash_lines"] * 32 >= image - 32, (name, app)
        else:
            assert app["sha_bytes"] == 0 and 0 < app["flash_lines"] * 32 < 2048, (name, app)
        parts = app["time_us"]
        assert parts["total"] == pytest.approx(parts["cpu"] + parts["flash"] + parts["sha"]) and parts["flash"] > 0
    # figure 1: a second clone took every app's image from the shared cache
    shared = results["build"]["shared_cache"]
    assert shared["retrieved"] >= results["build"]["apps"] and shared["ratio"] > 0
    # figure 7: exact counts, the same as tests/test_call_path.py's
    assert {r["chip"]: r["overhead"] for r in results["call"]["runs"]} == {"esp32c3": 10, "esp32c6": 6}
    # figure 2: CPU times of each no-op run, with and without the record, and of SCons on an empty
    # SConstruct beside them (buildtime.noop checks which runs took the shortcut)
    for project in results["noop"]["projects"]:
        runs = (project["cpu_seconds"], project["full_cpu_seconds"], project["empty_cpu_seconds"])
        assert all(len(times) == results["noop"]["repeats"] for times in runs)
        assert 0 < project["empty_cpu_median"] < project["full_cpu_median"]
    for edit in results["iteration"]["edits"]:
        assert edit["regions"] == [edit["app"]] and edit["result_changed"]
    # figure 8: the live loop
    live = results["live"]
    assert len(live["pushes"]) == len(live["flashes"]) >= 1
    for push in live["pushes"]:
        assert push["result_changed"]  # the pushed code ran, without a reboot
        assert push["seconds"] == pytest.approx(push["build_seconds"] + push["push_seconds"] + push["call_seconds"])
    assert len(live["watches"]) == len(live["pushes"]) and all(w["result_changed"] for w in live["watches"])
    assert live["call"]["array_bytes"] == 1024


def test_plot_series_can_be_told_apart(quick_run):
    """Within each panel of load_cost.png, every series has its own colour + line style + marker,
    and no two lie on the same points (IRAM and XIP are shifted apart where they would)."""
    sys.path.insert(0, str(REPO / "bench"))
    import report

    series = report.plot_series(json.loads((quick_run[1] / "results.json").read_text()))
    assert {s.panel for s in series} == {0, 1, 2}
    for panel in (0, 1, 2):
        mine = [s for s in series if s.panel == panel]
        looks = [(s.colour, s.style, s.marker) for s in mine]
        assert len(set(looks)) == len(looks), looks
        points = [tuple(zip(s.xs, s.ys)) for s in mine]
        assert len(set(points)) == len(points), [s.label for s in mine]
