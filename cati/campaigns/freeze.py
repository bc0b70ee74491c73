"""After close a campaign's data is frozen: every writer asks here first.

Why a share lock: the close takes the campaign row ``FOR UPDATE`` for its whole transaction, so a
writer that started before waits for the close and then finds the campaign closed, and one already
holding the share lock makes the close wait until it commits: nothing is half-written across the
close. Writers take this lock before any case or seat lock (the close's own order), so the two
never deadlock. SQLite ignores the lock; its write transactions are exclusive anyway.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cati.errors import Conflict, NotFound
from cati.models import Campaign, CampaignStatus


class CampaignClosed(Conflict):
    """A write to a closed campaign's data (HTTP 409)."""


def closed_message(code: str) -> str:
    """The refusal every door shows (zh-CN first, English alongside)."""
    return (
        f"调查活动 {code} 已结束实地访问，数据已冻结，不能再修改 / "
        f"campaign {code} is closed: its data is frozen"
    )


def share_lock(session: Session, campaign_id: int) -> tuple[str, str]:
    """Lock the campaign row for share and return its (code, status)."""
    row = session.execute(
        select(Campaign.code, Campaign.status).where(Campaign.id == campaign_id).with_for_update(read=True)
    ).one_or_none()
    if row is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return row[0], row[1]


def refuse_if_closed(code: str, status: str) -> None:
    """Raise :class:`CampaignClosed` for a closed campaign's (code, status) as ``share_lock`` gave them."""
    if status == CampaignStatus.closed.value:
        raise CampaignClosed(closed_message(code), code="campaign.closed", params={"campaign": code})


def ensure_open(session: Session, campaign_id: int) -> None:
    """Raise :class:`CampaignClosed` when the campaign is closed (taking the share lock)."""
    refuse_if_closed(*share_lock(session, campaign_id))
