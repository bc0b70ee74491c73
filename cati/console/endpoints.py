"""Console API (docs/console-api.md) and the console page ``GET /console``.

Handlers are thin: each one is one transaction over ``cati.console.service`` and answers the whole
``ConsoleState`` (or the ``InterviewView`` after a key press). Calls to the dialer (hang up, dial a
previewed case, wake the pacer) go through ``app.state.dialer`` (``DialerControl``): after the
commit, on the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from cati.api.deps import (
    CommitOnReturn,
    SessionDep,
    SettingsDep,
    request_dialer,
    request_now,
    wake_dialer_later,
)
from cati.auth.access import public, require_roles
from cati.console import service
from cati.console.views import console_state, interview_view
from cati.db import transaction
from cati.dialing.control import DialerUnavailable
from cati.errors import Conflict, Invalid
from cati.events import LiveEvent, format_sse
from cati.models import Campaign, Role, User
from cati.settings import Settings
from cati.web.i18n import CATALOG, locale_for
from cati.web.templates import render

log = logging.getLogger("cati.console")
router = APIRouter(prefix="/api/v1/console", tags=["console"], route_class=CommitOnReturn)
page_router = APIRouter(include_in_schema=False, route_class=CommitOnReturn)

Interviewer = Annotated[User, require_roles(Role.interviewer)]
Reader = Annotated[User, require_roles(Role.interviewer, Role.supervisor, Role.admin)]
T = TypeVar("T")

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"
_static = StaticFiles(directory=STATIC_DIR)


# --------------------------------------------------------------------------------------------------
# Plumbing
# --------------------------------------------------------------------------------------------------


def _state(session: Session, user: User, settings: Settings, request: Request) -> dict[str, Any]:
    clock = getattr(request.app.state, "clock", None)
    return console_state(
        session,
        user,
        visible_digits=settings.phone_visible_digits,
        wrap_up_seconds=settings.wrap_up_seconds,
        now=request_now(request),
        speed=float(getattr(clock, "speed", 1.0) or 1.0),
    )


async def _in_tx(request: Request, fn: Callable[[Session], T]) -> T:
    """Run ``fn`` in one committed transaction on a worker thread."""

    def run() -> T:
        with transaction(request.app.state.sessionmaker) as session:
            return fn(session)

    return await run_in_threadpool(run)


def _hangup_later(request: Request, tasks: BackgroundTasks, attempt_id: int | None) -> None:
    if attempt_id is None:
        return
    dialer = request_dialer(request)

    async def hangup() -> None:
        try:
            await dialer.hangup(attempt_id)
        except Exception:  # the call is already closed on our side; the PBX drops it by itself
            log.warning("hangup of attempt %s failed", attempt_id, exc_info=True)

    tasks.add_task(hangup)


def _user(session: Session, user: User) -> User:
    found = session.get(User, user.id)
    assert found is not None
    return found


# --------------------------------------------------------------------------------------------------
# Bodies
# --------------------------------------------------------------------------------------------------


class ReadyBody(BaseModel):
    campaign_id: int | None = None


class PauseBody(BaseModel):
    reason: Literal["break", "meal", "training", "technical", "other"]


class InterviewBody(BaseModel):
    action: Literal["answer", "refuse", "dont_know", "back", "break_off"]
    item_id: str | None = Field(default=None, max_length=64)
    value: int | float | str | None = None
    version: int


class DispositionBody(BaseModel):
    code: str = Field(max_length=32)
    #: ISO 8601; without an offset it is read in the campaign's time zone.
    appointment_at: str | None = Field(default=None, max_length=40)
    same_interviewer: bool = False
    note: str | None = Field(default=None, max_length=2000)
    #: The line had dropped and the respondent called back / the interview was completed by other
    #: means: needed (and audited) to record a 1.1/1.2 on answers saved after the drop.
    completed_elsewhere: bool = False


def _appointment(session: Session, user: User, raw: str | None) -> dt.datetime | None:
    if raw is None or raw == "":
        return None
    try:
        when = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise Invalid(code="appointment.bad_time", params={"value": raw}) from None
    if when.tzinfo is None:
        from zoneinfo import ZoneInfo

        seat = service.lock_seat(session, user.id)
        campaign = session.get(Campaign, seat.campaign_id) if seat.campaign_id else None
        when = when.replace(tzinfo=ZoneInfo(campaign.timezone if campaign else "UTC"))
    return when


# --------------------------------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------------------------------


@router.get("/state")
def get_state(request: Request, user: Reader, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """The caller's seat, shift figures and the case in hand."""
    return _state(session, user, settings, request)


