"""The whole survey on one machine: the service, the dialer with the built-in PBX, simulated interviewers.

Why a runner separate from the CLI: ``cati demo``, the end-to-end test and the load benchmark start
the same thing (the real app under uvicorn on 127.0.0.1, the real DialerService, a crew of
simulated interviewers talking HTTP) and stop it the same clean way (crew first, so every call in
hand is coded, then the server, whose lifespan stops the dialer and the PBX).

The demo campaign is ``examples/zibo.yaml`` with two changes, both printed: calling windows
08:00-22:00 every day for both strata (so residents and staff progress side by side whenever the
demo is started), and the quota per cell from ``--quota``. The service clock starts at 09:00 of the
latest working day in Shanghai and runs ``--speed`` times faster than real time. A second start on the
same data continues from the last call in the data (a clock set back would leave every retry and
appointment in the future, and the survey would stand still until the clock caught up).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import secrets
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cati import audit
from cati.auth.passwords import hash_password
from cati.auth.service import create_user
from cati.auth.throttle import clear_account
from cati.campaigns import service as campaigns
from cati.campaigns.instruments import resolve_instrument
from cati.campaigns.loader import load_campaign_file
from cati.campaigns.schemas import CallingWindows, CampaignSpec, Quota, Window
from cati.checkpoints import SignerSource, bind_signer
from cati.db import REPO_ROOT, make_engine, make_sessionmaker, transaction, upgrade
from cati.demo.interviewers import CrewConfig, Stats, run_crew
from cati.errors import NotFound
from cati.models import Attempt, CampaignStatus, Case, InterviewerSeat, QuotaCell, Role, User
from cati.settings import Settings

EXAMPLE = REPO_ROOT / "examples" / "zibo.yaml"
ACTOR = "demo"
SHANGHAI = ZoneInfo("Asia/Shanghai")

#: Display names of the demo interviewers (iv00 is the person at the browser).
NAMES = ("王芳", "李娜", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄丽", "周杰", "吴敏", "徐婷", "孙浩")


@dataclass(frozen=True)
class DemoOptions:
    """What ``cati demo`` was asked for."""

    host: str = "127.0.0.1"
    port: int = 8000
    #: Completes wanted per quota cell (district x stratum); None keeps the campaign's.
    quota: int | None = 8
    #: Simulated interviewers (iv01 ...); iv00 is always made for a person.
    interviewers: int = 8
    speed: float = 30.0
    seed: str = "1"
    #: Keep only the first N districts of the example (None: all eight).
    districts: int | None = None
    campaign_file: Path = EXAMPLE
    #: Seconds between progress lines (real time); 0 = none.
    progress_seconds: float = 10.0
    exit_when_done: bool = False
    #: The terminal's language: zh-CN first, ``en`` with ``cati demo --lang en``.
    lang: str = "zh-CN"
    #: The crew logs every acknowledged interview action here (the fault-injection test).
    ack_log: Path | None = None

    def t(self, key: str, **fields: Any) -> str:
        """A line of the demo's terminal output in ``lang`` (``cati.web.catalogs.cli_demo``)."""
        from cati.web.i18n import CATALOG

        return CATALOG["en" if self.lang == "en" else "zh-CN"][f"cli_demo.{key}"].format(**fields)


@dataclass(frozen=True)
class Account:
    username: str
    role: Role
    password: str
    display_name: str = ""
    extension: str | None = None
    simulated: bool = False


@dataclass
class DemoSetup:
    campaign_id: int
    campaign_code: str
    accounts: list[Account]
    notes: list[str] = field(default_factory=list)
    #: Service time of the latest call already in the data (None on a first start).
    last_call_at: dt.datetime | None = None

    @property
    def simulated(self) -> list[Account]:
        return [a for a in self.accounts if a.simulated]


def demo_start(now: dt.datetime | None = None) -> dt.datetime:
    """09:00 in Shanghai on the latest Monday-Friday on or before today."""
    day = (now or dt.datetime.now(dt.UTC)).astimezone(SHANGHAI).date()
    while day.isoweekday() > 5:
        day -= dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(9, 0), tzinfo=SHANGHAI)


