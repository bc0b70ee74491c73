"""Supervisor controls API under ``/api/v1/campaigns/{id}/controls`` and the ``/supervise`` page
(docs/supervise.md).

Supervisor and admin. Each POST is one transaction, audited with the actor and the reason; after the
commit the dialing loop is woken so a resume or a pacing switch takes effect at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from cati.api.deps import CommitOnReturn, SessionDep, request_now, wake_dialer_later
from cati.auth.access import require_roles
from cati.controls import service
from cati.models import Role, User
from cati.web.rooms import render_room

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


@dataclass(frozen=True)
class _Act:
    """One control action's surroundings: the session, the acting supervisor, the request's clock, and
    the dialing loop to wake after the commit."""

    session: Session
    user: User
    request: Request
    tasks: BackgroundTasks

    def __call__(
        self,
        change: Callable[..., dict[str, Any]],
        campaign_id: int,
        *args: Any,
        reason: str,
        wake: bool = False,
    ) -> dict[str, Any]:
        """``change(session, campaign_id, *args, actor=, reason=, now=)``; then, with ``wake``, wake
        the dialing loop once the response is out (a resume or a pacing switch takes effect at once)."""
        out = change(
            self.session,
            campaign_id,
            *args,
            actor=self.user.username,
            reason=reason,
            now=request_now(self.request),
        )
        if wake:
            wake_dialer_later(self.request, self.tasks, campaign_id)
        return out


def _act(session: SessionDep, user: Supervisor, request: Request, tasks: BackgroundTasks) -> _Act:
    return _Act(session, user, request, tasks)


#: A control action by a supervisor or an admin (the role check is in here).
Act = Annotated[_Act, Depends(_act)]


@router.get("/{campaign_id}/controls")
def controls_state(campaign_id: CampaignId, session: SessionDep, _user: Supervisor) -> dict[str, Any]:
    """What the controls have set: campaign pause, paused districts, closed quota cells, pacing mode."""
    return service.controls_state(session, campaign_id)


@router.post("/{campaign_id}/controls/pause")
def pause_campaign(campaign_id: CampaignId, body: Reason, act: Act) -> dict[str, Any]:
    """Pause dialling for the whole campaign: no new call in any mode; calls in progress finish."""
    return act(service.set_campaign_paused, campaign_id, True, reason=body.reason)


@router.post("/{campaign_id}/controls/resume")
def resume_campaign(campaign_id: CampaignId, body: Reason, act: Act) -> dict[str, Any]:
    """Resume dialling for the campaign."""
    return act(service.set_campaign_paused, campaign_id, False, reason=body.reason, wake=True)


@router.post("/{campaign_id}/controls/districts/{district_code}/pause")
def pause_district(
    campaign_id: CampaignId, district_code: DistrictCode, body: Reason, act: Act
) -> dict[str, Any]:
    """Pause dialling for one district."""
    return act(service.set_district_paused, campaign_id, district_code, True, reason=body.reason)


@router.post("/{campaign_id}/controls/districts/{district_code}/resume")
def resume_district(
    campaign_id: CampaignId, district_code: DistrictCode, body: Reason, act: Act
) -> dict[str, Any]:
    """Resume dialling for one district."""
    return act(service.set_district_paused, campaign_id, district_code, False, reason=body.reason, wake=True)


@router.post("/{campaign_id}/controls/quota-cells/{district_code}/{stratum}/close")
def close_cell(
    campaign_id: CampaignId, district_code: DistrictCode, stratum: StratumPath, body: Reason, act: Act
) -> dict[str, Any]:
    """Close a quota cell by hand: no new case is handed out from it (as when it is full)."""
    return act(service.set_cell_closed, campaign_id, district_code, stratum, True, reason=body.reason)


@router.post("/{campaign_id}/controls/quota-cells/{district_code}/{stratum}/reopen")
def reopen_cell(
    campaign_id: CampaignId, district_code: DistrictCode, stratum: StratumPath, body: Reason, act: Act
) -> dict[str, Any]:
    """Reopen a quota cell closed by hand (refused when it is full)."""
    return act(
        service.set_cell_closed, campaign_id, district_code, stratum, False, reason=body.reason, wake=True
    )


@router.post("/{campaign_id}/controls/pacing")
def switch_pacing(campaign_id: CampaignId, body: PacingRequest, act: Act) -> dict[str, Any]:
    """Switch the pacing mode (preview, progressive, predictive); the dialer picks it up on its next tick."""
    return act(service.set_pacing, campaign_id, body.mode, reason=body.reason, wake=True)


@router.post("/{campaign_id}/controls/seats/{user_id}/logout")
def log_out_seat(campaign_id: CampaignId, user_id: UserId, body: Reason, act: Act) -> dict[str, Any]:
    """Log out an interviewer who left (ready, paused, wrap-up or an undialled preview); refused on a call."""
    return act(service.log_out_seat, campaign_id, user_id, reason=body.reason)


# --------------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------------

page_router = APIRouter(include_in_schema=False, route_class=CommitOnReturn)


@page_router.get("/supervise")
def supervise_page(
    request: Request, user: Supervisor, session: SessionDep, campaign: int | None = None
) -> Response:
    """The supervisor room (zh-CN first, ``?lang=en``): the live stream plus the controls."""
    return render_room(
        request, session, user, campaign, "supervise.html", ("live.", "supervise.", "console.pause.")
    )
