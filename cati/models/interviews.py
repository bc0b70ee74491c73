"""Interviews: the engine's state, saved after every answer, and the answer log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cati.models.base import Base, utcnow


class Interview(Base):
    __tablename__ = "interviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id", ondelete="SET NULL"))
    interviewer_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    stratum: Mapped[str] = mapped_column(String(16))
    #: The interview engine's serialised state: an interview resumes exactly from it.
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: Bumped on every save; a client sends the version it saw, so two tabs cannot overwrite each other.
    version: Mapped[int] = mapped_column(Integer, default=0)
    finished: Mapped[bool] = mapped_column(Boolean, default=False)
    disposition: Mapped[str | None] = mapped_column(String(8), default=None)
    valid_for_scoring: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The scoring policy that decided ``disposition`` and ``valid_for_scoring`` (``all-rated/1``).
    scoring_rule: Mapped[str | None] = mapped_column(String(48), default=None)
    #: The finished questionnaire in the ``cati score`` CSV vocabulary (overall, q1..q10).
    score_row: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    problems_text: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class AnswerEvent(Base):
    """Append-only log of every answer, change, refusal and don't-know, as given."""

    __tablename__ = "answer_events"
    __table_args__ = (UniqueConstraint("interview_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    interview_id: Mapped[int] = mapped_column(ForeignKey("interviews.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # answer, change, refuse, dont_know, back
    value: Mapped[str | None] = mapped_column(Text, default=None)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