def resume_start(last_call_at: dt.datetime | None, now: dt.datetime | None = None) -> dt.datetime:
    """Where the demo clock starts: ``demo_start``, or just after the last call already in the data.

    Never earlier than a call already made; after 21:00 (the demo windows close at 22:00) it moves
    on to 09:00 the next morning, so a restarted demo calls at once.
    """
    start = demo_start(now)
    if last_call_at is None:
        return start
    if last_call_at.tzinfo is None:  # SQLite hands back naive UTC
        last_call_at = last_call_at.replace(tzinfo=dt.UTC)
    after = (last_call_at + dt.timedelta(minutes=1)).astimezone(SHANGHAI)
    if after <= start:
        return start
    if after.time() >= dt.time(21, 0):
        return dt.datetime.combine(after.date() + dt.timedelta(days=1), dt.time(9, 0), tzinfo=SHANGHAI)
    if after.time() < dt.time(8, 0):
        return dt.datetime.combine(after.date(), dt.time(9, 0), tzinfo=SHANGHAI)
    return after.replace(second=0, microsecond=0)


def demo_settings(
    base: Settings, options: DemoOptions, last_call_at: dt.datetime | None = None
) -> Settings:
    """The service settings for the demo: the dialer on, the demo clock speed, start and seed."""
    update_: dict[str, Any] = {"dialer": True, "speed": options.speed, "sim_seed": options.seed}
    if base.sim_start is None or last_call_at is not None:
        update_["sim_start"] = max(base.sim_start or resume_start(None), resume_start(last_call_at))
    return base.model_copy(update=update_)


def _demo_spec(options: DemoOptions) -> CampaignSpec:
    spec = load_campaign_file(options.campaign_file)
    day = [Window(days="all", start=dt.time(8, 0), end=dt.time(22, 0))]
    changes: dict[str, Any] = {"calling_windows": CallingWindows(staff=day, resident=day)}
    if options.quota is not None:
        changes["quota"] = Quota(staff=options.quota, resident=options.quota)
        changes["districts"] = [d.model_copy(update={"quota": None}) for d in spec.districts]
    if options.districts is not None:
        changes["districts"] = list(changes.get("districts", spec.districts))[: options.districts]
    return spec.model_copy(update=changes)


def _accounts(options: DemoOptions) -> list[Account]:
    def pw() -> str:
        return secrets.token_urlsafe(9)

    out = [
        Account("admin", Role.admin, pw(), "管理员"),
        Account("supervisor", Role.supervisor, pw(), "督导"),
        Account("assessor", Role.assessor, pw(), "考核办"),
        # One witness account per signing party (docs/announcement.md): the notary, the discipline
        # inspection office and the assessment office each sign the announcement.
        Account("witness", Role.witness, pw(), "公证员"),
        Account("jiwei", Role.witness, pw(), "纪委监察员"),
        Account("kaohe", Role.witness, pw(), "考核办见证员"),
        Account("iv00", Role.interviewer, pw(), "访问员（您）", "1000"),
    ]
    for n in range(1, options.interviewers + 1):
        out.append(
            Account(
                f"iv{n:02d}",
                Role.interviewer,
                pw(),
                NAMES[(n - 1) % len(NAMES)],
                str(1000 + n),
                simulated=True,
            )
        )
    return out


def _ensure_account(session: Session, account: Account, settings: Settings) -> None:
    """Create the account, or give an existing demo account its new password."""
    user = session.execute(select(User).where(User.username == account.username)).scalar_one_or_none()
    if user is None:
        create_user(
            session,
            username=account.username,
            role=account.role,
            password=account.password,
            settings=settings,
            actor=ACTOR,
            display_name=account.display_name,
            extension=account.extension,
        )
        return
    user.password_hash = hash_password(account.password, settings)
    user.role = account.role.value
    user.active = True
    user.failed_logins = 0
    user.locked_until = None
    clear_account(session, user.username)
    if account.extension:
        user.extension = account.extension
    audit.record(
        session,
        actor=ACTOR,
        action="user.password_reset",
        object_type="user",
        object_id=user.id,
        details={"username": account.username, "why": "cati demo sets new demo passwords on every start"},
    )


