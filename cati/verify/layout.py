"""The kit's layout (format ``cati.bundle/1``): file names, columns, the sample digest. Pure.

docs/verify.md describes every file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

FORMAT = "cati.bundle/1"

MANIFEST = "manifest.json"
PLAN = "plan.json"
INSTRUMENT = "instrument.yaml"
SAMPLE = "sample.json"
CASES = "cases.csv"
RESPONSES = "responses.csv"
RESULTS = "results.json"
AUDIT_LOG = "audit/log.jsonl"
CHECKPOINTS = "audit/checkpoints.json"
PUBLIC_KEY = "audit/public_key.pem"
FINGERPRINT = "audit/key_fingerprint.txt"
SIGNOFFS = "signoffs.json"

#: Every file a kit holds besides the manifest, in the manifest's order.
FILES = (
    PLAN,
    INSTRUMENT,
    SAMPLE,
    CASES,
    RESPONSES,
    RESULTS,
    AUDIT_LOG,
    CHECKPOINTS,
    PUBLIC_KEY,
    FINGERPRINT,
    SIGNOFFS,
)

CASES_COLUMNS = ("district_code", "stratum", "sample_position", "disposition", "attempts")


def numbers_digest(numbers: Iterable[str]) -> str:
    """SHA-256 of a district's released numbers in sample order, one a line (LF after each).

    The service hashes the numbers it dialled from; ``cati verify`` hashes the numbers it
    re-generates from the revealed seed and the frame: equal digests show the cases are the
    sample, without the kit holding a single number.
    """
    return hashlib.sha256("".join(f"{n}\n" for n in numbers).encode("ascii")).hexdigest()
