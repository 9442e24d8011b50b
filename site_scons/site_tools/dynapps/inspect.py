"""`./dev inspect FILE.dapp ...`: print what an image holds, after verifying it."""

from __future__ import annotations

import sys

from . import chips, image
from .errors import DynappsError


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: ./dev inspect FILE.dapp [FILE.dapp ...]", file=sys.stderr)
        return 2
    names = {profile.chip_id: name for name, profile in chips.PROFILES.items()}
    status = 0
    for path in argv:
        try:
            with open(path, "rb") as stream:
                data = stream.read()
            print(f"{path}: {len(data)} bytes")
            print(image.describe(image.read(data, path), names))
        except OSError as error:
            print(f"error: {path}: {error.strerror}", file=sys.stderr)
            status = 1
        except DynappsError as error:
            print(f"error: {error}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
