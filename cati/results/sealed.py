"""The final results sealed at close: canonical JSON and its SHA-256, stored once and served after.

Canonical JSON: ``json.dumps(results, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
encoded as UTF-8 (keys sorted, no spaces, Chinese text as itself). Anyone can re-check the digest
with ``sha256(canonical_json(results))`` over the served ``results`` without its ``sealed`` key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy.orm import Session

from cati.models import CampaignClosure

#: The key added to served results after close; it is not part of the digested JSON.
SEAL_KEY = "sealed"


def canonical_json(results: dict[str, Any]) -> bytes:
    """The results as canonical JSON bytes (sorted keys, no spaces, UTF-8)."""
    return json.dumps(results, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def digest(results: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON."""
    return hashlib.sha256(canonical_json(results)).hexdigest()


def sealed_results(session: Session, campaign_id: int) -> dict[str, Any] | None:
    """The stored final results with their digest under ``sealed``; None before close."""
    closure = session.get(CampaignClosure, campaign_id)
    if closure is None:
        return None
    out: dict[str, Any] = json.loads(closure.results_json)
    out[SEAL_KEY] = {
        "sha256": closure.results_sha256,
        "closed_at": closure.closed_at.isoformat(),
        "canonical_json": "sort_keys, separators (',', ':'), UTF-8, without this key",
    }
    return out
