"""Users, logins, browser sessions and API tokens. Services flush; the request or CLI edge commits.

Why the login is shaped this way: every failure (unknown user, wrong password, inactive account)
gives the same message and costs the same Argon2 time, so neither the text nor the timing tells an
attacker which usernames exist. Failures are counted per username and client address, per address
and per username (cati/auth/throttle.py); while a lock is in force the answer says so (HTTP 429),
and it does for an unknown username exactly as for a known one.
Cookies and bearer tokens are random 256-bit values; the database keeps only their SHA-256, so a
copy of the tables does not let anyone in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cati import audit
from cati.api.guards import BAD_CHAR_MESSAGE, has_bad_char
from cati.auth import throttle
from cati.auth.passwords import check_password_rules, hash_password, spend_verification_time, verify_password
from cati.errors import Conflict, Invalid
from cati.models import ApiToken, Role, User, WebSession, utcnow
from cati.settings import Settings

LOGIN_FAILED = "invalid username or password"
LOGIN_LOCKED = (
    "登录失败次数过多，已暂时锁定，请稍后再试 / too many failed logins: locked for now, try again later"
)
ANONYMOUS = "anonymous"


def new_secret() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def token_digest(raw: str) -> str:
    """SHA-256 hex of a raw token: what the database stores and looks up."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def create_user(
    session: Session,
    *,
    username: str,
    role: Role | str,
    password: str,
    settings: Settings,
    actor: str,
    display_name: str = "",
    extension: str | None = None,
) -> User:
    """Create a user with an Argon2 hash of ``password``; audited as ``user.created``."""
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise Invalid("username must be 1-64 characters without spaces")
    try:
        role = Role(role)
    except ValueError:
        raise Invalid(f"unknown role {role!r}; roles: {', '.join(r.value for r in Role)}") from None
    if has_bad_char(username) or has_bad_char(display_name):
        raise Invalid(f"用户名或显示名称{BAD_CHAR_MESSAGE}")
    if extension is not None and not (extension.isdigit() and 1 <= len(extension) <= 32):
        raise Invalid("extension must be digits only")
    try:
        check_password_rules(password)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    if session.execute(select(User.id).where(User.username == username)).first() is not None:
        raise Conflict(f"user {username!r} already exists")
    user = User(
        username=username,
        role=role.value,
        display_name=display_name,
        extension=extension,
        password_hash=hash_password(password, settings),
        active=True,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.created",
        object_type="user",
        object_id=user.id,
        details={"username": username, "role": role.value, "extension": extension},
    )
    return user


@dataclass(frozen=True)
class LoginOutcome:
    """The user when the login succeeded; else, when a back-off lock is in force, when it ends."""

    user: User | None
    locked_until: dt.datetime | None = None


def authenticate(
    session: Session, username: str, password: str, settings: Settings, *, channel: str, source: str = "-"
) -> User | None:
    """The user if the credentials are right and the account usable, else None (see :func:`login`)."""
    return login(session, username, password, settings, channel=channel, source=source).user


