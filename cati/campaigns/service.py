"""Campaigns: create from a validated spec, read, list, move through their statuses.

Services flush; the request or the CLI command commits. Every change writes its audit entry in
the same transaction. Publishing draws the secret seed and stores its commitment
(``dialer.rdd.campaign_commitment`` over the seed and every district's frame, so anyone can check
it with ``cati rdd verify`` once the seed is revealed); the API returns the seed only once closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from cati import audit
from cati.campaigns.instruments import InstrumentFile
from cati.campaigns.schemas import (
    CampaignRead,
    CampaignSpec,
    CampaignSummary,
    DistrictRead,
    QuotaCellRead,
)
from cati.campaigns.states import check_transition
from cati.checkpoints.service import checkpoint_if_bound
from cati.errors import Conflict, NotFound
from cati.models import Campaign, CampaignStatus, District, ExchangePrefix, QuotaCell, Stratum, utcnow
from dialer.rdd import Frame, campaign_commitment, new_seed


def sampling_frames(campaign: Campaign) -> dict[str, Frame]:
    """Each district's RDD sampling frame (its prefixes and suffix length), keyed by district code."""
    return {d.code: Frame(tuple(p.prefix for p in d.prefixes), d.suffix_digits) for d in campaign.districts}


def _with_tree() -> Any:
    return (
        selectinload(Campaign.districts).selectinload(District.prefixes),
        selectinload(Campaign.districts).selectinload(District.quota_cells),
    )


def create_campaign(
    session: Session, spec: CampaignSpec, *, instrument: InstrumentFile, actor: str
) -> Campaign:
    """Store a validated campaign as a draft with its districts, prefixes and quota cells."""
    if session.execute(select(Campaign.id).where(Campaign.code == spec.code)).first() is not None:
        raise Conflict(f"a campaign with code {spec.code!r} already exists")
    campaign = Campaign(
        code=spec.code,
        name_zh=spec.name.zh_cn,
        name_en=spec.name.en,
        timezone=spec.timezone,
        status=CampaignStatus.draft.value,
        dialling_mode=spec.dialling.mode.value,
        age_min=spec.age.min,
        age_max=spec.age.max,
        instrument_name=instrument.name,
        instrument_text=instrument.text,
        instrument_sha256=instrument.sha256,
        calling_windows=spec.calling_windows_json(),
        scheduling=spec.scheduling.to_json(),
        abandon_cap=spec.dialling.abandon_cap,
        ring_timeout_s=spec.dialling.ring_timeout_s,
    )
    session.add(campaign)
    try:
        session.flush()
        cells = 0
        for d in spec.districts:
            district = District(
                campaign_id=campaign.id,
                code=d.code,
                name_zh=d.name.zh_cn,
                name_en=d.name.en,
                suffix_digits=d.suffix_digits,
                sample_position=0,
            )
            session.add(district)
            session.flush()
            session.add_all(
                ExchangePrefix(campaign_id=campaign.id, district_id=district.id, prefix=p) for p in d.prefixes
            )
            quota = d.quota or spec.quota
            for stratum in Stratum:
                session.add(
                    QuotaCell(
                        campaign_id=campaign.id,
                        district_id=district.id,
                        stratum=stratum.value,
                        target=getattr(quota, stratum.value),
                        completes=0,
                    )
                )
                cells += 1
        session.flush()
    except IntegrityError:
        raise Conflict(f"a campaign with code {spec.code!r} already exists") from None
    audit.record(
        session,
        actor=actor,
        action="campaign.created",
        object_type="campaign",
        object_id=campaign.id,
        details={
            "code": spec.code,
            "districts": len(spec.districts),
            "quota_cells": cells,
            "instrument": instrument.name,
            "instrument_sha256": instrument.sha256,
        },
    )
    return get_campaign(session, campaign.id)


