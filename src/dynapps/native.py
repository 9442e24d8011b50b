"""Where the C side of dynapps is: the loader component and the emulator firmware's sources.

An installed package carries them as package data in `dynapps/native/` (pyproject.toml maps
firmware/components/dynapps and firmware/emulator there); a checkout used through PYTHONPATH=src
has them in firmware/. Both hold the same two folders, so everything below the root is the same.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_INSTALLED = _PACKAGE / "native"
_CHECKOUT = _PACKAGE.parents[1] / "firmware"


def root() -> Path:
    """The folder holding components/dynapps/ and emulator/."""
    return _INSTALLED if (_INSTALLED / "components").is_dir() else _CHECKOUT


ROOT = root()
COMPONENT = ROOT / "components" / "dynapps"
EMULATOR_FIRMWARE_DIR = ROOT / "emulator"
