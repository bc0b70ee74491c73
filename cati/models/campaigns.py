"""A campaign: districts with their exchange prefixes, quota cells, calling windows, the instrument."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cati.models.base import Base, utcnow


class CampaignStatus(StrEnum):
    draft = "draft"
    published = "published"
    fieldwork = "fieldwork"
    closed = "closed"


class Stratum(StrEnum):
    """Staff of government offices, enterprises and institutions (called in working hours) and
    residents (called in the evening and at weekends)."""

    staff = "staff"
    resident = "resident"


class DiallingMode(StrEnum):
    preview = "preview"
    progressive = "progressive"
    predictive = "predictive"


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.draft.value)
    dialling_mode: Mapped[str] = mapped_column(String(16), default=DiallingMode.progressive.value)
    age_min: Mapped[int] = mapped_column(Integer, default=18)
    age_max: Mapped[int] = mapped_column(Integer, default=69)
    #: The instrument as given (file name) and a frozen copy of its text, so scores are always
    #: computed with the instrument the interviews were taken with.
    instrument_name: Mapped[str] = mapped_column(String(200))
    instrument_text: Mapped[str] = mapped_column(Text)
    instrument_sha256: Mapped[str] = mapped_column(String(64))
    #: {"staff": [{"days": [1,2,3,4,5], "start": "08:30", "end": "12:00"}, ...], "resident": [...],
    #:  "holidays": ["2026-10-01", ...], "extra_workdays": ["2026-10-10", ...]}
    #: (read by ``dialer.schedule.CallingWindows.from_json``; see docs/scheduling.md).
    calling_windows: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: Scheduling rules: max attempts, retry delays per outcome (minutes) and the like.
    scheduling: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    abandon_cap: Mapped[float] = mapped_column(Float, default=0.01)
    ring_timeout_s: Mapped[int] = mapped_column(Integer, default=30)
    #: SHA-256 commitment to the secret seed and the sampling frame, published before fieldwork.
    seed_commitment: Mapped[str | None] = mapped_column(String(64), default=None)
    #: The secret seed; never shown by the API before the campaign is closed.
    seed_hex: Mapped[str | None] = mapped_column(String(128), default=None)
    #: Scores are sealed until close; an admin may open them early (a pilot), audited and shown to
    #: witnesses: see ``cati/results/visibility.py``.
    scores_opened_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    scores_opened_reason: Mapped[str | None] = mapped_column(Text, default=None)
    #: A supervisor paused dialling for the whole campaign (``cati/controls/``): no new call is
    #: placed or handed out while set; calls in progress finish.
    dialling_paused_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    dialling_paused_reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    districts: Mapped[list[District]] = relationship(
        back_populates="campaign", lazy="raise", order_by="District.id", cascade="all, delete-orphan"
    )


class District(Base):
    __tablename__ = "districts"
    __table_args__ = (UniqueConstraint("campaign_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    suffix_digits: Mapped[int] = mapped_column(Integer, default=4)
    #: Next position in this district's ordered RDD sample: numbers are handed out as slices
    #: [position, position + n) under a row lock, so no number is ever drawn twice.
    sample_position: Mapped[int] = mapped_column(Integer, default=0)
    #: Dialling paused for this district by a supervisor (``cati/controls/``).
    dialling_paused_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    dialling_paused_reason: Mapped[str | None] = mapped_column(Text, default=None)

    campaign: Mapped[Campaign] = relationship(back_populates="districts", lazy="raise")
    prefixes: Mapped[list[ExchangePrefix]] = relationship(
        lazy="raise", order_by="ExchangePrefix.id", cascade="all, delete-orphan"
    )
    quota_cells: Mapped[list[QuotaCell]] = relationship(
        lazy="raise", order_by="QuotaCell.id", cascade="all, delete-orphan"
    )


class ExchangePrefix(Base):
    """One exchange prefix of a district; unique within a campaign so districts never overlap."""

    __tablename__ = "exchange_prefixes"
    __table_args__ = (UniqueConstraint("campaign_id", "prefix"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))


class QuotaCell(Base):
    """District x stratum: how many completed interviews are wanted and how many there are."""

    __tablename__ = "quota_cells"
    __table_args__ = (UniqueConstraint("district_id", "stratum"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id", ondelete="CASCADE"), index=True)
    stratum: Mapped[str] = mapped_column(String(16))
    target: Mapped[int] = mapped_column(Integer, default=150)
    completes: Mapped[int] = mapped_column(Integer, default=0)
    #: Closed by hand by a supervisor (``cati/controls/``): no new case is handed out, as for a full
    #: cell; reopened only while not full.
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    closed_reason: Mapped[str | None] = mapped_column(Text, default=None)
