"""Cases (one sampled phone number each) and their call attempts.

The phone number is personal data: only the dialer and roles that need it read ``phone_number``;
everything shown to people goes through masking.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from cati.models.base import Base, utcnow


class CaseStatus(StrEnum):
    """Where a case is in its life; the transition table lives in ``cati.cases.states``."""

    pending = "pending"  # released, never dialled
    scheduled = "scheduled"  # waiting for a retry or an appointment
    dialling = "dialling"  # an attempt is ringing
    interviewing = "interviewing"  # connected to an interviewer
    finalised = "finalised"  # final AAPOR disposition set; never dialled again


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("campaign_id", "phone_number"),
        Index("ix_cases_queue", "campaign_id", "district_id", "stratum", "status", "next_call_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id", ondelete="CASCADE"), index=True)
    stratum: Mapped[str] = mapped_column(String(16))
    phone_number: Mapped[str] = mapped_column(String(32))
    #: Position in the district's ordered RDD sample and the replicate it was released in.
    sample_position: Mapped[int] = mapped_column(Integer)
    replicate: Mapped[int] = mapped_column(Integer, default=0)
    #: The 100-bank: prefix plus all suffix digits but the last two.
    bank: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.pending.value)
    next_call_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    attempts_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Temporary disposition of the last attempt and the final one once the case is closed.
    last_disposition: Mapped[str | None] = mapped_column(String(8), default=None)
    final_disposition: Mapped[str | None] = mapped_column(String(8), default=None)
    appointment_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    appointment_interviewer_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    appointment_note: Mapped[str | None] = mapped_column(Text, default=None)
    #: Not to be called again before this time (e.g. abandoned today: not again that day).
    blocked_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Attempt(Base):
    """One call to a case's number. ``channel_id`` is the AMI ChannelId set on the Originate."""

    __tablename__ = "attempts"
    __table_args__ = (
        # At most one open attempt per case: the database itself refuses a number in two calls.
        Index(
            "uq_attempts_one_open_per_case",
            "case_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[str] = mapped_column(String(64), unique=True)
    interviewer_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    dialling_mode: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    connected_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    #: Call outcome from the PBX (answered, busy, no_answer, ...) and the Q.850 hangup cause.
    outcome: Mapped[str | None] = mapped_column(String(24), default=None)
    hangup_cause: Mapped[int | None] = mapped_column(Integer, default=None)
    #: Temporary AAPOR disposition of this attempt.
    disposition: Mapped[str | None] = mapped_column(String(8), default=None)
    #: A live answer with no interviewer connected within 2 s (the abandonment definition).
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False)
    dialer_node: Mapped[str] = mapped_column(String(64), default="")
