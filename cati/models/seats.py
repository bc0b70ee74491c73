"""An interviewer's seat at the console: ready, paused, on a call, in wrap-up.

The state machine is owned by ``cati.console.states``; the dialer reads ready seats to pace calls
and assigns an answered call to one seat under a row lock, so two calls never reach one interviewer.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cati.models.base import Base, utcnow


class SeatStatus(StrEnum):
    offline = "offline"
    ready = "ready"
    paused = "paused"
    reserved = "reserved"  # a call is being placed for this interviewer (preview/progressive)
    on_call = "on_call"
    wrap_up = "wrap_up"


class InterviewerSeat(Base):
    __tablename__ = "interviewer_seats"
    __table_args__ = (
        # The dialer's questions, asked on every pacing tick and every call that ends:
        # "ready seats of this campaign" and "whose seat waits for this attempt".
        Index("ix_interviewer_seats_campaign_status", "campaign_id", "status", "status_since"),
        Index("ix_interviewer_seats_current_attempt_id", "current_attempt_id"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default=SeatStatus.offline.value)
    pause_reason: Mapped[str | None] = mapped_column(String(64), default=None)
    status_since: Mapped[dt.datetime] = mapped_column(default=utcnow)
    current_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    current_attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id", ondelete="SET NULL"))
    current_interview_id: Mapped[int | None] = mapped_column(
        ForeignKey("interviews.id", ondelete="SET NULL")
    )
    #: Shift figures since login: calls taken, completes, seconds on calls.
    shift_started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    shift_calls: Mapped[int] = mapped_column(Integer, default=0)
    shift_completes: Mapped[int] = mapped_column(Integer, default=0)
    shift_talk_seconds: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
