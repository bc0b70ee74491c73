"""Service settings: environment variables with the ``CATI_`` prefix, a ``.env`` file, embedded defaults.

Defaults make the service run on a fresh machine with nothing configured: SQLite in the data
directory and the built-in simulated PBX. Production sets ``CATI_ENV=production``,
``CATI_DATABASE_URL`` (PostgreSQL via psycopg 3), ``CATI_SECRET_KEY`` and the ``CATI_AMI_*`` settings.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
DEV_AMI_SECRET = "cati-secret"


class SettingsError(ValueError):
    """A setting is missing or unusable; the message names it."""


class Settings(BaseSettings):
    """All settings of the service; every ``cati`` command reads the same ones."""

    model_config = SettingsConfigDict(env_prefix="CATI_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Field(default=Path("cati-data"))
    database_url: str | None = None
    #: Server database pool (PostgreSQL): connections kept, extra ones under load, seconds a
    #: request waits for one. Size it to the worker threads (40) plus the dialer's few.
    db_pool_size: int = Field(default=20, ge=1, le=1000)
    db_max_overflow: int = Field(default=30, ge=0, le=1000)
    db_pool_timeout: float = Field(default=30.0, gt=0)
    secret_key: str = DEV_SECRET_KEY

    # Telephony (issue "Dialer", docs/dialing.md): with no AMI host the service starts the
    # simulated PBX itself, in process, on 127.0.0.1 (a random port) with the service clock.
    #: Run the dialing loop in the service (``off`` for a service without telephony).
    dialer: bool = True
    ami_host: str | None = None
    ami_port: int = Field(default=5038, ge=1, le=65535)
    ami_username: str = "cati"
    ami_secret: str = DEV_AMI_SECRET
    #: The respondent's side of every Originate; ``{number}`` is the case's phone number.
    dial_template: str = "Local/{number}@respondents"
    #: Dialplan context that connects a call to an interviewer; the extension is the Exten.
    interviewer_context: str = "interviewer"
    #: The Exten sent with the interviewer context (``{extension}`` = the user's extension,
    #: ``{user_id}`` = the user's id).
    interviewer_exten_template: str = "{extension}"
    #: The interviewer's phone as the dialplan dials it (the built-in PBX dials it too).
    interviewer_endpoint_template: str = "PJSIP/{extension}"
    #: Predictive calls wait here (music on hold) until redirected to an interviewer.
    hold_context: str = "cati-hold"
    hold_exten: str = "s"
    #: The identification message for a call no interviewer could take within 2 s.
    abandon_context: str = "cati-abandon"
    abandon_exten: str = "s"
    #: Caller ID on outgoing calls, e.g. ``"Survey <02000000000>"`` (empty: the trunk's default).
    caller_id: str = ""
    #: This dialer's name on its attempts: reconciliation only touches its own open attempts.
    dialer_node: str = "dialer-1"
    #: Seconds between pacing ticks (a seat becoming ready wakes the loop at once).
    dialer_tick_seconds: float = Field(default=0.5, gt=0, le=60)
    #: PBX circuit breaker (dialer/breaker.py, docs/dialing.md): consecutive refused originates that
    #: pause a campaign's dialling (one dial plan error pauses it at once); seconds before the first
    #: probe call, doubled after each failed probe up to the maximum (real seconds, not service time).
    breaker_threshold: int = Field(default=5, ge=1, le=1000)
    breaker_backoff_seconds: float = Field(default=30.0, gt=0, le=3600)
    breaker_max_backoff_seconds: float = Field(default=600.0, gt=0, le=24 * 3600)
    #: Service clock speed: 1 in production; 60 lets a demo run an evening of fieldwork in minutes.
    speed: float = Field(default=1.0, gt=0, le=10000)
    #: Built-in simulated PBX: seed of its respondent model, simulated start (ISO; naive = Asia/Shanghai;
    #: empty = now) and an optional model file (docs/simpbx.md).
    sim_seed: str = "0"
    sim_start: dt.datetime | None = None
    sim_model: Path | None = None

    # Privacy: how many trailing digits of a phone number an interviewer sees.
    phone_visible_digits: int = Field(default=4, ge=0, le=11)
    #: Seconds of wrap-up after coding a call before the console takes the next one by itself.
    wrap_up_seconds: int = Field(default=45, ge=0, le=3600)
    #: Service seconds after which a dropped call nobody coded is coded automatically (docs/recovery.md).
    recover_code_after_seconds: int = Field(default=600, ge=0, le=86400)
    #: Longest life of one live-event stream; the browser's EventSource then reconnects by itself.
    sse_max_seconds: float = Field(default=3600.0, gt=0)
    # The live rooms (cati/live, docs/live.md): alert when a seat is ready without a call or paused
    # longer than this many minutes; how many audit entries the feed shows.
    live_idle_minutes: float = Field(default=10.0, gt=0)
    live_pause_minutes: float = Field(default=15.0, gt=0)
    live_feed_entries: int = Field(default=50, ge=1, le=1000)

    # Login back-off (cati/auth/throttle.py): consecutive failures of one account from one client
    # address before that pair is locked; failures from one address over all accounts before the
    # address is locked; failures of one account from all addresses before the account is locked.
    login_max_failures: int = Field(default=5, ge=1)
    login_source_max_failures: int = Field(default=30, ge=1)
    login_account_max_failures: int = Field(default=50, ge=1)
    login_lockout_seconds: int = Field(default=300, ge=1)

    # Argon2id cost for new password hashes (argon2-cffi's defaults; tests lower them for speed).
    argon2_time_cost: int = Field(default=3, ge=1, le=20)
    argon2_memory_kib: int = Field(default=65536, ge=1024)

    session_max_age_seconds: int = 12 * 3600
    #: Lifetime of a bearer token from ``POST /api/v1/auth/token``.
    api_token_ttl_seconds: int = 8 * 3600
    #: Send the session cookie only over HTTPS (set true behind TLS).
    cookie_secure: bool = False
    #: An extra directory searched (before the built-in ones) for campaign instrument files.
    instruments_dir: Path | None = None
    max_body_bytes: int = 1_000_000

    # Audit checkpoints (docs/audit.md): the Ed25519 key that signs them (default
    # ``<data dir>/keys/audit-signing-key.pem``, created on first use) and how often the service
    # writes one while a campaign is in fieldwork.
    signing_key_file: Path | None = None
    checkpoint_minutes: float = Field(default=10.0, gt=0, le=24 * 60)

    @model_validator(mode="after")
    def _check_telephony(self) -> Settings:
        for name, fields in (
            ("dial_template", {"number": "0"}),
            ("interviewer_exten_template", {"extension": "0", "user_id": 0}),
            ("interviewer_endpoint_template", {"extension": "0", "user_id": 0}),
        ):
            template = getattr(self, name)
            try:
                template.format(**fields)
            except (KeyError, IndexError, ValueError) as exc:
                raise SettingsError(
                    f"CATI_{name.upper()} {template!r} is not a usable template: {exc}"
                ) from None
        if "{number}" not in self.dial_template:
            raise SettingsError(f"CATI_DIAL_TEMPLATE {self.dial_template!r} must contain {{number}}")
        if self.breaker_max_backoff_seconds < self.breaker_backoff_seconds:
            raise SettingsError(
                "CATI_BREAKER_MAX_BACKOFF_SECONDS 不能小于 CATI_BREAKER_BACKOFF_SECONDS / "
                "CATI_BREAKER_MAX_BACKOFF_SECONDS must not be less than CATI_BREAKER_BACKOFF_SECONDS"
            )
        if self.sim_start is not None and self.sim_start.tzinfo is None:
            from zoneinfo import ZoneInfo

            self.sim_start = self.sim_start.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
        return self

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env == "production" and (not self.secret_key or self.secret_key == DEV_SECRET_KEY):
            raise SettingsError(
                "CATI_SECRET_KEY 必须设置为足够长的随机值（生产环境不接受默认值）/ "
                "CATI_SECRET_KEY must be set to a long random value outside development mode"
            )
        return self

    @model_validator(mode="after")
    def _production_needs_a_pbx(self) -> Settings:
        # Loud, not clever: production never falls back to the simulated PBX or a known secret.
        if self.env != "production" or not self.dialer:
            return self
        if not self.ami_host:
            raise SettingsError(
                "生产环境必须设置 CATI_AMI_HOST（Asterisk AMI 地址），不会启动内置模拟交换机；"
                "不需要拨号时设置 CATI_DIALER=false / CATI_AMI_HOST must be set in production (the "
                "built-in simulated PBX is for development only); set CATI_DIALER=false for no telephony"
            )
        if not self.ami_secret or self.ami_secret == DEV_AMI_SECRET:
            raise SettingsError(
                "生产环境必须设置 CATI_AMI_SECRET（不接受默认值）/ "
                "CATI_AMI_SECRET must be set in production (the default secret is refused)"
            )
        return self

    @property
    def pbx_label(self) -> str:
        """Which PBX the dialer uses, for banners and logs: ``host:port`` or the built-in one."""
        if self.ami_host:
            return f"Asterisk AMI {self.ami_host}:{self.ami_port}"
        return "built-in simulated PBX"

    @property
    def effective_database_url(self) -> str:
        """The database URL: ``CATI_DATABASE_URL`` or a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'cati.sqlite3').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
