"""Live campaign feed: ``GET /api/v1/campaigns/{id}/live`` (JSON), ``.../live/stream`` (SSE) and the
witness room page ``GET /witness`` (docs/live.md).

The view follows the caller's role: supervisors and admins get the ``supervisor`` view (seats,
alerts), witnesses and the assessment office the ``witness`` view (plan, commitment, key, no personal
data). ``?view=witness`` lets a supervisor see what the witnesses see; the other way is refused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from cati.api.deps import CommitOnReturn, SessionDep, app_now
from cati.auth.access import require_roles
from cati.campaigns.service import get_campaign
from cati.db import transaction
from cati.errors import Forbidden
from cati.live.arith import AlertRules
from cati.live.hub import LiveHub
from cati.live.snapshot import View, live_rates, live_snapshots
from cati.models import AuditHead, InterviewerSeat, Role, User
from cati.settings import Settings
from cati.web.rooms import render_room

log = logging.getLogger("cati.live")

#: Who may watch: never interviewers (they would see their colleagues and the progress they steer).
LIVE_ROLES = (Role.witness, Role.assessor, Role.supervisor, Role.admin)
SUPERVISOR_ROLES = frozenset({Role.supervisor.value, Role.admin.value})
#: The streams' AAPOR rates are recomputed at most this often (they read every case and attempt of
#: the campaign: the one costly part of a snapshot); ``GET /live`` always computes them afresh.
RATES_SECONDS = 5.0

router = APIRouter(prefix="/api/v1/campaigns", tags=["live"], route_class=CommitOnReturn)
page_router = APIRouter(include_in_schema=False, route_class=CommitOnReturn)

Watcher = Annotated[User, require_roles(*LIVE_ROLES)]
CampaignId = Annotated[int, Path(ge=1, le=2**31 - 1, description="campaign id")]
ViewParam = Annotated[
    Literal["supervisor", "witness"] | None,
    Query(description="``witness`` to see what the witnesses see; default: by role"),
]


def choose_view(user: User, asked: str | None) -> View:
    """The caller's view: by role, or ``witness`` on request; a witness asking for more gets 403."""
    own: View = "supervisor" if user.role in SUPERVISOR_ROLES else "witness"
    if asked is None or asked == own or asked == "witness":
        return "witness" if asked == "witness" else own
    raise Forbidden("无权查看督导视图 / the supervisor view is for supervisors and admins")


def _fingerprint(state: Any) -> str | None:
    source = getattr(state, "signer", None)
    if source is None:
        return None
    try:
        fingerprint: str = source.get().fingerprint
    except Exception:  # an unusable key file: the room still works, the fingerprint shows as missing
        log.warning("signing key unavailable for the live feed", exc_info=True)
        return None
    return fingerprint


def _dialer_status(state: Any) -> dict[str, Any] | None:
    dialer = getattr(state, "dialer", None)
    if dialer is None:
        return None
    try:
        status: dict[str, Any] = dialer.status()
    except Exception:
        log.warning("dialer status failed", exc_info=True)
        return None
    return status


def _snapshots(
    state: Any,
    session: Session,
    campaign_id: int,
    views: list[View],
    dialer: dict[str, Any] | None,
    rates: Callable[[], dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """``live_snapshots`` with the app's clock, settings, signing key and dialer status (the JSON
    route and the broadcaster both come here)."""
    settings: Settings = state.settings
    return live_snapshots(
        session,
        campaign_id,
        views=views,
        now=app_now(state),
        rules=AlertRules(idle_minutes=settings.live_idle_minutes, pause_minutes=settings.live_pause_minutes),
        feed_entries=settings.live_feed_entries,
        key_fingerprint=_fingerprint(state),
        dialer_status=dialer,
        rates=rates,
    )


def change_token(factory: sessionmaker[Session], campaign_id: int) -> tuple[Any, ...]:
    """What moves when the snapshot may have changed: the audit chain's head and the seats."""
    with transaction(factory) as s:
        seq = s.execute(select(AuditHead.last_seq).where(AuditHead.id == 1)).scalar_one_or_none()
        newest, count = s.execute(
            select(func.max(InterviewerSeat.updated_at), func.count(InterviewerSeat.user_id)).where(
                InterviewerSeat.campaign_id == campaign_id
            )
        ).one()
        return (seq, newest, count)


def hub_of(request: Request) -> LiveHub:
    """The app's broadcaster registry, made on first use (on the event loop)."""
    state = request.app.state
    hub: LiveHub | None = getattr(state, "live_hub", None)
    if hub is None:
        factory = state.sessionmaker
        # The dialer's state belongs to the event loop: read there (prepare), used in the thread.
        holder: dict[str, Any] = {}

        rates_cache: dict[int, tuple[float, dict[str, Any]]] = {}

        def compute(campaign_id: int, views: tuple[str, ...]) -> dict[str, dict[str, Any]]:
            chosen: list[View] = ["supervisor" if v == "supervisor" else "witness" for v in views]
            with transaction(factory) as s:

                def rates() -> dict[str, Any]:
                    at, value = rates_cache.get(campaign_id, (-1e18, {}))
                    if time.monotonic() - at >= RATES_SECONDS:
                        value = live_rates(s, campaign_id)
                        rates_cache[campaign_id] = (time.monotonic(), value)
                    return value

                return _snapshots(state, s, campaign_id, chosen, holder.get("dialer"), rates)

        def prepare() -> None:
            holder["dialer"] = _dialer_status(state)

        hub = LiveHub(state.bus, compute, lambda cid: change_token(factory, cid), prepare=prepare)
        state.live_hub = hub
    return hub


# --------------------------------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------------------------------


@router.get("/{campaign_id}/live")
def live(
    campaign_id: CampaignId, request: Request, user: Watcher, session: SessionDep, view: ViewParam = None
) -> dict[str, Any]:
    """The campaign's live state: progress per district and stratum, calls, outcome mix, AAPOR rates
    (provisional), abandonment, audit feed and latest checkpoint, scores (sealed until close);
    supervisors also get every seat and the alerts, witnesses the published plan and commitment."""
    chosen = choose_view(user, view)
    state = request.app.state
    return _snapshots(state, session, campaign_id, [chosen], _dialer_status(state))[chosen]


@router.get("/{campaign_id}/live/stream")
async def live_stream(
    campaign_id: CampaignId, request: Request, user: Watcher, view: ViewParam = None
) -> StreamingResponse:
    """Server-sent events: a ``snapshot`` event (the JSON of ``/live``) at once and after every change,
    at most about one a second, with ``id:`` lines and a ``: ping`` comment every 15 s."""
    chosen = choose_view(user, view)
    factory = request.app.state.sessionmaker
    settings: Settings = request.app.state.settings

    def exists() -> None:
        with transaction(factory) as s:
            get_campaign(s, campaign_id)  # 404 before the stream starts

    await run_in_threadpool(exists)
    hub = hub_of(request)

    async def stream() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        with hub.subscribe(campaign_id, chosen) as client:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + settings.sse_max_seconds
            while (left := deadline - loop.time()) > 0:
                if await request.is_disconnected():
                    return
                payload = await client.next(min(15.0, left))
                yield payload if payload is not None else b": ping\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@page_router.get("/witness")
def witness_page(
    request: Request, user: Watcher, session: SessionDep, campaign: int | None = None
) -> Response:
    """The witness room (zh-CN first, ``?lang=en``): built on the live JSON and stream."""
    return render_room(request, session, user, campaign, "witness.html", ("live.",))
