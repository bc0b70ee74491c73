"""The results sheet of a closed campaign, built only from what the close sealed, and the sign-off.

Sources, and nothing else: the results stored at close (``campaign_closures``: the canonical JSON
and its SHA-256, re-hashed here), the campaign (official district order, seed, commitment,
frames), the audit log's status changes (fieldwork dates), the checkpoint the close signed, and the
signatures given so far. Services flush; the request commits.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cati import audit
from cati.announcement.parties import PARTIES
from cati.campaigns.service import get_campaign, sampling_frames
from cati.checkpoints.keys import fingerprint
from cati.checkpoints.service import checkpoint_if_bound
from cati.errors import Conflict, Invalid, NotFound
from cati.models import (
    AuditCheckpoint,
    AuditEntry,
    Campaign,
    CampaignClosure,
    CampaignStatus,
    Signoff,
    User,
    utcnow,
)
from cati.results.sealed import digest
from cati.verify.chain import format_at
from dialer.rdd import campaign_commitment

SCHEMA = "cati.announcement/1"

#: The AAPOR variants printed on the sheet (final rates, every case has its final code at close):
#: those that count only complete interviews as interviews and, where unknown-eligibility cases
#: enter, use the estimated eligible share e: RR3, COOP1 (others in the denominator: the strict
#: one), REF2, CON2. Every variant is kept in ``rates_all``.
RATE_VARIANTS = ("RR3", "COOP1", "REF2", "CON2")

RATE_NOTE = (
    "final AAPOR rates (Standard Definitions); RR3 and REF2/CON2 use e, the estimated eligible share "
    "of unknown-eligibility cases; COOP1 counts only complete interviews; all variants in rates_all"
)
RANK_NOTE = (
    "rank 1 = highest score; tied scores share the rank (standard competition ranking: 1, 2, 2, 4) and "
    "are listed in the official order; districts without a valid questionnaire are unranked, last"
)


class NotClosed(Conflict):
    """The sheet exists only after close."""


def _closure(session: Session, campaign: Campaign) -> CampaignClosure:
    closure = session.get(CampaignClosure, campaign.id)
    if closure is None or campaign.status != CampaignStatus.closed.value:
        raise NotClosed(
            f"调查活动 {campaign.code} 尚未结束，结果公布单在结束后才生成 / "
            f"campaign {campaign.code} is not closed: the announcement exists only after close"
        )
    return closure


def status_changes(session: Session, campaign_id: int) -> list[AuditEntry]:
    """The campaign's status-change entries of the audit log, in seq order."""
    return list(
        session.execute(
            select(AuditEntry)
            .where(
                AuditEntry.action == "campaign.status_changed",
                AuditEntry.object_type == "campaign",
                AuditEntry.object_id == str(campaign_id),
            )
            .order_by(AuditEntry.seq)
        ).scalars()
    )


def _fieldwork_dates(session: Session, campaign: Campaign) -> dict[str, str | None]:
    """When the status changed to fieldwork and to closed, from the audit log (campaign's zone)."""
    zone = ZoneInfo(campaign.timezone)
    out: dict[str, str | None] = {"published": None, "fieldwork_started": None, "closed": None}
    keys = {"published": "published", "fieldwork": "fieldwork_started", "closed": "closed"}
    for entry in status_changes(session, campaign.id):
        key = keys.get(str(entry.details.get("to")))
        if key is not None and out[key] is None:
            out[key] = entry.at.astimezone(zone).isoformat(timespec="seconds")
    return out