@router.post("/ready")
def ready(
    body: ReadyBody,
    request: Request,
    tasks: BackgroundTasks,
    user: Interviewer,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Take calls (the shift starts on the first ready)."""
    seat = service.go_ready(
        session, _user(session, user), campaign_id=body.campaign_id, now=request_now(request)
    )
    wake_dialer_later(request, tasks, seat.campaign_id)
    return _state(session, user, settings, request)


@router.post("/pause")
def pause(
    body: PauseBody, request: Request, user: Interviewer, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Take a break, with a reason."""
    service.pause(session, _user(session, user), reason=body.reason, now=request_now(request))
    return _state(session, user, settings, request)


@router.post("/offline")
def offline(
    request: Request, user: Interviewer, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """End of shift."""
    service.go_offline(session, _user(session, user), now=request_now(request))
    return _state(session, user, settings, request)


@router.post("/preview/next")
def preview_next(
    request: Request, user: Interviewer, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Preview mode: reserve the next case and show it, not yet dialled (``current`` null if none is due)."""
    service.preview_next(session, _user(session, user), now=request_now(request))
    return _state(session, user, settings, request)


@router.post("/preview/dial")
async def preview_dial(request: Request, user: Interviewer, session: SessionDep) -> dict[str, Any]:
    """The interviewer starts the call of the previewed case."""
    user_id = user.id
    settings: Settings = request.app.state.settings

    def check() -> int:
        case_id = service.preview_case(session, _user(session, user))
        session.commit()  # no lock held while the dialer places the call
        return case_id

    case_id = await run_in_threadpool(check)
    try:
        attempt_id = await request_dialer(request).dial_preview(user_id=user_id, case_id=case_id)
    except DialerUnavailable as exc:
        raise Conflict(code="preview.dialer_unavailable", params={"reason": str(exc)}) from None

    def attach() -> dict[str, Any]:
        seat = service.lock_seat(session, user_id)
        if seat.status == "reserved" and seat.current_case_id == case_id and seat.current_attempt_id is None:
            service.reserve_seat(
                session, seat, case_id=case_id, attempt_id=attempt_id, now=request_now(request)
            )
        return _state(session, _user(session, user), settings, request)

    return await run_in_threadpool(attach)


@router.post("/interview")
def interview(
    body: InterviewBody, request: Request, user: Interviewer, session: SessionDep
) -> dict[str, Any]:
    """One key press on the interview in hand, saved at once; 409 on a stale ``version``."""
    loaded = service.interview_action(
        session,
        _user(session, user),
        action=body.action,
        version=body.version,
        item_id=body.item_id,
        value=body.value,
        now=request_now(request),
    )
    return interview_view(loaded)


@router.post("/hangup")
def hangup(
    request: Request, tasks: BackgroundTasks, user: Interviewer, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """End the call from the console; the case stays in hand to be coded."""
    attempt_id = service.hang_up(session, _user(session, user), now=request_now(request))
    _hangup_later(request, tasks, attempt_id)
    return _state(session, user, settings, request)


@router.post("/disposition")
def disposition(
    body: DispositionBody,
    request: Request,
    tasks: BackgroundTasks,
    user: Interviewer,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Code the call (complete, refusal, appointment, ...): the seat goes to wrap-up."""
    me = _user(session, user)
    _seat, attempt_id = service.record_disposition(
        session,
        me,
        code=body.code,
        appointment_at=_appointment(session, me, body.appointment_at),
        same_interviewer=body.same_interviewer,
        note=body.note or None,
        completed_elsewhere=body.completed_elsewhere,
        now=request_now(request),
    )
    _hangup_later(request, tasks, attempt_id)
    return _state(session, user, settings, request)


@router.post("/next")
def next_call(
    request: Request, tasks: BackgroundTasks, user: Interviewer, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Wrap-up done: ready for the next call."""
    seat = service.finish_wrap_up(session, _user(session, user), now=request_now(request))
    wake_dialer_later(request, tasks, seat.campaign_id)
    return _state(session, user, settings, request)


@router.get("/events")
async def events(request: Request, user: Interviewer) -> StreamingResponse:
    """Server-sent events: a ``state`` event with the full ConsoleState at once and on every change,
    and a ``dialling`` event (the ConsoleState's ``dialling``) when dialling of the campaign ends."""
    user_id = user.id
    settings: Settings = request.app.state.settings
    bus = request.app.state.bus

    def build(s: Session) -> dict[str, Any]:
        return _state(s, _user(s, user), settings, request)

    async def stream() -> AsyncIterator[bytes]:
        with bus.subscribe({service.seat_topic(user_id)}) as sub:
            yield b"retry: 2000\n\n"
            yield format_sse(LiveEvent(0, "", "state", await _in_tx(request, build)))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + settings.sse_max_seconds
            while (left := deadline - loop.time()) > 0:
                if await request.is_disconnected():
                    return
                try:
                    ev = await asyncio.wait_for(sub.queue.get(), timeout=min(15.0, left))
                except TimeoutError:
                    yield b": ping\n\n"
                    continue
                finished = ev if ev.type == "dialling" else None
                while not sub.queue.empty():  # several changes at once: one fresh state is enough
                    ev = sub.queue.get_nowait()
                    finished = ev if ev.type == "dialling" else finished
                state = await _in_tx(request, build)
                # dialling has ended: said at once, in words, as its own event for programs too
                if finished is not None and state["dialling"]["finished"]:
                    yield format_sse(LiveEvent(finished.id, finished.topic, "dialling", state["dialling"]))
                yield format_sse(LiveEvent(ev.id, ev.topic, "state", state))

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# --------------------------------------------------------------------------------------------------
# The page and its assets
# --------------------------------------------------------------------------------------------------


@page_router.get("/console")
def console_page(request: Request, user: Interviewer) -> Response:
    """The interviewer console (zh-CN first; ``?lang=en`` for English)."""
    principal = request.state.principal
    catalog = CATALOG[locale_for(request)]
    messages = {k: v for k, v in catalog.items() if k.startswith(("console.", "console_errors."))}
    return render(request, "console.html", user=user, csrf_token=principal.csrf_token, messages=messages)


@page_router.get("/static/{path:path}", dependencies=[public()])
async def static_file(path: str, request: Request) -> Response:
    """The console's own scripts and styles (no CDN)."""
    response = await _static.get_response(path, request.scope)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
