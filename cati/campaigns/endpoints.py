"""Campaign API: create (the campaign file's shape as JSON), list, read, change status."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Request

from cati.api.deps import CommitOnReturn, SessionDep, SettingsDep, request_dialer, request_now
from cati.auth.access import ALL_ROLES, require_roles
from cati.campaigns import service
from cati.campaigns.close import CloseResult, close_campaign
from cati.campaigns.instruments import InstrumentError, resolve_instrument
from cati.campaigns.loader import CampaignSpecError
from cati.campaigns.schemas import (
    CampaignRead,
    CampaignSpec,
    CampaignSummary,
    CloseRead,
    CloseRequest,
    TransitionRequest,
    cross_check,
)
from cati.models import CampaignStatus, Role, User

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"], route_class=CommitOnReturn)

#: The reason recorded when a campaign is closed by the plain status change.
STATUS_REASON = "状态改为 closed / status changed to closed"


log = logging.getLogger(__name__)


def _hang_up_after_commit(request: Request, tasks: BackgroundTasks, done: CloseResult) -> None:
    """Drop at the PBX the lines the close ended in the database (after the commit, never before)."""
    dialer = request_dialer(request)

    async def hang_up() -> None:
        for attempt_id in done.summary.hang_up:
            try:
                await dialer.hangup(attempt_id)
            except Exception:  # the attempt is closed on our side; the PBX drops the line by itself
                log.warning("hangup of attempt %s at close failed", attempt_id, exc_info=True)

    if done.summary.hang_up:
        tasks.add_task(hang_up)


CampaignId = Annotated[int, Path(ge=1, le=2**31 - 1, description="campaign id")]


@router.get("", response_model=list[CampaignSummary], dependencies=[require_roles(*ALL_ROLES)])
def list_campaigns(session: SessionDep) -> list[CampaignSummary]:
    """Every campaign, newest first."""
    return [service.summary(c) for c in service.list_campaigns(session)]


@router.post("", response_model=CampaignRead, status_code=201)
def create_campaign(
    spec: CampaignSpec,
    session: SessionDep,
    settings: SettingsDep,
    user: Annotated[User, require_roles(Role.admin)],
) -> CampaignRead:
    """Create a draft campaign; every problem is reported with its field, nothing is written."""
    problems: list[tuple[tuple[str | int, ...], str, int | None]] = [
        (("body", *loc), msg, None) for loc, msg in cross_check(spec)
    ]
    if problems:
        raise CampaignSpecError(problems)
    try:
        instrument = resolve_instrument(spec.instrument, extra_dir=settings.instruments_dir)
    except InstrumentError as exc:
        raise CampaignSpecError([(("body", "instrument"), str(exc), None)]) from None
    campaign = service.create_campaign(session, spec, instrument=instrument, actor=user.username)
    return service.to_read(campaign)


@router.get("/{campaign_id}", response_model=CampaignRead, dependencies=[require_roles(*ALL_ROLES)])
def read_campaign(campaign_id: CampaignId, session: SessionDep) -> CampaignRead:
    """One campaign with its districts and quota cells (the seed only once closed)."""
    return service.to_read(service.get_campaign(session, campaign_id))


@router.post("/{campaign_id}/status", response_model=CampaignRead)
def change_status(
    campaign_id: CampaignId,
    body: TransitionRequest,
    request: Request,
    tasks: BackgroundTasks,
    session: SessionDep,
    user: Annotated[User, require_roles(Role.admin)],
) -> CampaignRead:
    """Move the campaign to the next status (draft -> published -> fieldwork -> closed).

    ``closed`` is the close of fieldwork without force (see ``POST .../close``).
    """
    if body.to is CampaignStatus.closed:
        done = close_campaign(
            session,
            campaign_id,
            reason=STATUS_REASON,
            force=False,
            actor=user.username,
            now=request_now(request),
        )
        _hang_up_after_commit(request, tasks, done)
        return service.to_read(service.get_campaign(session, campaign_id))
    campaign = service.change_status(session, campaign_id, body.to, actor=user.username)
    return service.to_read(campaign)


@router.post("/{campaign_id}/close", response_model=CloseRead)
def close(
    campaign_id: CampaignId,
    body: CloseRequest,
    request: Request,
    tasks: BackgroundTasks,
    session: SessionDep,
    user: Annotated[User, require_roles(Role.admin)],
) -> CloseRead:
    """Close fieldwork: code calls in hand (409 while any is live unless ``force``), finalise every
    open case, seal the final results with their SHA-256, reveal the seed; the data is frozen."""
    done = close_campaign(
        session,
        campaign_id,
        reason=body.reason,
        force=body.force,
        actor=user.username,
        now=request_now(request),
    )
    _hang_up_after_commit(request, tasks, done)
    return CloseRead(
        campaign=service.to_read(service.get_campaign(session, campaign_id)),
        summary=done.summary.as_json(),
        results_sha256=done.results_sha256,
    )
