"""The verification kit of a closed campaign: one zip anyone can check with ``cati verify``.

What goes in and why is docs/verify.md. The builder only reads; it returns the zip's bytes, and
each door (``GET /api/v1/campaigns/{id}/bundle.zip``, ``cati results bundle``) hands them out.
The zip is reproducible: members in a fixed order, each dated at the close, so two witnesses
downloading it get the same bytes unless a signature or a checkpoint came in between.

Privacy: no phone number is written. ``cases.csv`` names a case by its district and its position
in the ordered sample only; ``responses.csv`` drops the interview and case ids, the interviewer
and the times, and is sorted by its cells, so a row cannot be joined to a case (the revealed seed
turns a sample position back into a number).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from cati import audit
from cati.announcement import service as announcement
from cati.campaigns.service import get_campaign, to_read
from cati.checkpoints.service import from_row
from cati.errors import Conflict
from cati.models import AuditCheckpoint, AuditEntry, Campaign, CampaignClosure, CampaignStatus, Case, District
from cati.results.sealed import sealed_results
from cati.results.service import Export, export_csv, export_rows
from cati.verify import layout
from cati.verify.chain import format_at
from cati.verify.checkpoint import fingerprint

#: Columns of the office's export left out of the bundle's responses.csv (see the module docstring).
HIDDEN_RESPONSE_COLUMNS = (
    "interview_id",
    "case_id",
    "interviewer_id",
    "interviewer",
    "started_at",
    "ended_at",
)


#: Audit entries the kit carries as hash only (docs/verify.md, "Decisions"): an interview's entries
#: hold the respondent's closed answers in clear and its case id, which the revealed seed would turn
#: into a phone number. Their hashes still chain every other entry to the signed checkpoints.
REDACTED_OBJECT_TYPES = frozenset({"interview"})


class NotClosed(Conflict):
    """The kit exists only for a closed campaign (its seed and final results are needed)."""


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _status_entries(session: Session, campaign_id: int) -> dict[str, AuditEntry]:
    """The campaign's status-change entries by target status (the last one of each)."""
    return {str(e.details.get("to")): e for e in announcement.status_changes(session, campaign_id)}