def login(
    session: Session, username: str, password: str, settings: Settings, *, channel: str, source: str
) -> LoginOutcome:
    """Check a login from client address ``source`` under the back-off of cati/auth/throttle.py.

    Records ``auth.login_succeeded`` or ``auth.login_failed`` and updates the back-off counters
    in the caller's transaction, so the caller must commit even when it answers "no".

    The Argon2 work (tens of milliseconds at production cost) runs while the session holds no
    connection and no lock: the hash and any running lock are read first and, when this call began
    the session's transaction, that read-only transaction ends before hashing. The user row and the
    counter rows are then locked and the outcome decided on them, so concurrent failures still count
    one by one. An unknown username costs the same time, is counted and locked the same way, and
    gets the same answers as a known one.
    """
    now = utcnow()
    keys = throttle.keys_for(username, source, settings)
    ours = not session.in_transaction()
    seen = session.execute(
        select(User.id, User.password_hash).where(User.username == username)
    ).first()
    locked_before = throttle.lock_in_force(session, keys, now) is not None
    if ours:
        session.rollback()  # nothing but the reads above: give the connection back while hashing
    if seen is None or locked_before:
        spend_verification_time(password, settings)
        password_ok = False
    else:
        password_ok = verify_password(seen.password_hash, password, settings)
    user = (
        None
        if seen is None
        else session.execute(select(User).where(User.id == seen.id).with_for_update()).scalar_one_or_none()
    )
    if user is not None and seen is not None and password_ok and user.password_hash != seen.password_hash:
        password_ok = verify_password(user.password_hash, password, settings)  # changed meanwhile
    # Under a lock nothing is counted, so no counter rows are made either (a locked address
    # spraying random usernames must not grow the table).
    rows = [] if locked_before else throttle.lock_rows(session, keys)
    running = [r.locked_until for r in rows if _locked(r.locked_until, now)]
    reason: str
    if locked_before or running:
        reason = "locked"
    elif user is None:
        reason = "unknown_user"
        throttle.count_failure(rows, keys, now, settings)
    elif not password_ok:
        reason = "wrong_password"
        throttle.count_failure(rows, keys, now, settings)
    elif not user.active:
        reason = "inactive"
    else:
        throttle.count_success(rows)
        user.failed_logins = 0
        user.locked_until = None
        session.flush()
        audit.record(
            session,
            actor=user.username,
            action="auth.login_succeeded",
            object_type="user",
            object_id=user.id,
            details={"channel": channel, "source": source},
        )
        return LoginOutcome(user)
    account = next((r for r in rows if r.scope == "account"), None)
    if user is not None and account is not None:  # mirrored on the user row for people reading it
        user.failed_logins = account.failures
        user.locked_until = account.locked_until
    session.flush()
    if locked_before:
        locked_until = throttle.lock_in_force(session, keys, now)
        ends = [locked_until] if locked_until is not None else []
    else:
        ends = [r.locked_until for r in rows if r.locked_until is not None and r.locked_until > now]
        locked_until = max(ends) if ends else None
    details: dict[str, object] = {
        "username": username[:64],
        "reason": reason,
        "channel": channel,
        "source": source,
    }
    if locked_until is not None:
        details["locked_until"] = locked_until.isoformat()
        if rows:  # which counters are over their limit (pair, source, account)
            details["locked"] = sorted(r.scope for r in rows if r.locked_until in ends)
    audit.record(
        session,
        actor=ANONYMOUS,
        action="auth.login_failed",
        object_type="user",
        object_id=user.id if user is not None else "-",
        details=details,
    )
    return LoginOutcome(None, locked_until)


def _locked(until: dt.datetime | None, now: dt.datetime) -> bool:
    return until is not None and until > now


def start_web_session(session: Session, user: User, settings: Settings) -> tuple[str, WebSession]:
    """A new browser session: returns the raw cookie value (never stored) and the row."""
    raw = new_secret()
    row = WebSession(
        token_hash=token_digest(raw),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        expires_at=utcnow() + dt.timedelta(seconds=settings.session_max_age_seconds),
    )
    session.add(row)
    session.flush()
    return raw, row


def issue_api_token(session: Session, user: User, settings: Settings, *, actor: str) -> tuple[str, ApiToken]:
    """A new bearer token for ``user``: the raw value (shown once) and the stored row."""
    raw = new_secret()
    row = ApiToken(
        token_hash=token_digest(raw),
        user_id=user.id,
        expires_at=utcnow() + dt.timedelta(seconds=settings.api_token_ttl_seconds),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="auth.token_issued",
        object_type="api_token",
        object_id=row.id,
        details={"user_id": user.id, "expires_at": row.expires_at.isoformat()},
    )
    return raw, row


@dataclass(frozen=True)
class Principal:
    """Who is calling and how: through a browser session (CSRF applies) or a bearer token."""

    user: User
    via: Literal["session", "token"]
    credential_id: int
    csrf_token: str | None = None


def principal_for_session(session: Session, raw: str) -> Principal | None:
    """The principal behind a session cookie, or None if unknown, expired or the user inactive."""
    row = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == token_digest(raw))
    ).first()
    if row is None:
        return None
    web, user = row
    if web.expires_at <= utcnow() or not user.active:
        return None
    return Principal(user=user, via="session", credential_id=web.id, csrf_token=web.csrf_token)


def principal_for_token(session: Session, raw: str) -> Principal | None:
    """The principal behind a bearer token, or None if unknown, expired or the user inactive."""
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_digest(raw))
    ).first()
    if row is None:
        return None
    token, user = row
    if token.expires_at <= utcnow() or not user.active:
        return None
    return Principal(user=user, via="token", credential_id=token.id)


def logout(session: Session, principal: Principal) -> None:
    """End the session or revoke the token the principal used; audited as ``auth.logout``."""
    model = WebSession if principal.via == "session" else ApiToken
    session.execute(delete(model).where(model.id == principal.credential_id))
    audit.record(
        session,
        actor=principal.user.username,
        action="auth.logout",
        object_type="web_session" if principal.via == "session" else "api_token",
        object_id=principal.credential_id,
    )
