"""`./dev inspect FILE.dapp ...`: print what an image holds, after verifying it.

Every way this can go wrong for a user (a missing or unreadable file, a malformed image, an
unknown option, stdout closed early as in `./dev inspect x.dapp | head -1`) is one line on stderr
and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import os
import sys

from . import chips, image
from .errors import DynappsError

USAGE = """usage: ./dev inspect FILE.dapp [FILE.dapp ...]
Verify each dynapps image (docs/image-format.md) and print what it holds: app name and version,
chip, strategy, segments, fix-ups, imports and exports. Exit status 1 if any image is bad."""

EXIT_BAD_IMAGE, EXIT_USAGE = 1, 2


def _inspect(path: str, names: dict) -> bool:
    """Print one image; False (with the reason on stderr) if it can't be read or is malformed."""
    try:
        with open(path, "rb") as stream:
            data = stream.read()
        text = image.describe(image.read(data, path), names)
    except OSError as error:
        print(f"error: {path}: {error.strerror or error}", file=sys.stderr)
        return False
    except DynappsError as error:
        print(f"error: {error}", file=sys.stderr)
        return False
    print(f"{path}: {len(data)} bytes")
    print(text)
    return True


def main(argv: list[str]) -> int:
    if any(arg in ("-h", "--help") for arg in argv):
        print(USAGE)
        return 0
    options = [arg for arg in argv if arg.startswith("-") and arg != "-"]
    if not argv or options:
        reason = f"unknown option {options[0]}" if options else "no image given"
        print(f"error: {reason}\n{USAGE.splitlines()[0]}", file=sys.stderr)
        return EXIT_USAGE
    results = [_inspect(path, chips.chip_names()) for path in argv]
    return 0 if all(results) else EXIT_BAD_IMAGE


def run(argv: list[str]) -> int:
    """main(), with stdout closed by the reader (a pipe into `head`) reported in one line."""
    try:
        status = main(argv)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # Python would complain again when it flushes stdout at exit: point it at /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("error: output closed before all of it was written", file=sys.stderr)
        return EXIT_BAD_IMAGE


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
