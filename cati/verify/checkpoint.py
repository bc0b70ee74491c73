"""Signed audit checkpoints, pure: the format, the signed bytes, parsing, signature and fingerprint.

Used by the service (``cati.checkpoints``) and by ``cati verify`` on a bundle's checkpoints;
see docs/audit.md for the format.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "cati-audit-checkpoint/1"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def fingerprint(public_raw: bytes) -> str:
    """SHA-256 of the raw 32-byte public key, hex in groups of four, as witnesses read it aloud."""
    digest = hashlib.sha256(public_raw).hexdigest()
    return ":".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def verify_signature(public_raw: bytes, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` is an Ed25519 signature of ``data`` by ``public_raw``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


class CheckpointFileError(ValueError):
    """A checkpoint file that is not a checkpoint: not JSON, a field missing or malformed."""


@dataclass(frozen=True)
class Checkpoint:
    """One signed checkpoint; ``public_key`` is the raw Ed25519 key, ``signature`` 64 bytes, both hex."""

    size: int
    head_hash: str
    at: str
    public_key: str
    signature: str
    format: str = FORMAT

    def signed_bytes(self) -> bytes:
        return signed_bytes(self.size, self.head_hash, self.at)

    @property
    def key_fingerprint(self) -> str:
        return fingerprint(bytes.fromhex(self.public_key))

    def signature_ok(self) -> bool:
        return verify_signature(
            bytes.fromhex(self.public_key), bytes.fromhex(self.signature), self.signed_bytes()
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "size": self.size,
            "head_hash": self.head_hash,
            "at": self.at,
            "public_key": self.public_key,
            "key_fingerprint": self.key_fingerprint,
            "signature": self.signature,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"


def signed_bytes(size: int, head_hash: str, at: str) -> bytes:
    """The exact bytes the signature covers (docs/audit.md)."""
    return f"{FORMAT}\n{size}\n{head_hash}\n{at}\n".encode("ascii")


def _field(data: dict[str, Any], name: str, kind: type) -> Any:
    if name not in data:
        raise CheckpointFileError(f"缺少字段 {name!r} / field {name!r} is missing")
    value = data[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CheckpointFileError(f"字段 {name!r} 类型错误 / field {name!r} must be a {kind.__name__}")
    return value


def parse(text: str) -> Checkpoint:
    """A checkpoint from its JSON; the message says what is wrong (the signature is checked later)."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeError) as exc:
        raise CheckpointFileError(f"不是 JSON / not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CheckpointFileError("不是 JSON 对象 / not a JSON object")
    fmt = _field(data, "format", str)
    if fmt != FORMAT:
        raise CheckpointFileError(f"未知格式 {fmt!r} / unknown format {fmt!r} (expected {FORMAT})")
    size = _field(data, "size", int)
    if size < 0:
        raise CheckpointFileError("size 为负 / size is negative")
    head_hash = _field(data, "head_hash", str)
    if not _HEX64.match(head_hash):
        raise CheckpointFileError("head_hash 不是 64 位十六进制 / head_hash is not 64 hex digits")
    at = _field(data, "at", str)
    if not _AT.match(at):
        raise CheckpointFileError("at 不是 UTC 时间 / at is not a UTC time like 2026-12-05T13:30:00.000000Z")
    public_key = _field(data, "public_key", str)
    signature = _field(data, "signature", str)
    try:
        if len(bytes.fromhex(public_key)) != 32 or len(bytes.fromhex(signature)) != 64:
            raise ValueError
    except ValueError:
        raise CheckpointFileError(
            "public_key/signature 应为 32/64 字节十六进制 / "
            "public_key and signature must be 32 and 64 bytes of hex"
        ) from None
    checkpoint = Checkpoint(size, head_hash, at, public_key.lower(), signature.lower(), fmt)
    shown = data.get("key_fingerprint")
    if shown is not None and shown != checkpoint.key_fingerprint:
        raise CheckpointFileError(
            "key_fingerprint 与 public_key 不符 / key_fingerprint does not match public_key"
        )
    return checkpoint
