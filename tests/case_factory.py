"""Test helper: build a campaign with districts, prefixes and quota cells straight from the models.

(The campaign import lives on the foundation branch; these tests only need the rows.)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from cati.models import Campaign, District, ExchangePrefix, QuotaCell, User

#: Every day, all day: for tests that are not about windows.
ALWAYS_OPEN: dict[str, Any] = {
    "staff": [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "24:00"}],
    "resident": [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "24:00"}],
}


@dataclass
class Built:
    campaign_id: int
    district_ids: list[int]


def make_campaign(
    session: Session,
    *,
    code: str = "C1",
    districts: int = 2,
    prefixes_per_district: int = 1,
    suffix_digits: int = 3,
    targets: dict[str, int] | None = None,
    windows: dict[str, Any] | None = None,
    scheduling: dict[str, Any] | None = None,
    status: str = "fieldwork",
    timezone: str = "Asia/Shanghai",
    seed_hex: str | None = "5eed" * 8,
) -> Built:
    """A campaign with ``districts`` districts (prefixes 233d0, 233d1, ...) and one cell per stratum."""
    campaign = Campaign(
        code=code,
        name_zh="满意度调查",
        name_en="Satisfaction survey",
        timezone=timezone,
        status=status,
        instrument_name="test.yaml",
        instrument_text="items: []",
        instrument_sha256="0" * 64,
        calling_windows=windows if windows is not None else ALWAYS_OPEN,
        scheduling=scheduling or {},
        seed_hex=seed_hex,
    )
    session.add(campaign)
    session.flush()
    ids: list[int] = []
    for d in range(districts):
        district = District(
            campaign_id=campaign.id, code=f"D{d}", name_zh=f"区{d}", suffix_digits=suffix_digits
        )
        session.add(district)
        session.flush()
        for p in range(prefixes_per_district):
            session.add(
                ExchangePrefix(campaign_id=campaign.id, district_id=district.id, prefix=f"{code[-1]}3{d}{p}")
            )
        for stratum, target in (targets or {"staff": 5, "resident": 5}).items():
            session.add(
                QuotaCell(campaign_id=campaign.id, district_id=district.id, stratum=stratum, target=target)
            )
        ids.append(district.id)
    session.flush()
    return Built(campaign.id, ids)


def make_interviewer(session: Session, username: str) -> int:
    user = User(username=username, role="interviewer", password_hash="x", extension="100")
    session.add(user)
    session.flush()
    return user.id


#: A Monday, 09:00 in Shanghai.
MONDAY_9 = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)
