"""One computation per campaign, shared by every open stream of it, of either view (the broadcaster).

Why: 200 witnesses and supervisors watching one campaign must cost what one does. Each campaign
that has at least one open stream gets a ``Broadcaster`` task that

* wakes on a live event of the campaign's topic (``campaign:{id}`` on the bus: seat changes) or
  every ``poll_seconds`` to compare a cheap change token (the audit chain's last seq and the
  campaign's newest seat change: every audited write moves the first, also from other processes);
* recomputes the snapshots of the views someone watches (in a worker thread, one read transaction,
  the parts the views share read once) when something changed, at most once per ``min_interval``
  seconds, and in any case every ``refresh_seconds`` (sliding figures: calls in the last hour,
  calling windows, time in state);
* serialises each view once to SSE bytes and hands the same bytes to every client of that view.

A client is a one-slot mailbox: a new snapshot replaces one the client has not taken yet (counted
as ``superseded``), so a stalled client costs one buffer and never blocks the others or the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from cati.events import EventBus, campaign_topic

log = logging.getLogger("cati.live")

#: (campaign id, views) -> {view: snapshot}
Compute = Callable[[int, tuple[str, ...]], dict[str, dict[str, Any]]]
Token = Callable[[int], Any]


@dataclass(eq=False)
class Client:
    """One open stream's mailbox."""

    pending: bytes | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    received: int = 0
    superseded: int = 0

    def offer(self, payload: bytes) -> None:
        if self.pending is not None:
            self.superseded += 1
        self.pending = payload
        self.ready.set()

    async def next(self, timeout: float) -> bytes | None:
        """The newest snapshot not yet sent, or ``None`` after ``timeout`` seconds (send a heartbeat)."""
        if self.pending is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ready.wait(), timeout)
        payload, self.pending = self.pending, None
        self.ready.clear()
        if payload is not None:
            self.received += 1
        return payload


def sse_bytes(event_id: int, data: dict[str, Any]) -> bytes:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"id: {event_id}\nevent: snapshot\ndata: {payload}\n\n".encode()


class Broadcaster:
    """The shared computation of one campaign, for every view somebody watches."""

    def __init__(self, hub: LiveHub, campaign_id: int) -> None:
        self.hub = hub
        self.campaign_id = campaign_id
        self.clients: dict[str, set[Client]] = {}
        self.latest: dict[str, bytes] = {}
        self.event_id = 0
        self.computations = 0
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"cati-live-{self.campaign_id}")

    def watched(self) -> tuple[str, ...]:
        return tuple(sorted(view for view, clients in self.clients.items() if clients))

    def _publish(self, snapshots: dict[str, dict[str, Any]]) -> None:
        self.event_id += 1
        for view, data in snapshots.items():
            payload = sse_bytes(self.event_id, data)
            self.latest[view] = payload
            for client in list(self.clients.get(view, ())):
                client.offer(payload)

    async def _compute(self) -> bool:
        views = self.watched()
        if not views:
            return False
        try:
            if self.hub.prepare is not None:
                self.hub.prepare()
            data = await run_in_threadpool(self.hub.compute, self.campaign_id, views)
        except Exception:
            log.warning("live snapshot of campaign %s failed", self.campaign_id, exc_info=True)
            return False
        self.computations += 1
        self._publish(data)
        return True

    async def _token(self) -> Any:
        try:
            return await run_in_threadpool(self.hub.token, self.campaign_id)
        except Exception:
            log.warning("live change token of campaign %s failed", self.campaign_id, exc_info=True)
            return None

    async def _run(self) -> None:
        hub = self.hub
        loop = asyncio.get_running_loop()
        try:
            with hub.bus.subscribe({campaign_topic(self.campaign_id)}) as sub:
                token = await self._token()
                await self._compute()
                computed_at = loop.time()
                while self.watched():
                    triggered = False
                    try:
                        await asyncio.wait_for(sub.queue.get(), timeout=hub.poll_seconds)
                        triggered = True
                        while not sub.queue.empty():
                            sub.queue.get_nowait()
                    except TimeoutError:
                        pass
                    if not self.watched():
                        break
                    new_token = await self._token()
                    stale = loop.time() - computed_at >= hub.refresh_seconds
                    missing = any(view not in self.latest for view in self.watched())  # a new view
                    if not (triggered or stale or missing or new_token != token):
                        continue
                    wait = computed_at + hub.min_interval - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                        new_token = await self._token()
                    token = new_token
                    await self._compute()
                    computed_at = loop.time()
        finally:
            hub._ended(self)


class LiveHub:
    """The broadcasters of one app (kept on ``app.state.live_hub``)."""

    def __init__(
        self,
        bus: EventBus,
        compute: Compute,
        token: Token,
        *,
        prepare: Callable[[], None] | None = None,
        min_interval: float = 1.0,
        poll_seconds: float = 1.0,
        refresh_seconds: float = 30.0,
    ) -> None:
        self.bus = bus
        self.compute = compute
        self.token = token
        self.prepare = prepare
        self.min_interval = min_interval
        self.poll_seconds = poll_seconds
        self.refresh_seconds = refresh_seconds
        self._broadcasters: dict[int, Broadcaster] = {}

    @contextlib.contextmanager
    def subscribe(self, campaign_id: int, view: str) -> Iterator[Client]:
        """A mailbox that gets every new snapshot of (campaign, view); the latest one at once."""
        b = self._broadcasters.get(campaign_id)
        client = Client()
        fresh = b is None or b.task is None or b.task.done()
        if b is None or fresh:
            b = Broadcaster(self, campaign_id)
            self._broadcasters[campaign_id] = b
        b.clients.setdefault(view, set()).add(client)
        if fresh:
            b.start()
        elif view in b.latest:
            client.offer(b.latest[view])
        try:
            yield client
        finally:
            b.clients[view].discard(client)

    def _ended(self, b: Broadcaster) -> None:
        if self._broadcasters.get(b.campaign_id) is b:
            del self._broadcasters[b.campaign_id]

    def stats(self) -> dict[str, Any]:
        return {
            str(cid): {
                "clients": {view: len(c) for view, c in b.clients.items()},
                "computations": b.computations,
                "event_id": b.event_id,
                "superseded": sum(c.superseded for cs in b.clients.values() for c in cs),
            }
            for cid, b in self._broadcasters.items()
        }