def _final_checkpoint(session: Session, campaign_id: int) -> dict[str, Any] | None:
    """The checkpoint the close signed (reason ``campaign <id> fieldwork->closed``)."""
    row = session.execute(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.reason == f"campaign {campaign_id} fieldwork->closed")
        .order_by(AuditCheckpoint.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if row is None:
        return None
    return {
        "seq": row.size,
        "head_hash": row.head_hash,
        "at": format_at(row.at),
        "signature": row.signature,
        "public_key": row.public_key,
        "key_fingerprint": fingerprint(bytes.fromhex(row.public_key)),
    }


def signoffs(session: Session, campaign_id: int) -> list[dict[str, Any]]:
    """The signatures given so far, in the order they were given."""
    get_campaign(session, campaign_id)
    rows = session.execute(
        select(Signoff).where(Signoff.campaign_id == campaign_id).order_by(Signoff.signed_at, Signoff.id)
    ).scalars()
    return [
        {
            "party": r.party,
            "party_zh": PARTIES[r.party][0],
            "party_en": PARTIES[r.party][1],
            "name": r.signer_name,
            "signed_at": r.signed_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
            "results_sha256": r.results_sha256,
        }
        for r in rows
    ]


def has_signed(session: Session, campaign_id: int, user_id: int) -> bool:
    """Whether this account has signed this campaign's results."""
    found = session.execute(
        select(Signoff.id).where(Signoff.campaign_id == campaign_id, Signoff.user_id == user_id)
    ).first()
    return found is not None


def announcement(session: Session, campaign_id: int) -> dict[str, Any]:
    """The results sheet (``cati.announcement/1``); 409 before close."""
    campaign = get_campaign(session, campaign_id)
    closure = _closure(session, campaign)
    results: dict[str, Any] = json.loads(closure.results_json)
    scores = {d["district"]: d for d in results["scores"]["districts"]}
    rates = {d["code"]: d["final"] for d in results["rates"]["districts"]}
    counts = {d["code"]: d for d in results["counts"]["districts"]}
    districts: list[dict[str, Any]] = []
    for order, d in enumerate(campaign.districts, start=1):
        s = scores.get(d.name_zh, {})
        q = counts.get(d.code, {}).get("questionnaires", {"valid": 0, "invalid": 0})
        final = rates.get(d.code, {})
        districts.append(
            {
                "order": order,
                "code": d.code,
                "name_zh": d.name_zh,
                "name_en": d.name_en,
                "rank": s.get("rank"),
                "rank_range": s.get("rank_range"),
                "score": s.get("score"),
                # The 60-point component as scoring computed it (score x COMPONENT_FACTOR), not re-derived.
                "component": s.get("component"),
                "ci95": s.get("ci95"),
                "component_ci95": s.get("component_ci95"),
                "valid": q["valid"],
                "invalid": q["invalid"],
                "dimensions": s.get("dimensions", {}),
                "rates": {name: final.get(name) for name in RATE_VARIANTS},
                "rates_all": final,
            }
        )
    by_rank = sorted(districts, key=lambda x: (x["rank"] is None, x["rank"] or 0, x["order"]))
    frames = sampling_frames(campaign)
    seed = campaign.seed_hex
    recomputed = campaign_commitment(seed, frames) if seed else None
    stored_digest = closure.results_sha256
    zone = ZoneInfo(campaign.timezone)
    return {
        "schema": SCHEMA,
        "campaign": {
            "id": campaign.id,
            "code": campaign.code,
            "name_zh": campaign.name_zh,
            "name_en": campaign.name_en,
            "timezone": campaign.timezone,
            "instrument": {"name": campaign.instrument_name, "sha256": campaign.instrument_sha256},
        },
        "fieldwork": _fieldwork_dates(session, campaign),
        "closed_at": closure.closed_at.astimezone(zone).isoformat(timespec="seconds"),
        "districts": districts,
        "ranking": [
            {
                "rank": x["rank"],
                "code": x["code"],
                "name_zh": x["name_zh"],
                "name_en": x["name_en"],
                "score": x["score"],
            }
            for x in by_rank
        ],
        "rank_note": RANK_NOTE,
        "rate_variants": list(RATE_VARIANTS),
        "rates_note": RATE_NOTE,
        "overall_rates": {name: results["rates"]["overall"]["final"].get(name) for name in RATE_VARIANTS},
        "sample": {
            "seed": seed,
            "commitment": campaign.seed_commitment,
            "recomputed_commitment": recomputed,
            "match": recomputed is not None and recomputed == campaign.seed_commitment,
            "frame_sha256": {code: frame.digest() for code, frame in sorted(frames.items())},
        },
        "results": {
            "sha256": stored_digest,
            "recomputed_sha256": digest(results),
            "match": digest(results) == stored_digest,
            "canonical_json": "sort_keys, separators (',', ':'), UTF-8",
        },
        "final_checkpoint": _final_checkpoint(session, campaign.id),
        "parties": [{"party": k, "zh": zh, "en": en} for k, (zh, en) in PARTIES.items()],
        "signoffs": signoffs(session, campaign.id),
    }


def sign(
    session: Session,
    campaign_id: int,
    user: User,
    *,
    party: str,
    given_digest: str,
    now: dt.datetime | None = None,
) -> Signoff:
    """Record ``user``'s signature as ``party`` under the stored digest (the password is checked by
    the caller); 409 before close, on another digest, or on a second signature. Audited."""
    if party not in PARTIES:
        raise Invalid(
            f"未知的签字方 {party!r}，应为 {', '.join(PARTIES)} 之一 / "
            f"unknown party {party!r}: expected one of {', '.join(PARTIES)}"
        )
    campaign = get_campaign(session, campaign_id)
    closure = _closure(session, campaign)
    given = given_digest.strip().lower()
    if given != closure.results_sha256:
        raise Conflict(
            f"所签摘要 {given} 与结束时封存的结果摘要 {closure.results_sha256} 不一致，未签字 / "
            f"the digest signed ({given}) is not the results digest stored at close "
            f"({closure.results_sha256}); nothing was signed"
        )
    already = session.execute(
        select(Signoff.id).where(Signoff.campaign_id == campaign_id, Signoff.user_id == user.id)
    ).first()
    if already is not None:
        raise Conflict(
            f"账号 {user.username} 已在调查活动 {campaign.code} 的结果上签字，不能重复签字 / "
            f"account {user.username} has already signed campaign {campaign.code}"
        )
    row = Signoff(
        campaign_id=campaign_id,
        user_id=user.id,
        party=party,
        signer_name=user.display_name or user.username,
        signed_at=now or utcnow(),
        results_sha256=closure.results_sha256,
    )
    try:
        # The unique (campaign, user) constraint decides a race between two signatures of one
        # account; the savepoint keeps the request's transaction usable for the 409.
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise Conflict(
            f"账号 {user.username} 已在调查活动 {campaign.code} 的结果上签字 / "
            f"account {user.username} has already signed campaign {campaign.code}"
        ) from None
    audit.record(
        session,
        actor=user.username,
        action="results.signed",
        object_type="campaign",
        object_id=campaign_id,
        details={"party": party, "name": row.signer_name, "results_sha256": row.results_sha256},
        at=row.signed_at,
    )
    # Anchor each signature at once: a signed checkpoint covering it, committed with it, so the
    # verification kit carries every signature inside the signed part of the log.
    checkpoint_if_bound(session, reason=f"campaign {campaign_id} signed by {party}")
    return row


def public_view(session: Session, code: str) -> dict[str, Any]:
    """What the pre-announcement page shows: the plan, never a score or a phone number; 404 for drafts."""
    campaign_id = session.execute(select(Campaign.id).where(Campaign.code == code)).scalar_one_or_none()
    if campaign_id is None:
        raise NotFound(f"调查活动 {code} 不存在 / campaign {code!r} not found")
    campaign = get_campaign(session, campaign_id)
    if campaign.status == CampaignStatus.draft.value:
        raise NotFound(f"调查活动 {code} 不存在 / campaign {code!r} not found")
    return {"campaign": campaign, "dates": _fieldwork_dates(session, campaign)}
