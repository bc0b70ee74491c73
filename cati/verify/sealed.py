"""The sealed results' digest, pure: canonical JSON and its SHA-256 (``cati.results.sealed`` uses it).

Canonical JSON: ``json.dumps(results, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
encoded as UTF-8.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(results: dict[str, Any]) -> bytes:
    """The results as canonical JSON bytes (sorted keys, no spaces, UTF-8)."""
    return json.dumps(results, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def digest(results: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON."""
    return hashlib.sha256(canonical_json(results)).hexdigest()
