"""The close of a campaign's fieldwork: why, by whom, and the final results sealed with their digest."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cati.models.base import Base, utcnow


class CampaignClosure(Base):
    """One row per closed campaign (written once, in the close transaction, never updated)."""

    __tablename__ = "campaign_closures"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    closed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    #: What the close did: codes given to calls in hand and open cases, counts.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The final results as canonical JSON (sorted keys, no spaces, UTF-8): stored as text so the
    #: digest can be re-checked byte for byte.
    results_json: Mapped[str] = mapped_column(Text)
    #: SHA-256 (hex) of ``results_json`` encoded as UTF-8.
    results_sha256: Mapped[str] = mapped_column(String(64))
