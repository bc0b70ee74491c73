"""Supervisor controls API under ``/api/v1/campaigns/{id}/controls`` (docs/supervise.md).

Supervisor and admin. Each POST is one transaction, audited with the actor and the reason; after the
commit the dialing loop is woken so a resume or a pacing switch takes effect at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from cati.api.deps import CommitOnReturn, SessionDep
from cati.auth.access import require_roles
from cati.controls import service
from cati.dialing.control import DialerControl, NullDialer
from cati.models import Role, User

router = APIRouter(prefix="/api/v1/campaigns", tags=["controls"], route_class=CommitOnReturn)

Supervisor = Annotated[User, require_roles(Role.supervisor, Role.admin)]
CampaignId = Annotated[int, Path(ge=1, le=2**31 - 1, description="campaign id")]
DistrictCode = Annotated[str, Path(min_length=1, max_length=64, description="district code")]
UserId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the interviewer's user id")]
StratumPath = Annotated[str, Path(min_length=1, max_length=16, description="staff or resident")]


class Reason(BaseModel):
    """Why (kept in the audit log). Required to pause, close, log out or switch the pacing mode."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=service.MAX_REASON)


class PacingRequest(Reason):
    mode: str = Field(min_length=1, max_length=16, description="preview, progressive or predictive")


def _now(request: Request) -> dt.datetime:
    clock = getattr(request.app.state, "clock", None)
    if clock is not None:
        now: dt.datetime = clock.now()
        return now
    return dt.datetime.now(dt.UTC)


def _wake_later(request: Request, tasks: BackgroundTasks, campaign_id: int) -> None:
    dialer: DialerControl = getattr(request.app.state, "dialer", None) or NullDialer()

    async def wake() -> None:  # on the event loop, after the response
        dialer.wake(campaign_id)

    tasks.add_task(wake)


@router.get("/{campaign_id}/controls")
def controls_state(campaign_id: CampaignId, session: SessionDep, _user: Supervisor) -> dict[str, Any]:
    """What the controls have set: campaign pause, paused districts, closed quota cells, pacing mode."""
    return service.controls_state(session, campaign_id)


@router.post("/{campaign_id}/controls/pause")
def pause_campaign(
    campaign_id: CampaignId, body: Reason, session: SessionDep, user: Supervisor, request: Request
) -> dict[str, Any]:
    """Pause dialling for the whole campaign: no new call in any mode; calls in progress finish."""
    return service.set_campaign_paused(
        session, campaign_id, True, actor=user.username, reason=body.reason, now=_now(request)
    )


@router.post("/{campaign_id}/controls/resume")
def resume_campaign(
    campaign_id: CampaignId,
    body: Reason,
    session: SessionDep,
    user: Supervisor,
    request: Request,
    tasks: BackgroundTasks,
) -> dict[str, Any]:
    """Resume dialling for the campaign."""
    out = service.set_campaign_paused(
        session, campaign_id, False, actor=user.username, reason=body.reason, now=_now(request)
    )
    _wake_later(request, tasks, campaign_id)
    return out


@router.post("/{campaign_id}/controls/districts/{district_code}/pause")
def pause_district(
    campaign_id: CampaignId,
    district_code: DistrictCode,
    body: Reason,
    session: SessionDep,
    user: Supervisor,
    request: Request,
) -> dict[str, Any]:
    """Pause dialling for one district."""
    return service.set_district_paused(
        session, campaign_id, district_code, True, actor=user.username, reason=body.reason, now=_now(request)
    )


@router.post("/{campaign_id}/controls/districts/{district_code}/resume")
def resume_district(
    campaign_id: CampaignId,
    district_code: DistrictCode,
    body: Reason,
    session: SessionDep,
    user: Supervisor,
    request: Request,
    tasks: BackgroundTasks,
) -> dict[str, Any]:
    """Resume dialling for one district."""
    out = service.set_district_paused(
        session, campaign_id, district_code, False, actor=user.username, reason=body.reason, now=_now(request)
    )
    _wake_later(request, tasks, campaign_id)
    return out


@router.post("/{campaign_id}/controls/quota-cells/{district_code}/{stratum}/close")
def close_cell(
    campaign_id: CampaignId,
    district_code: DistrictCode,
    stratum: StratumPath,
    body: Reason,
    session: SessionDep,
    user: Supervisor,
    request: Request,
) -> dict[str, Any]:
    """Close a quota cell by hand: no new case is handed out from it (as when it is full)."""
    return service.set_cell_closed(
        session,
        campaign_id,
        district_code,
        stratum,
        True,
        actor=user.username,
        reason=body.reason,
        now=_now(request),
    )


@router.post("/{campaign_id}/controls/quota-cells/{district_code}/{stratum}/reopen")
def reopen_cell(
    campaign_id: CampaignId,
    district_code: DistrictCode,
    stratum: StratumPath,
    body: Reason,
    session: SessionDep,
    user: Supervisor,
    request: Request,
    tasks: BackgroundTasks,
) -> dict[str, Any]:
    """Reopen a quota cell closed by hand (refused when it is full)."""
    out = service.set_cell_closed(
        session,
        campaign_id,
        district_code,
        stratum,
        False,
        actor=user.username,
        reason=body.reason,
        now=_now(request),
    )
    _wake_later(request, tasks, campaign_id)
    return out


@router.post("/{campaign_id}/controls/pacing")
def switch_pacing(
    campaign_id: CampaignId,
    body: PacingRequest,
    session: SessionDep,
    user: Supervisor,
    request: Request,
    tasks: BackgroundTasks,
) -> dict[str, Any]:
    """Switch the pacing mode (preview, progressive, predictive); the dialer picks it up on its next tick."""
    out = service.set_pacing(
        session, campaign_id, body.mode, actor=user.username, reason=body.reason, now=_now(request)
    )
    _wake_later(request, tasks, campaign_id)
    return out


@router.post("/{campaign_id}/controls/seats/{user_id}/logout")
def log_out_seat(
    campaign_id: CampaignId,
    user_id: UserId,
    body: Reason,
    session: SessionDep,
    user: Supervisor,
    request: Request,
) -> dict[str, Any]:
    """Log out an interviewer who left (ready, paused, wrap-up or an undialled preview); refused on a call."""
    return service.log_out_seat(
        session, campaign_id, user_id, actor=user.username, reason=body.reason, now=_now(request)
    )
