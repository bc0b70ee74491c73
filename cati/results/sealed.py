"""The final results sealed at close: canonical JSON and its SHA-256, stored once and served after.

Canonical JSON: ``json.dumps(results, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
encoded as UTF-8 (keys sorted, no spaces, Chinese text as itself). Anyone can re-check the digest
with ``sha256(canonical_json(results))`` over the served ``results`` without its ``sealed`` key.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from cati.models import CampaignClosure
from cati.verify.sealed import canonical_json, digest

__all__ = ["SEAL_KEY", "canonical_json", "digest", "sealed_results"]

#: The key added to served results after close; it is not part of the digested JSON.
SEAL_KEY = "sealed"


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
