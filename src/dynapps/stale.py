"""What a removed app leaves behind: files in the build's own folders that no target of this
build makes (its wrappers in build/generated/, which ESP-IDF's build would still compile, its
objects, ELF and image in build/apps/, its wrapper objects of the emulator firmware).

It reads SCons's node tree, without creating nodes: it runs in a build thread (-j) beside the
taskmaster. It only touches files and folders no target of this build is in, so it never races
a compiler for a file or SCons for a folder SCons creates before a build step.
"""

from __future__ import annotations

from pathlib import Path


def _entry(folder, name: str):
    """The node SCons has for `name` in `folder` (a Dir node, or None)."""
    return getattr(folder, "entries", {}).get(name) if folder is not None else None


def _holds_targets(folder) -> bool:
    """Whether this build makes anything in `folder` (a Dir node or None) or below it."""
    entries = [node for name, node in getattr(folder, "entries", {}).items() if name not in (".", "..")]
    return any(node.has_builder() or _holds_targets(node) for node in entries)


def _stale_files(folder, path: Path) -> list[tuple[Path, object]]:
    """(file, its folder's Dir node) for every file under `path` (`folder` its Dir node) that no
    target of this build makes."""
    stale = []
    for child in sorted(path.iterdir()) if path.is_dir() else ():
        node = _entry(folder, child.name)
        if child.is_dir():
            stale += _stale_files(node, child)
        elif node is None or not node.has_builder():
            stale.append((child, folder))
    return stale


def remove(owned_folders: list, root: Path) -> list[Path]:
    """Delete the stale files under each Dir node of `owned_folders`, and the subfolders that
    leaves empty; returns what was deleted, relative to `root`."""
    removed = []
    for top in owned_folders:
        for path, folder in _stale_files(top, Path(top.abspath)):
            path.unlink(missing_ok=True)
            removed.append(path.relative_to(root))
            if folder is not top and not any(path.parent.iterdir()) and not _holds_targets(folder):
                path.parent.rmdir()
    return removed
