"""Engines, sessions and the Alembic bridge.

Engines are made by whoever owns the process (the app's lifespan, a CLI command, a test), never at
import time. Transactions are committed at the edge (request, job, CLI command); services only flush.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = REPO_ROOT / "migrations"


def secure_sqlite_file(database: str) -> None:
    """Create the SQLite file ``0600`` in a ``0700`` directory, and tighten them when found looser.

    The file holds phone numbers, the campaign seed and password hashes. The directory is left
    alone when it is not ours to close (another owner's, a sticky one such as /tmp, the home
    directory); the file and its WAL/SHM companions are always made ``0600``.
    """
    path = Path(database)
    directory = path.parent
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = directory.stat()
    if (
        info.st_uid == os.getuid()
        and not info.st_mode & stat.S_ISVTX
        and info.st_mode & 0o077
        and not _is_home(directory)
    ):
        directory.chmod(0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for member in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if member.exists() and member.stat().st_mode & 0o077:
            member.chmod(0o600)


def _is_home(directory: Path) -> bool:
    try:
        return directory.resolve() == Path.home().resolve()
    except RuntimeError:  # no home directory known
        return False


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            secure_sqlite_file(database)
        else:  # one connection per thread (SingletonThreadPool): no pool to size
            for name in ("pool_size", "max_overflow", "pool_timeout"):
                kwargs.pop(name, None)
        connect_args = {"check_same_thread": False, "timeout": 30}
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Autocommit off in the driver so SQLAlchemy's BEGIN is the only transaction control;
            # WAL lets readers run beside one writer; busy_timeout queues writers instead of failing.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock at BEGIN, so two writers queue rather than deadlock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at this repository's migrations and at ``url``."""
    cfg = Config(str(REPO_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema at ``url`` up to ``revision``: the only way a schema is made."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        secure_sqlite_file(parsed.database)
    command.upgrade(alembic_config(url), revision)


def schema_status(url: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(revisions the database is at, head revisions of the code); equal when up to date."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = tuple(sorted(ScriptDirectory.from_config(alembic_config(url)).get_heads()))
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            current = tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
    finally:
        engine.dispose()
    return current, heads