def get_campaign(session: Session, campaign_id: int, *, for_update: bool = False) -> Campaign:
    """The campaign with its districts, prefixes and quota cells loaded; 404 if there is none."""
    stmt = select(Campaign).where(Campaign.id == campaign_id).options(*_with_tree())
    if for_update:
        stmt = stmt.with_for_update()
    campaign = session.execute(stmt).scalar_one_or_none()
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return campaign


def get_campaign_by_code(session: Session, code: str) -> Campaign:
    """The campaign with ``code``; 404 if there is none."""
    campaign_id = session.execute(select(Campaign.id).where(Campaign.code == code)).scalar_one_or_none()
    if campaign_id is None:
        raise NotFound(f"campaign {code!r} not found")
    return get_campaign(session, campaign_id)


def list_campaigns(session: Session) -> Sequence[Campaign]:
    """Every campaign, newest first."""
    return session.execute(select(Campaign).order_by(Campaign.id.desc())).scalars().all()


def change_status(session: Session, campaign_id: int, target: CampaignStatus, *, actor: str) -> Campaign:
    """Move a campaign to ``target`` if the transition table allows it; audited.

    Publishing draws the secret seed and stores its commitment; closing reveals the seed. If the
    edge bound a signer to the session (the service and the CLI do), a signed audit checkpoint
    covering the change is stored in the same transaction.
    """
    campaign = get_campaign(session, campaign_id, for_update=True)
    current = CampaignStatus(campaign.status)
    check_transition(current, target)
    details: dict[str, Any] = {"code": campaign.code, "from": current.value, "to": target.value}
    if target is CampaignStatus.published:
        frames = sampling_frames(campaign)
        campaign.seed_hex = new_seed()
        campaign.seed_commitment = campaign_commitment(campaign.seed_hex, frames)
        details["seed_commitment"] = campaign.seed_commitment
        details["frame_sha256"] = {code: frame.digest() for code, frame in sorted(frames.items())}
    if target is CampaignStatus.closed:
        details["seed_revealed"] = campaign.seed_hex
    campaign.status = target.value
    campaign.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="campaign.status_changed",
        object_type="campaign",
        object_id=campaign.id,
        details=details,
    )
    # The outside anchor (docs/audit.md): a signed checkpoint covering this change, committed with it.
    checkpoint_if_bound(session, reason=f"campaign {campaign.id} {current.value}->{target.value}")
    return campaign


def summary(campaign: Campaign) -> CampaignSummary:
    """The list view of a campaign."""
    return CampaignSummary(
        id=campaign.id,
        code=campaign.code,
        name={"zh-CN": campaign.name_zh, "en": campaign.name_en},
        status=CampaignStatus(campaign.status),
        created_at=campaign.created_at,
    )


def to_read(campaign: Campaign) -> CampaignRead:
    """The full view; the seed only once the campaign is closed."""
    closed = campaign.status == CampaignStatus.closed.value
    return CampaignRead(
        **summary(campaign).model_dump(),
        timezone=campaign.timezone,
        age={"min": campaign.age_min, "max": campaign.age_max},
        instrument={"name": campaign.instrument_name, "sha256": campaign.instrument_sha256},
        dialling={
            "mode": campaign.dialling_mode,
            "abandon_cap": campaign.abandon_cap,
            "ring_timeout_s": campaign.ring_timeout_s,
        },
        scheduling=campaign.scheduling,
        calling_windows=campaign.calling_windows,
        districts=[
            DistrictRead(
                code=d.code,
                name={"zh-CN": d.name_zh, "en": d.name_en},
                prefixes=[p.prefix for p in d.prefixes],
                suffix_digits=d.suffix_digits,
                quota_cells=[
                    QuotaCellRead(stratum=Stratum(q.stratum), target=q.target, completes=q.completes)
                    for q in d.quota_cells
                ],
            )
            for d in campaign.districts
        ],
        seed_commitment=campaign.seed_commitment,
        seed=campaign.seed_hex if closed else None,
    )
