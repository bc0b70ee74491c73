"""Login back-off: failed logins counted under three keys, each with its own limit.

* ``pair`` — one username from one client address (``CATI_LOGIN_MAX_FAILURES``, 5): someone
  guessing one account locks that account *for their own address only*; its owner elsewhere can
  still sign in.
* ``source`` — one client address over all usernames (``CATI_LOGIN_SOURCE_MAX_FAILURES``, 30):
  one address trying many accounts (password spraying) is stopped, every login from it refused.
* ``account`` — one username from all addresses (``CATI_LOGIN_ACCOUNT_MAX_FAILURES``, 50): many
  addresses guessing one account together still lock it for everyone (the price of stopping a
  distributed guess; the limit is ten times the per-address one so a single address cannot do it).

A lock lasts ``CATI_LOGIN_LOCKOUT_SECONDS`` and doubles with every further failure once it has run
out (at most a day); a count is forgotten an hour after its last failure. A successful login
clears its ``pair`` and ``account`` counts, never the address's (a valid account must not let an
address reset its spraying count). Keys are the username as typed, so an unknown username is
throttled exactly like a known one and the answers still do not tell which usernames exist.
The client address is the connection's (``request.client.host``); behind a reverse proxy run
uvicorn with ``--forwarded-allow-ips`` for that proxy, or all users share the proxy's address.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cati.models import LoginThrottle
from cati.settings import Settings

MAX_LOCK = dt.timedelta(days=1)
#: A count with no failure for this long starts again from zero.
FAILURE_MEMORY = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Key:
    scope: str
    key: str
    limit: int


def keys_for(username: str, source: str, settings: Settings) -> list[Key]:
    """The three counters one login attempt touches, in a fixed order (the row-lock order)."""
    name, address = username[:64], (source or "-")[:100]
    return sorted(
        [
            Key("account", name, settings.login_account_max_failures),
            Key("pair", f"{address} {name}", settings.login_max_failures),
            Key("source", address, settings.login_source_max_failures),
        ],
        key=lambda k: (k.scope, k.key),
    )


def _running(until: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    return until if until is not None and until > now else None


def lock_in_force(session: Session, keys: list[Key], now: dt.datetime) -> dt.datetime | None:
    """The latest end of a lock running under any of ``keys`` (a plain read), else None."""
    rows = session.execute(
        select(LoginThrottle.locked_until).where(
            tuple_(LoginThrottle.scope, LoginThrottle.key).in_([(k.scope, k.key) for k in keys])
        )
    ).scalars()
    ends = [until for until in rows if until is not None and until > now]
    return max(ends) if ends else None


def lock_rows(session: Session, keys: list[Key]) -> list[LoginThrottle]:
    """The counter rows of ``keys``, made if missing and row-locked (in the order of ``keys``)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for k in keys:
        session.execute(
            insert(LoginThrottle)
            .values(scope=k.scope, key=k.key, failures=0)
            .on_conflict_do_nothing(index_elements=["scope", "key"])
        )
    rows: list[LoginThrottle] = []
    for k in keys:
        row = session.execute(
            select(LoginThrottle)
            .where(LoginThrottle.scope == k.scope, LoginThrottle.key == k.key)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one()
        rows.append(row)
    return rows


def count_failure(rows: list[LoginThrottle], keys: list[Key], now: dt.datetime, settings: Settings) -> None:
    """One more failure under each key; a key over its limit gets a (doubling) lock."""
    for row, k in zip(rows, keys, strict=True):
        if (
            row.last_failure_at is not None
            and now - row.last_failure_at > FAILURE_MEMORY
            and not _running(row.locked_until, now)
        ):
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        over = row.failures - k.limit
        if over >= 0:
            lock = dt.timedelta(seconds=settings.login_lockout_seconds) * (2 ** min(over, 16))
            row.locked_until = now + min(lock, MAX_LOCK)


def count_success(rows: list[LoginThrottle]) -> None:
    """A successful login clears the account's counts; the address keeps its own."""
    for row in rows:
        if row.scope != "source":
            row.failures = 0
            row.locked_until = None


def retry_after_seconds(until: dt.datetime, now: dt.datetime) -> int:
    """Whole seconds until ``until`` (at least 1), for a ``Retry-After`` header."""
    return max(1, math.ceil((until - now).total_seconds()))


def clear_account(session: Session, username: str) -> None:
    """Forget the failures and locks of ``username`` (its password was just reset by an operator)."""
    name = username[:64]
    session.execute(
        delete(LoginThrottle).where(
            or_(
                (LoginThrottle.scope == "account") & (LoginThrottle.key == name),
                (LoginThrottle.scope == "pair") & LoginThrottle.key.endswith(" " + name, autoescape=True),
            )
        )
    )