def final_checkpoint(session: Session, campaign_id: int) -> AuditCheckpoint:
    """The latest stored checkpoint; it must cover the campaign's close.

    The latest, not the close's own: sign-offs come after the close, and a checkpoint written
    after them (``cati audit checkpoint``, or the periodic one while another campaign is in
    fieldwork) brings their audit entries into the signed part of the kit.
    """
    closed = _status_entries(session, campaign_id).get(CampaignStatus.closed.value)
    if closed is None:
        raise NotClosed("审计日志中没有该活动的结束记录 / the audit log has no close of this campaign")
    row = session.execute(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.size >= closed.seq)
        .order_by(AuditCheckpoint.size.desc(), AuditCheckpoint.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if row is None:
        raise Conflict(
            "没有覆盖结束记录的签名检查点，请先运行 cati audit checkpoint / no signed checkpoint covers the "
            "close yet: run `cati audit checkpoint` first"
        )
    return row


def _cases_csv(session: Session, campaign_id: int) -> tuple[bytes, dict[int, list[str]]]:
    """cases.csv (no phone numbers) and, per district id, the numbers in position order (for digests)."""
    rows: list[list[str]] = []
    numbers: dict[int, list[str]] = {}
    query = (
        select(
            District.id,
            District.code,
            Case.stratum,
            Case.sample_position,
            Case.final_disposition,
            Case.attempts_count,
            Case.phone_number,
        )
        .join(District, District.id == Case.district_id)
        .where(Case.campaign_id == campaign_id)
        .order_by(District.code, Case.sample_position)
    )
    for district_id, code, stratum, position, final, attempts, phone in session.execute(query):
        rows.append([code, stratum, str(position), final or "", str(attempts)])
        numbers.setdefault(district_id, []).append(phone)
    return _csv(list(layout.CASES_COLUMNS), rows), numbers


def _sample_json(campaign: Campaign, numbers: dict[int, list[str]]) -> dict[str, Any]:
    districts = []
    for d in sorted(campaign.districts, key=lambda d: d.code):
        prefixes = sorted(p.prefix for p in d.prefixes)
        mine = numbers.get(d.id, [])
        districts.append(
            {
                "code": d.code,
                "prefixes": prefixes,
                "suffix_digits": d.suffix_digits,
                "excluded_banks": [],
                "released": d.sample_position,
                "numbers_sha256": layout.numbers_digest(mine),
            }
        )
    return {
        "commitment": campaign.seed_commitment,
        "seed": campaign.seed_hex,
        "districts": districts,
    }


def _responses_csv(export: Export) -> bytes:
    header = [c for c in export.header if c not in HIDDEN_RESPONSE_COLUMNS]
    rows = sorted([row[c] for c in header] for row in export.rows)
    return export_csv(Export(header, [dict(zip(header, r, strict=True)) for r in rows]))


def _audit_lines(session: Session, size: int) -> Iterator[bytes]:
    for e in audit.entries(session, upto=size, batch=2000):
        if e.object_type in REDACTED_OBJECT_TYPES:
            entry: dict[str, Any] = {
                "seq": e.seq,
                "action": e.action,
                "redacted": True,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            yield json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"
            continue
        entry = {
            "seq": e.seq,
            "at": format_at(e.at),
            "actor": e.actor,
            "action": e.action,
            "object_type": e.object_type,
            "object_id": e.object_id,
            "details": e.details,
            "prev_hash": e.prev_hash,
            "hash": e.hash,
        }
        yield json.dumps(entry, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def _public_pem(public_hex: str) -> bytes:
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def build_bundle(session: Session, campaign_id: int) -> bytes:
    """The kit of a closed campaign as zip bytes; NotClosed (409) before close."""
    campaign = get_campaign(session, campaign_id)
    closure = session.get(CampaignClosure, campaign_id)
    if campaign.status != CampaignStatus.closed.value or closure is None:
        raise NotClosed(
            f"调查活动 {campaign.code} 尚未结束：核验包在结束后才能生成 / campaign {campaign.code} is not "
            "closed yet: the verification kit exists only after close"
        )
    results = sealed_results(session, campaign_id)
    assert results is not None
    final = final_checkpoint(session, campaign_id)
    checkpoints = [
        from_row(row).to_json()
        for row in session.execute(
            select(AuditCheckpoint).where(AuditCheckpoint.size <= final.size).order_by(AuditCheckpoint.id)
        ).scalars()
    ]
    cases_bytes, numbers = _cases_csv(session, campaign_id)
    plan = to_read(campaign).model_dump(mode="json")
    files: list[tuple[str, bytes]] = [
        (layout.PLAN, _json(plan)),
        (layout.INSTRUMENT, campaign.instrument_text.encode("utf-8")),
        (layout.SAMPLE, _json(_sample_json(campaign, numbers))),
        (layout.CASES, cases_bytes),
        (layout.RESPONSES, _responses_csv(export_rows(session, campaign_id))),
        (layout.RESULTS, _json(results)),
        (layout.AUDIT_LOG, b"".join(_audit_lines(session, final.size))),
        (layout.CHECKPOINTS, _json(checkpoints)),
        (layout.PUBLIC_KEY, _public_pem(final.public_key)),
        (layout.FINGERPRINT, (fingerprint(bytes.fromhex(final.public_key)) + "\n").encode("ascii")),
        (layout.SIGNOFFS, _json(announcement.signoffs(session, campaign_id))),
    ]
    manifest = {
        "format": layout.FORMAT,
        "campaign": {"id": campaign.id, "code": campaign.code},
        "closed_at": closure.closed_at.astimezone(dt.UTC).isoformat(),
        "files": [
            {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for name, data in files
        ],
    }
    when = closure.closed_at.astimezone(dt.UTC).timetuple()[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in [(layout.MANIFEST, _json(manifest)), *files]:
            info = zipfile.ZipInfo(name, date_time=when)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return out.getvalue()


def bundle_name(campaign: Campaign) -> str:
    return f"{campaign.code}-bundle.zip"