def prepare_demo(settings: Settings, options: DemoOptions) -> DemoSetup:
    """Schema, the demo campaign in fieldwork, the demo accounts with fresh passwords."""
    url = settings.effective_database_url
    if url.startswith("sqlite:"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    spec = _demo_spec(options)
    notes: list[str] = []
    engine = make_engine(url)
    try:
        factory = make_sessionmaker(engine)
        bind_signer(factory, SignerSource(settings))
        with transaction(factory) as s:
            try:
                campaign = campaigns.get_campaign_by_code(s, spec.code)
            except NotFound:
                instrument = resolve_instrument(spec.instrument, base_dir=options.campaign_file.parent)
                campaign = campaigns.create_campaign(s, spec, instrument=instrument, actor=ACTOR)
                notes.append(options.t("imported", code=campaign.code, districts=len(spec.districts)))
            if campaign.status == CampaignStatus.closed.value:
                raise DemoError(options.t("closed", code=campaign.code, dir=settings.data_dir))
            if campaign.status == CampaignStatus.draft.value:
                campaigns.change_status(s, campaign.id, CampaignStatus.published, actor=ACTOR)
            if campaign.status == CampaignStatus.published.value:
                campaigns.change_status(s, campaign.id, CampaignStatus.fieldwork, actor=ACTOR)
            if options.quota is not None:
                changed = s.execute(  # type: ignore[attr-defined]
                    update(QuotaCell)
                    .where(QuotaCell.campaign_id == campaign.id, QuotaCell.target != options.quota)
                    .values(target=options.quota)
                ).rowcount
                if changed:
                    audit.record(
                        s,
                        actor=ACTOR,
                        action="campaign.quota_set",
                        object_type="campaign",
                        object_id=campaign.id,
                        details={"target": options.quota, "cells": changed},
                    )
            accounts = _accounts(options)
            for account in accounts:
                _ensure_account(s, account, settings)
            last_call_at = s.execute(
                select(func.max(func.coalesce(Attempt.ended_at, Attempt.started_at))).where(
                    Attempt.campaign_id == campaign.id
                )
            ).scalar_one()
            return DemoSetup(campaign.id, campaign.code, accounts, notes, last_call_at)
    finally:
        engine.dispose()


class DemoError(RuntimeError):
    """The demo cannot start; the message says why."""


@dataclass
class Progress:
    completes: int
    target: int
    attempts: int
    on_call: int
    cells_open: int

    @property
    def done(self) -> bool:
        return self.cells_open == 0


def read_progress(session: Session, campaign_id: int) -> Progress:
    """Completes against targets, calls made, interviewers on a call, cells still open."""
    completes, target, cells_open = session.execute(
        select(
            func.coalesce(func.sum(QuotaCell.completes), 0),
            func.coalesce(func.sum(QuotaCell.target), 0),
            func.count().filter(QuotaCell.completes < QuotaCell.target),
        ).where(QuotaCell.campaign_id == campaign_id)
    ).one()
    attempts = session.execute(
        select(func.count()).select_from(Attempt).where(Attempt.campaign_id == campaign_id)
    ).scalar_one()
    on_call = session.execute(
        select(func.count()).select_from(InterviewerSeat).where(InterviewerSeat.status == "on_call")
    ).scalar_one()
    return Progress(int(completes), int(target), int(attempts), int(on_call), int(cells_open))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on ``host`` (for tests and benchmarks)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class DemoRun:
    """A running demo: the app (for its clock and dialer), the crew's figures, the stop switch."""

    app: Any
    stats: Stats
    stop: asyncio.Event
    base_url: str


async def run_demo(
    settings: Settings,
    options: DemoOptions,
    setup: DemoSetup,
    *,
    say: Callable[[str], None] = print,
    started: Callable[[DemoRun], Awaitable[None]] | None = None,
    stop: asyncio.Event | None = None,
    handle_signals: bool = False,
) -> Stats:
    """Serve the app with uvicorn and run the simulated interviewers until ``stop`` (or Ctrl-C)."""
    import uvicorn

    from cati.app import create_app

    stop = stop or asyncio.Event()
    settings = demo_settings(settings, options, setup.last_call_at)
    app = create_app(settings)
    config = uvicorn.Config(
        app, host=options.host, port=options.port, log_level="warning", lifespan="on", access_log=False
    )
    server = _uvicorn_server(config)
    loop = asyncio.get_running_loop()
    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
    server_task = asyncio.create_task(server.serve(), name="uvicorn")
    while not server.started:
        if server_task.done():
            await server_task  # raises the reason (port in use, ...)
            raise DemoError(options.t("not_started", host=options.host, port=options.port))
        await asyncio.sleep(0.05)
    base_url = f"http://{'127.0.0.1' if options.host in ('0.0.0.0', '') else options.host}:{options.port}"
    stats = Stats()
    crew_stop = asyncio.Event()
    factory = app.state.sessionmaker
    clock = app.state.clock
    line_kind = _line_kind_lookup(settings, factory)
    crew_config = CrewConfig(
        base_url=base_url,
        campaign_id=setup.campaign_id,
        speed=clock.speed,
        seed=options.seed,
        now=clock.now,
        line_kind=line_kind,
        ack_log=options.ack_log,
    )
    logins = [(a.username, a.password) for a in setup.simulated]
    crew_task = asyncio.create_task(run_crew(crew_config, logins, crew_stop, stats=stats), name="crew")
    run = DemoRun(app, stats, stop, base_url)
    if started is not None:
        await started(run)
    announced_done = False
    next_progress = loop.time() + options.progress_seconds if options.progress_seconds else None
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            if server_task.done():
                break
            progress = await asyncio.to_thread(_progress, factory, setup.campaign_id)
            if next_progress is not None and loop.time() >= next_progress:
                next_progress = loop.time() + options.progress_seconds
                local = clock.now().astimezone(SHANGHAI)
                say(
                    options.t(
                        "progress",
                        time=f"{local:%m-%d %H:%M}" if options.lang != "en" else f"{local:%a %H:%M}",
                        completes=progress.completes,
                        target=progress.target,
                        attempts=progress.attempts,
                        on_call=progress.on_call,
                        cells_open=progress.cells_open,
                    )
                )
            if progress.done and not announced_done:
                announced_done = True
                say(done_text(options, setup, progress, base_url, data_flag(settings)))
                if options.exit_when_done:
                    say(options.t("stopping"))
                    stop.set()
    finally:
        crew_stop.set()
        with contextlib.suppress(TimeoutError, Exception):
            await asyncio.wait_for(crew_task, timeout=30)
        if not crew_task.done():
            crew_task.cancel()
            with contextlib.suppress(BaseException):
                await crew_task
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(server_task, timeout=30)
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
    return stats


def data_flag(settings: Settings) -> str:
    """`` --data-dir DIR`` when a second shell needs it to find the demo's data, else empty."""
    if settings.database_url or settings.data_dir == Path("cati-data"):
        return ""
    return f" --data-dir {settings.data_dir}"


def done_text(options: DemoOptions, setup: DemoSetup, progress: Progress, base_url: str, flag: str) -> str:
    """What the demo says once every quota cell is full: that it is, then what comes next (the
    rooms to open and the close command)."""
    t = options.t
    cid = setup.campaign_id
    rows = [
        (t("next.supervise"), f"{base_url}/supervise"),
        (t("next.witness"), f"{base_url}/witness"),
        (t("next.results"), f"{base_url}/campaigns/{cid}/results"),
        (t("next.announcement"), f"{base_url}/campaigns/{cid}/announcement"),
    ]
    lines = [
        "",
        t("done", completes=progress.completes, target=progress.target, attempts=progress.attempts),
        t("next"),
        *(f"  {label}  {url}" for label, url in rows),
        f"  {t('next.close')}",
        f'    cati campaign close {setup.campaign_code} --reason "{t("close_reason")}"{flag}',
        "",
    ]
    return "\n".join(lines)


def _uvicorn_server(config: Any) -> Any:
    import uvicorn

    class QuietServer(uvicorn.Server):
        """uvicorn without its own signal handlers: the demo stops the crew first, then the server."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer(config)


def _progress(factory: Any, campaign_id: int) -> Progress:
    with factory() as s:
        return read_progress(s, campaign_id)


def _line_kind_lookup(settings: Settings, factory: Any) -> Callable[[int], Awaitable[str | None]]:
    """Case id -> the line kind the built-in PBX's respondent model gives its number (the
    respondent's side of the simulation knows its own line; the interviewer sees a masked number)."""
    from dialer.simpbx import RespondentModel, load_model

    spec = load_model(settings.sim_model) if settings.sim_model else None
    model = RespondentModel(spec, seed=settings.sim_seed)
    cache: dict[int, str | None] = {}

    def lookup(case_id: int) -> str | None:
        with factory() as s:
            phone = s.execute(select(Case.phone_number).where(Case.id == case_id)).scalar_one_or_none()
        return None if phone is None else str(model.line_kind(phone))

    async def find(case_id: int) -> str | None:
        if case_id not in cache:
            cache[case_id] = await asyncio.to_thread(lookup, case_id)
        return cache[case_id]

    return find


def write_logins(path: Path, setup: DemoSetup, base_url: str) -> None:
    """The demo logins in a file only the owner can read (the terminal output may scroll away)."""
    lines = [f"# cati demo logins for {base_url} (new passwords on every start)"]
    lines += [f"{a.username}\t{a.role.value}\t{a.password}" for a in setup.accounts]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
