"""The audit chain's hash, pure: the canonical bytes of an entry and their SHA-256.

``cati.audit`` (the service) and ``cati verify`` (a bundle's ``audit/log.jsonl``) both hash
entries here, so the bytes are the same by construction. See docs/audit.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

GENESIS_HASH = "0" * 64

#: The fields the chain hash covers, in the JSON of a bundle's audit log (plus ``hash``).
HASHED_FIELDS = ("seq", "at", "actor", "action", "object_type", "object_id", "details", "prev_hash")


def format_at(at: dt.datetime) -> str:
    """An entry's time as hashed: UTC, six fractional digits, ``Z``."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(
    seq: int,
    at: str,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    details: dict[str, Any],
    prev_hash: str,
) -> bytes:
    """The bytes an entry's hash covers (``at`` already formatted by :func:`format_at`)."""
    body = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "details": details,
        "prev_hash": prev_hash,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def hash_fields(fields: dict[str, Any]) -> str:
    """SHA-256 hex of an entry given as a dict with :data:`HASHED_FIELDS` (``at`` as text)."""
    data = canonical(
        fields["seq"],
        fields["at"],
        fields["actor"],
        fields["action"],
        fields["object_type"],
        fields["object_id"],
        fields["details"],
        fields["prev_hash"],
    )
    return hashlib.sha256(data).hexdigest()
