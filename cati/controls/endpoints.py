"""Supervisor controls API under ``/api/v1/campaigns/{id}/controls`` and the ``/supervise`` page
(docs/supervise.md).

Supervisor and admin. Each POST is one transaction, audited with the actor and the reason; after the
commit the dialing loop is woken so a resume or a pacing switch takes effect at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from cati.api.deps import CommitOnReturn, SessionDep
from cati.auth.access import require_roles
from cati.controls import service
from cati.dialing.control import DialerControl, NullDialer
from cati.models import Campaign, Role, User
from cati.web.i18n import CATALOG, locale_for
from cati.web.templates import render

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


# --------------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------------

page_router = APIRouter(include_in_schema=False, route_class=CommitOnReturn)


@page_router.get("/supervise")
def supervise_page(
    request: Request, user: Supervisor, session: SessionDep, campaign: int | None = None
) -> Response:
    """The supervisor room (zh-CN first, ``?lang=en``): the live stream plus the controls."""
    english = locale_for(request) == "en"
    rows = session.execute(
        select(
            Campaign.id, Campaign.code, Campaign.name_en if english else Campaign.name_zh, Campaign.status
        ).order_by(Campaign.id)
    ).all()
    campaigns: list[dict[str, Any]] = [
        {"id": int(r[0]), "code": str(r[1]), "name": str(r[2] or r[1]), "status": str(r[3])} for r in rows
    ]
    chosen: int | None = campaign
    if chosen is None or chosen not in {c["id"] for c in campaigns}:
        live_ones = [c for c in campaigns if c["status"] == "fieldwork"]
        chosen = (live_ones or campaigns)[-1]["id"] if campaigns else None
    catalog = CATALOG[locale_for(request)]
    messages = {k: v for k, v in catalog.items() if k.startswith(("live.", "supervise.", "console.pause."))}
    principal = request.state.principal
    return render(
        request,
        "supervise.html",
        user=user,
        campaigns=campaigns,
        chosen=chosen,
        messages=messages,
        csrf_token=principal.csrf_token,
        locale_js="en" if english else "zh-CN",
    )
