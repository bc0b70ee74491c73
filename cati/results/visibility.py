"""Who may see district scores, and when: sealed until the campaign closes, for every role.

Why: the witnesses attest that nobody could steer fieldwork by watching the scores move. A campaign
may still open them early (a pilot run): an admin does it with a reason, it is recorded in the
audit log as ``results.scores_opened_early`` and the witness room shows it. There is no way to seal
them again: once seen, they were seen.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from cati import audit
from cati.campaigns.service import get_campaign
from cati.errors import Conflict
from cati.models import Campaign, CampaignStatus, utcnow

#: The audit action of an early opening (the witness room lists it).
OPENED_EARLY = "results.scores_opened_early"


def scores_open(campaign: Campaign) -> bool:
    """True once the campaign is closed, or after an admin opened its scores early."""
    return campaign.status == CampaignStatus.closed.value or campaign.scores_opened_at is not None


def open_scores_early(
    session: Session, campaign_id: int, *, actor: str, reason: str, now: dt.datetime | None = None
) -> Campaign:
    """Open the scores of a campaign before close (audited); refused if already open or closed."""
    campaign = get_campaign(session, campaign_id, for_update=True)
    if campaign.status == CampaignStatus.closed.value:
        raise Conflict("调查已结束，成绩已公开，无需提前开放 / the campaign is closed: scores are open")
    if campaign.scores_opened_at is not None:
        raise Conflict("本项目的成绩已提前开放过 / this campaign's scores were already opened early")
    reason = reason.strip()
    if not reason:
        raise Conflict("提前开放成绩必须说明理由 / opening scores early needs a reason")
    campaign.scores_opened_at = now or utcnow()
    campaign.scores_opened_reason = reason
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=OPENED_EARLY,
        object_type="campaign",
        object_id=campaign.id,
        details={"code": campaign.code, "status": campaign.status, "reason": reason},
    )
    return campaign
