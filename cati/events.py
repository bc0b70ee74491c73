"""Live events: an in-process publish/subscribe bus and the Server-Sent Events stream built on it.

Why publish after commit: a browser must never see a state that a rollback then takes back, so
request handlers and jobs queue events on their session (``queue_event``) and the bus receives them
only when that session's transaction commits. Publishing is thread-safe: sync handlers run in
FastAPI's thread pool, subscribers live on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

_PENDING_KEY = "cati.pending_events"


@dataclass(frozen=True)
class LiveEvent:
    """One pushed event: a topic (``seat:7``, ``campaign:1``), a type and a JSON-able payload."""

    id: int
    topic: str
    type: str
    data: dict[str, Any]


@dataclass(eq=False)
class Subscription:
    """A subscriber's queue; dropped events (a stalled client) are counted, never block publishers."""

    topics: frozenset[str]
    queue: asyncio.Queue[LiveEvent]
    dropped: int = 0
    closed: bool = field(default=False)


class EventBus:
    """Fan-out of live events to subscribers by topic."""

    def __init__(self, maxsize: int = 1000) -> None:
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._maxsize = maxsize
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach the loop that subscribers run on (done in the app's lifespan)."""
        self._loop = loop

    def publish(self, topic: str, type_: str, data: dict[str, Any]) -> None:
        """Send an event to every subscriber of ``topic``; safe from any thread."""
        ev = LiveEvent(next(self._ids), topic, type_, data)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._deliver(ev)
        else:
            with contextlib.suppress(RuntimeError):  # loop shutting down
                loop.call_soon_threadsafe(self._deliver, ev)

    def _deliver(self, ev: LiveEvent) -> None:
        with self._lock:
            subs = [s for s in self._subs if ev.topic in s.topics]
        for sub in subs:
            try:
                sub.queue.put_nowait(ev)
            except asyncio.QueueFull:
                sub.dropped += 1

    @contextlib.contextmanager
    def subscribe(self, topics: set[str] | frozenset[str]) -> Any:
        """Context manager yielding a ``Subscription`` for the given topics."""
        sub = Subscription(frozenset(topics), asyncio.Queue(self._maxsize))
        with self._lock:
            self._subs.add(sub)
        try:
            yield sub
        finally:
            sub.closed = True
            with self._lock:
                self._subs.discard(sub)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subs)


def campaign_topic(campaign_id: int) -> str:
    """The live-event topic of one campaign (seat changes; the live rooms listen to it)."""
    return f"campaign:{campaign_id}"


def queue_event(session: Session, topic: str, type_: str, data: dict[str, Any]) -> None:
    """Publish ``data`` on the bus once ``session`` commits (dropped on rollback)."""
    session.info.setdefault(_PENDING_KEY, []).append((topic, type_, data))


def install_session_events(session_factory: Callable[..., Session], bus: EventBus) -> None:
    """Hook a sessionmaker so queued events reach ``bus`` after commit and vanish on rollback."""

    @event.listens_for(session_factory, "after_commit")
    def _after_commit(session: Session) -> None:
        pending = session.info.pop(_PENDING_KEY, [])
        for topic, type_, data in pending:
            bus.publish(topic, type_, data)

    @event.listens_for(session_factory, "after_rollback")
    def _after_rollback(session: Session) -> None:
        session.info.pop(_PENDING_KEY, None)


def format_sse(ev: LiveEvent) -> bytes:
    """One event in the text/event-stream format."""
    payload = json.dumps(ev.data, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"id: {ev.id}\nevent: {ev.type}\ndata: {payload}\n\n".encode()


async def sse_stream(
    sub: Subscription,
    *,
    is_disconnected: Callable[[], Any],
    first: list[LiveEvent] | None = None,
    ping_seconds: float = 15.0,
    max_seconds: float = 3600.0,
) -> AsyncIterator[bytes]:
    """Stream a subscription as SSE: a retry hint, optional first events, pings, a capped lifetime.

    The cap makes long-lived connections cycle, so a stale proxy or a revoked session cannot keep a
    stream open forever; EventSource reconnects by itself after ``retry`` milliseconds.
    """
    yield b"retry: 2000\n\n"
    for ev in first or []:
        yield format_sse(ev)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds
    while loop.time() < deadline:
        if await is_disconnected():
            return
        try:
            ev = await asyncio.wait_for(sub.queue.get(), timeout=ping_seconds)
        except TimeoutError:
            yield b": ping\n\n"
            continue
        yield format_sse(ev)
