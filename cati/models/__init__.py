"""All tables. Import from here so Alembic and the app see the whole metadata."""

from cati.models.audit import AuditCheckpoint, AuditEntry, AuditHead
from cati.models.base import Base, utcnow
from cati.models.campaigns import (
    Campaign,
    CampaignStatus,
    DiallingMode,
    District,
    ExchangePrefix,
    QuotaCell,
    Stratum,
)
from cati.models.cases import Attempt, Case, CaseStatus
from cati.models.closures import CampaignClosure
from cati.models.interviews import AnswerEvent, Interview
from cati.models.seats import InterviewerSeat, SeatStatus
from cati.models.signoffs import Signoff
from cati.models.users import ApiToken, LoginThrottle, Role, User, WebSession

__all__ = [
    "AnswerEvent",
    "ApiToken",
    "Attempt",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditHead",
    "Base",
    "Campaign",
    "CampaignClosure",
    "CampaignStatus",
    "Case",
    "CaseStatus",
    "DiallingMode",
    "District",
    "ExchangePrefix",
    "Interview",
    "InterviewerSeat",
    "LoginThrottle",
    "QuotaCell",
    "Role",
    "SeatStatus",
    "Signoff",
    "Stratum",
    "User",
    "WebSession",
    "utcnow",
]
