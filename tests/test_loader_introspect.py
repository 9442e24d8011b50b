"""Listing the loaded apps (dynapps_next_loaded, dynapps_find_loaded), in host C under ASan/UBSan
with the real mutex of the host port: tests/c/handles/test_introspect.c."""

from __future__ import annotations

from pathlib import Path

from test_loader_handles import _build_and_run, pytestmark  # noqa: F401  (skip without gcc)


def test_list_and_find_loaded_apps(tmp_path: Path) -> None:
    out = _build_and_run(tmp_path, "test_introspect", "asan")
    assert "PASS test_cursor_unloaded_mid_walk" in out and "PASS test_find_loaded_hit_and_miss" in out, out
