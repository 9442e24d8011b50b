"""`./dev inspect` (python -m dynapps.inspect) through a subprocess, as a user runs it: a good image
shows its name and version; malformed images, a missing file, -h, an unknown option and stdout
closed early each give one clear line and the right exit status, never a traceback."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import _env
from dynapps import image


def _good_image() -> image.Image:
    """A small XIP image as the build writes it (app "fir" 1.2.3)."""
    code_vaddr = 0x42200000 + image.HEADER_SIZE
    return image.Image(chip_id=5, strategy="xip", align_log2=0, code=bytes(range(32)), data=bytes(8), bss_size=4,
                       code_vaddr=code_vaddr, data_vaddr=0x3FC80000, import_slots_vaddr=0x3FC80004,
                       exports_id=0x1234, exports_count=4, imports=[("printf", 3)],
                       exports=[("fir_taps", code_vaddr + 4, 0), ("fir_init", code_vaddr, 1)],
                       name="fir", version=(1, 2, 3))


def _rehashed(raw: bytes) -> bytes:
    body = raw[:-image.HASH_SIZE]
    return body + hashlib.sha256(body).digest()


def _strtab_offset(raw: bytes) -> int:
    return len(raw) - image.HASH_SIZE - struct.unpack_from("<I", raw, 52)[0]


def _import_record(raw: bytes) -> int:
    """File offset of the first import record."""
    code, data, fixups = struct.unpack_from("<III", raw, 16)[0], struct.unpack_from("<I", raw, 20)[0], 0
    return image.HEADER_SIZE + code + data + 4 * fixups


def _bad_string_offset(raw: bytes) -> bytes:
    at = _import_record(raw)
    return _rehashed(raw[:at] + struct.pack("<I", 0x1000) + raw[at + 4:])


def _missing_nul(raw: bytes) -> bytes:
    start, end = _strtab_offset(raw), len(raw) - image.HASH_SIZE
    return _rehashed(raw[:start] + b"x" * (end - start) + raw[end:])


MALFORMED = {
    "bad string offset": (_bad_string_offset, "string offset 4096 does not start a NUL-terminated name"),
    "missing NUL": (_missing_nul, "does not start a NUL-terminated name"),
    "truncated": (lambda raw: raw[:-10], "truncated: header says"),
    "shorter than a header": (lambda raw: raw[:100], "truncated: 100 bytes"),
    "wrong magic": (lambda raw: b"XAPP" + raw[4:], "not a dynapps image"),
    "version 1": (lambda raw: raw[:4] + struct.pack("<HH", 1, 64) + raw[8:], "format version 1"),
    "corrupted": (lambda raw: raw[:100] + bytes([raw[100] ^ 1]) + raw[101:], "SHA-256 mismatch"),
    "empty file": (lambda raw: b"", "truncated: 0 bytes"),
    "name not NUL-padded": (lambda raw: _rehashed(raw[:64] + b"fir\0x" + raw[69:]), "bytes after its NUL"),
}


def _inspect(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dynapps.inspect", *args], capture_output=True, text=True,
                          env=_env())


def test_good_image_shows_name_and_version(tmp_path: Path):
    path = tmp_path / "fir.dapp"
    path.write_bytes(_good_image().to_bytes())
    result = _inspect(str(path))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert "app         fir 1.2.3" in result.stdout
    assert f"format      v{image.FORMAT_VERSION}, chip esp32c3, strategy xip" in result.stdout
    assert "slot        mapped at 0x42200000" in result.stdout
    assert f"fir_init at {0x42200000 + image.HEADER_SIZE:#010x} (init)" in result.stdout


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_image_is_one_line(tmp_path: Path, case: str):
    corrupt, message = MALFORMED[case]
    path = tmp_path / "bad.dapp"
    path.write_bytes(corrupt(_good_image().to_bytes()))
    result = _inspect(str(path))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"error: {path}: ") and message in result.stderr, result.stderr


def test_missing_file_and_directory(tmp_path: Path):
    for path in (tmp_path / "nothing.dapp", tmp_path):
        result = _inspect(str(path))
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(f"error: {path}: ") and "Traceback" not in result.stderr


def test_help_and_usage_errors():
    result = _inspect("-h")
    assert (result.returncode, result.stderr) == (0, "") and result.stdout.startswith("usage: ./dev inspect")
    for args, reason in ((["--frobnicate", "x.dapp"], "unknown option --frobnicate"), ([], "no image given")):
        result = _inspect(*args)
        assert result.returncode == 2 and result.stderr.startswith(f"error: {reason}\nusage:"), result.stderr
        assert "Traceback" not in result.stderr


def test_closed_pipe_is_one_line(tmp_path: Path):
    """`./dev inspect x.dapp | head -1`: the reader has gone before everything was written."""
    path = tmp_path / "fir.dapp"
    path.write_bytes(_good_image().to_bytes())
    process = subprocess.Popen([sys.executable, "-m", "dynapps.inspect", *[str(path)] * 50],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    process.stdout.close()  # before it writes anything: every write meets a closed pipe
    stderr = process.stderr.read().decode()
    assert process.wait() == 1
    assert stderr == "error: output closed before all of it was written\n", stderr
