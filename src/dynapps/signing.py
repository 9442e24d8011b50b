"""Image signatures (docs/image-format.md, "Signature"): ECDSA P-256 over an image's SHA-256,
through the `cryptography` package (which esptool needs too).

ECDSA P-256 because the firmware checks signatures with Mbed TLS, and ESP-IDF 5.x ships Mbed TLS
3.x, which has no Ed25519. On the wire a signature is raw r || s (32 bytes each, big-endian), as
PSA's psa_verify_hash takes it, and a public key the 65-byte uncompressed point 0x04 || X || Y.
The private key is a PEM file (PKCS#8, unencrypted) that `scons keygen` writes.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DynappsError

SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 65
_COORDINATE = 32


def _crypto():
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils
    return hashes, serialization, ec, utils


def keygen(path: Path, display: str) -> bytes:
    """Write a new private key to `path` (never over an existing file, readable by its owner
    only); return its public key."""
    hashes, serialization, ec, _ = _crypto()
    if path.exists():
        raise DynappsError(f"signing key: '{display}' exists already; remove it first to make a new one "
                           "(images signed with it will no longer load on a firmware with the new key)")
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(pem)
    return public_key(key)


def load_private_key(path: Path, display: str):
    """The P-256 private key in the PEM file at `path`."""
    _, serialization, ec, _ = _crypto()
    if not path.is_file():
        raise DynappsError(f"signing key: '{display}' does not exist: run `scons keygen` to make one, or "
                           "remove signing.key from dynapps.yaml")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise DynappsError(f"signing key: '{display}' is not an unencrypted PEM private key ({error})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise DynappsError(f"signing key: '{display}' is not an ECDSA P-256 (secp256r1) key")
    return key


def public_key(private_key) -> bytes:
    """The uncompressed public point (65 bytes) of a private key."""
    _, serialization, _, _ = _crypto()
    return private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                 serialization.PublicFormat.UncompressedPoint)


def sign_digest(private_key, digest: bytes) -> bytes:
    """The raw r || s signature of a SHA-256 digest, deterministic (RFC 6979)."""
    hashes, _, ec, utils = _crypto()
    # Deterministic (RFC 6979): the same image signs to the same bytes, so rebuilding an image that
    # did not change (every image is rebuilt when an export is appended) rewrites no slot.
    der = private_key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256()), deterministic_signing=True))
    r, s = utils.decode_dss_signature(der)
    return r.to_bytes(_COORDINATE, "big") + s.to_bytes(_COORDINATE, "big")


def verify_digest(point: bytes, digest: bytes, signature: bytes) -> bool:
    """Whether `signature` (raw r || s) signs the SHA-256 `digest` for the public `point`; a
    malformed point or signature is False."""
    from cryptography.exceptions import InvalidSignature
    hashes, _, ec, utils = _crypto()
    if len(point) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        r = int.from_bytes(signature[:_COORDINATE], "big")
        s = int.from_bytes(signature[_COORDINATE:], "big")
        key.verify(utils.encode_dss_signature(r, s), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    except (InvalidSignature, ValueError):
        return False
    return True
