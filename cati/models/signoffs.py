"""A witness's signature under a closed campaign's results (the digest they signed)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cati.models.base import Base, utcnow


class Signoff(Base):
    """One per witness account and campaign (written once, never updated)."""

    __tablename__ = "signoffs"
    __table_args__ = (UniqueConstraint("campaign_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: One of ``cati.announcement.parties.PARTIES`` (assessment_office, discipline, notary, district).
    party: Mapped[str] = mapped_column(String(32))
    #: The signer's name as shown on the sheet (the account's display name, else its username).
    signer_name: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: The results digest the witness signed (equal to the one stored at close).
    results_sha256: Mapped[str] = mapped_column(String(64))
