"""Simulated interviewers: asyncio + httpx clients of the console API, exactly as the browser uses it.

Why over HTTP: the demo, the end-to-end test and the load benchmark must exercise the real service
(authentication, the seat state machine, the answer-by-answer saves, the dialer binding calls to
seats), not a shortcut around it. Each interviewer logs in for a bearer token, goes ready, waits for
a call (live events, with polling as a fallback), reads the script, answers from the respondent
model (``cati.demo.respondents``), codes the call, takes a short wrap-up and goes ready again.
Think and talk times are service seconds, divided by the clock speed for the real sleeps.

The API contract is docs/console-api.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cati.demo.respondents import Respondent, respondent

log = logging.getLogger("cati.demo")

API = "/api/v1/console"
#: What the interviewer chooses for the engine's own disposition at the end of an interview.
CODE_FOR_ENGINE = {"1.2": "partial", "2.11": "refusal", "2.12": "break_off"}
RATING_ACTIONS = frozenset({"answer", "refuse", "dont_know"})


class ConsoleError(RuntimeError):
    """The console API answered something a simulated interviewer cannot go on from."""


@dataclass
class Stats:
    """Counters and request latencies shared by a crew of simulated interviewers."""

    calls: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    #: Interview actions sent, and those the server acknowledged, by action (answer, refuse, ...).
    actions_sent: Counter[str] = field(default_factory=Counter)
    actions_ok: Counter[str] = field(default_factory=Counter)
    #: Latencies are recorded while True (a benchmark turns it off when the shift ends).
    recording: bool = True
    conflicts: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    #: Real seconds per request kind: "answer" (one interview action), "state", "ready", "next", ...
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def record(self, kind: str, seconds: float) -> None:
        if self.recording:
            self.latencies[kind].append(seconds)


@dataclass
class CrewConfig:
    """How a crew of simulated interviewers behaves."""

    base_url: str
    campaign_id: int | None = None
    #: Clock speed: think, talk and wrap-up times (service seconds) are divided by it.
    speed: float = 1.0
    seed: int | str = 0
    #: Service time now (for appointment times); the demo passes its shared clock.
    now: Callable[[], dt.datetime] = field(default_factory=lambda: lambda: dt.datetime.now(dt.UTC))
    #: Case id -> the line kind the simulated PBX gives its number (None: not known).
    line_kind: Callable[[int], Awaitable[str | None]] | None = None
    #: Service seconds: reading the introduction, each question and answer, wrap-up.
    intro_seconds: tuple[float, float] = (12.0, 25.0)
    item_seconds: tuple[float, float] = (5.0, 14.0)
    wrap_up_seconds: tuple[float, float] = (5.0, 20.0)
    #: Real seconds between state polls without live events, and while they run (a safety net).
    poll_seconds: float = 1.0
    idle_poll_seconds: float = 10.0
    use_events: bool = True
    #: Real seconds between two interviewers starting their shift (people do not all log in at
    #: the same millisecond; a stampede of logins only measures the password hashing).
    stagger_seconds: float = 0.1
    request_timeout: float = 30.0
    #: Append one JSON line per interview action the server acknowledged (200), written before the
    #: next request: the fault-injection test checks every acknowledged answer is stored.
    ack_log: Path | None = None


class SimInterviewer:
    """One simulated interviewer working through the console API until ``stop`` is set."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        username: str,
        password: str,
        config: CrewConfig,
        stats: Stats,
    ) -> None:
        self.client = client
        self.username = username
        self.password = password
        self.config = config
        self.stats = stats
        self.rng = random.Random(f"{config.seed}:{username}")
        self.headers: dict[str, str] = {}
        self._changed = asyncio.Event()
        self._stop = asyncio.Event()
        self._pushed: dict[str, Any] | None = None
        self._seen_since = ""
        self._live = False

    # ---- HTTP ------------------------------------------------------------------------------------

    async def _request(
        self,
        kind: str,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        t0 = time.perf_counter()
        response = await self.client.request(
            method, path, json=body, headers=self.headers, timeout=self.config.request_timeout
        )
        self.stats.record(kind, time.perf_counter() - t0)
        if response.status_code not in ok:
            self.stats.errors[f"{kind} {response.status_code}"] += 1
            raise ConsoleError(
                f"{self.username}: {method} {path}: {response.status_code} {response.text[:300]}"
            )
        return response

    async def login(self) -> None:
        """Get a bearer token with the interviewer's password."""
        response = await self.client.post(
            "/api/v1/auth/token",
            data={"username": self.username, "password": self.password},
            timeout=self.config.request_timeout,
        )
        if response.status_code != 200:
            raise ConsoleError(f"{self.username}: login failed: {response.status_code} {response.text[:200]}")
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def state(self) -> dict[str, Any]:
        """The console state (``GET /state``)."""
        response = await self._request("state", "GET", f"{API}/state")
        data: dict[str, Any] = response.json()
        return data

    async def _post_state(
        self, kind: str, path: str, body: dict[str, Any] | None = None, *, ok: tuple[int, ...] = (200,)
    ) -> dict[str, Any]:
        response = await self._request(kind, "POST", f"{API}/{path}", body or {}, ok=ok)
        data: dict[str, Any] = response.json()
        if response.status_code == 200:
            self._offer(data)
        return data

    # ---- time ------------------------------------------------------------------------------------

    async def _pause(self, span: tuple[float, float]) -> None:
        """Sleep a service-time span drawn from ``span``, scaled to real time by the clock speed.

        Once the shift is over (``stop``) there is no more thinking: the call in hand is finished
        at once, so a demo or benchmark stops quickly and every call is coded.
        """
        seconds = self.rng.uniform(*span) / self.config.speed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    # ---- live events -----------------------------------------------------------------------------

    def _offer(self, state: dict[str, Any]) -> None:
        """Keep a pushed or returned ConsoleState unless it is older than one already acted on."""
        since = str((state.get("seat") or {}).get("since") or "")
        if since and since < self._seen_since:
            return  # an event queued before a change this interviewer already saw
        self._pushed = state
        self._changed.set()

    def _take_pushed(self) -> dict[str, Any] | None:
        state, self._pushed = self._pushed, None
        if state is not None:
            self._seen_since = max(self._seen_since, str(state["seat"].get("since") or ""))
        return state

    async def _events(self, stop: asyncio.Event) -> None:
        """Follow ``GET /events``: each ``state`` event carries the full ConsoleState. Reconnects."""
        while not stop.is_set():
            try:
                async with self.client.stream(
                    "GET", f"{API}/events", headers=self.headers, timeout=httpx.Timeout(10.0, read=60.0)
                ) as response:
                    if response.status_code != 200:
                        raise ConsoleError(f"events: {response.status_code}")
                    self._live = True
                    kind, data = "", ""
                    async for line in response.aiter_lines():
                        if line.startswith("event:"):
                            kind = line[6:].strip()
                        elif line.startswith("data:"):
                            data += line[5:].strip()
                        elif not line and data:
                            if kind == "state":
                                with contextlib.suppress(ValueError):
                                    self._offer(json.loads(data))
                            kind, data = "", ""
                        if stop.is_set():
                            return
            except (httpx.HTTPError, ConsoleError):
                pass
            finally:
                self._live = False
            if not stop.is_set():
                await asyncio.sleep(1.0)

    async def _wait_for_change(self, stop: asyncio.Event) -> None:
        if self._pushed is not None:
            return
        self._changed.clear()
        timeout = self.config.idle_poll_seconds if self._live else self.config.poll_seconds
        waiters = [asyncio.ensure_future(self._changed.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    # ---- the shift -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then go offline (after coding a call in hand)."""
        self._stop = stop
        await self.login()
        events: asyncio.Task[None] | None = None
        if self.config.use_events:
            events = asyncio.create_task(self._events(stop), name=f"events-{self.username}")
        try:
            body = {} if self.config.campaign_id is None else {"campaign_id": self.config.campaign_id}
            # 409: a call left in hand by an earlier run (a dropped call to code first): _step codes it
            await self._post_state("ready", "ready", body, ok=(200, 409))
            while not stop.is_set():
                try:
                    await self._step(stop)
                except ConsoleError as exc:
                    log.info("%s", exc)
                    await asyncio.sleep(min(2.0, 20.0 / self.config.speed))
                except httpx.HTTPError as exc:
                    self.stats.errors[type(exc).__name__] += 1
                    await asyncio.sleep(1.0)
        finally:
            if events is not None:
                events.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await events
            with contextlib.suppress(Exception):
                await self._leave()

    async def _leave(self) -> None:
        """End of shift: code a call that reached the seat after the last step, then go offline
        straight from wrap-up (via ready the dialer could hand over one more call nobody takes)."""
        for _ in range(20):
            state = await self.state()
            status, current = state["seat"]["status"], state.get("current")
            if current is not None and current.get("to_code"):
                await self._code_dropped(current)
                continue
            if status in ("ready", "paused", "wrap_up"):
                await self._post_state("offline", "offline", ok=(200, 409))
                continue
            if status == "offline":
                return
            await asyncio.sleep(0.2)  # a call being placed for this seat: wait for its outcome

    async def _step(self, stop: asyncio.Event) -> None:
        state = self._take_pushed() or await self.state()
        status = state["seat"]["status"]
        current = state.get("current")
        if current is not None and current.get("to_code") and current.get("line_dropped"):
            await self._code_dropped(current)  # after a restart: the call was lost, code what is known
        elif status == "on_call" and current is not None:
            await self._take_call(state)
        elif status == "reserved" and current is not None and current["call"]["state"] == "preview":
            await self._pause((2.0, 8.0))  # reads the case, then starts the call
            await self._post_state("dial", "preview/dial")
        elif status == "wrap_up":
            await self._pause(self.config.wrap_up_seconds)
            await self._post_state("next", "next")
        elif status in ("offline", "paused"):
            body = {} if self.config.campaign_id is None else {"campaign_id": self.config.campaign_id}
            await self._post_state("ready", "ready", body)
        else:
            await self._wait_for_change(stop)

    async def _take_call(self, state: dict[str, Any]) -> None:
        current = state["current"]
        if current["call"]["state"] in ("dialling", "preview") and current.get("interview") is None:
            await asyncio.sleep(0.05)  # still ringing: the dialer connects it
            return
        self.stats.calls += 1
        case_id = int(current["case_id"])
        who = respondent(
            self.config.seed,
            case_id=case_id,
            call=int(current.get("attempts_count") or 1),
            district=current["district"]["code"],
            stratum=current["stratum"],
            line_kind=await self.config.line_kind(case_id) if self.config.line_kind else None,
            appointment_due=bool(current.get("appointment")),
        )
        await self._pause(self.config.intro_seconds)
        view = current.get("interview")
        if who.plan == "interview" and view is not None:
            code = await self._interview(view, who)
        elif who.plan == "appointment":
            await self._code(
                "appointment",
                appointment_at=self.config.now() + dt.timedelta(minutes=who.appointment_minutes),
                same_interviewer=self.rng.random() < 0.5,
                note="受访者请稍后再打 / asked to be called later",
            )
            return
        else:
            code = {
                "refuse": "refusal",
                "machine": "answering_machine",
                "fax": "fax",
                "language": "language",
                "interview": "no_screener",
            }[who.plan]
        await self._code(code)

    async def _code_dropped(self, current: dict[str, Any]) -> None:
        """The line dropped before this call was coded (对方已挂断): code what the interview shows,
        as a person would: the rule's choice for an ended interview (never a complete on answers
        saved after the drop), ``callback`` for one still asking (it is resumed on the next call)."""
        view = current.get("interview")
        if view is None:
            code = "no_screener"
        elif view.get("finished"):
            code = "break_off"  # never reached: a finished interview is coded
        elif view.get("rule", {}).get("choice") is None:
            code = "callback"
        else:
            code = str(view["rule"]["choice"])
            if code in ("complete", "partial") and current.get("saved_after_drop"):
                code = "break_off"
        await self._code(code)

    async def _interview(self, view: dict[str, Any], who: Respondent) -> str:
        """Ask every question the engine puts; return the disposition choice for the end."""
        while view.get("item") is not None and view.get("disposition") is None:
            item = view["item"]
            await self._pause(self.config.item_seconds)
            if who.break_before is not None and item["id"] == who.break_before:
                view = await self._act(view, "break_off", None, None)
                break
            action, value = self._reply(item, who)
            view = await self._act(view, action, item["id"], value)
        disposition = view.get("disposition")
        if disposition == "1.1":
            return "complete" if view.get("valid_for_scoring") else "partial"
        if disposition is not None and disposition.startswith("4."):
            return "screened_out"
        return CODE_FOR_ENGINE.get(disposition or "", "break_off")

    def _reply(self, item: dict[str, Any], who: Respondent) -> tuple[str, str | int | None]:
        item_id = item["id"]
        if item_id == "s_line":
            return "answer", who.line
        if item_id == "s_age":
            return "answer", who.age
        if item_id == "s_tie":
            return "answer", who.tie
        if item_id in who.ratings:
            rating = who.ratings[item_id]
            if rating is None:
                return "refuse", None
            if rating == "dk":
                return "dont_know", None
            return "answer", rating
        if item["kind"] == "text":
            return ("answer", who.suggestion) if who.suggestion else ("refuse", None)
        options = item.get("options") or []
        if options:
            return "answer", options[0]["code"]
        return "answer", 1

    async def _act(
        self, view: dict[str, Any], action: str, item_id: str | None, value: str | int | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"action": action, "version": view["version"]}
        if item_id is not None:
            body["item_id"] = item_id
        if value is not None:
            body["value"] = value
        self.stats.actions_sent[action] += 1
        response = await self._request("answer", "POST", f"{API}/interview", body, ok=(200, 409))
        if response.status_code == 409:
            # Stale version or the item moved on: reload the interview and carry on from there.
            self.stats.conflicts += 1
            state = await self.state()
            fresh = (state.get("current") or {}).get("interview")
            if fresh is None:
                raise ConsoleError(f"{self.username}: the interview went away ({response.text[:200]})")
            return dict(fresh)
        self.stats.actions_ok[action] += 1
        data: dict[str, Any] = response.json()
        if self.config.ack_log is not None and item_id is not None:
            line = {"interview_id": data.get("id"), "version": data.get("version"), "action": action}
            line |= {"item_id": item_id, "value": value}
            with self.config.ack_log.open("a", encoding="utf-8") as out:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
        return data

    async def _code(
        self,
        code: str,
        *,
        appointment_at: dt.datetime | None = None,
        same_interviewer: bool = False,
        note: str | None = None,
    ) -> None:
        body: dict[str, Any] = {"code": code}
        if appointment_at is not None:
            body["appointment_at"] = appointment_at.isoformat()
            body["same_interviewer"] = same_interviewer
        if note:
            body["note"] = note
        await self._post_state("disposition", "disposition", body)
        self.stats.outcomes[code] += 1


async def run_crew(
    config: CrewConfig,
    logins: list[tuple[str, str]],
    stop: asyncio.Event,
    *,
    stats: Stats | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Stats:
    """Run one simulated interviewer per (username, password) until ``stop`` is set."""
    stats = stats or Stats()
    limits = httpx.Limits(
        max_connections=max(10, 3 * len(logins)), max_keepalive_connections=max(10, 2 * len(logins))
    )
    async with httpx.AsyncClient(base_url=config.base_url, transport=transport, limits=limits) as client:
        crew = [SimInterviewer(client, username, password, config, stats) for username, password in logins]

        async def shift(position: int, interviewer: SimInterviewer) -> None:
            if position and config.stagger_seconds > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=position * config.stagger_seconds)
                if stop.is_set():
                    return
            await interviewer.run(stop)

        tasks = [
            asyncio.create_task(shift(n, iv), name=f"interviewer-{iv.username}") for n, iv in enumerate(crew)
        ]
        try:
            results = await asyncio.gather(*tasks, return_exceptions=True)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for outcome in results:
            if isinstance(outcome, BaseException):
                stats.errors[type(outcome).__name__] += 1
                log.warning("a simulated interviewer stopped: %s", outcome)
    return stats
