"""Shared fixtures. Database tests run once on SQLite and once on PostgreSQL.

A schema is always built by the Alembic migrations: once per test session into a template (a
PostgreSQL template database, a SQLite file), then copied for each test, which is fast and keeps
tests independent.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from support import Users

from cati.app import create_app
from cati.campaigns.instruments import BUILTIN_DIR
from cati.db import make_engine, upgrade
from cati.settings import Settings

PG_ADMIN_URL = os.environ.get("CATI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = [b for b in os.environ.get("CATI_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


def _pg_admin() -> Engine:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def _pg_url(dbname: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=dbname).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Migrated template per backend: a SQLite file path, a PostgreSQL database name."""
    out: dict[str, str] = {}
    pg_template = f"cati_tpl_{os.getpid()}"
    if "sqlite" in BACKENDS:
        path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
        upgrade(f"sqlite:///{path}")
        out["sqlite"] = str(path)
    if "postgresql" in BACKENDS:
        admin = _pg_admin()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_template}"'))
            conn.execute(text(f'CREATE DATABASE "{pg_template}"'))
        upgrade(_pg_url(pg_template))
        out["postgresql"] = pg_template
        admin.dispose()
    yield out
    if "postgresql" in out:
        admin = _pg_admin()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_template}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, _templates: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, fully migrated database for one test, on each backend in turn."""
    backend: str = request.param
    if backend == "sqlite":
        path = tmp_path / "cati.sqlite3"
        shutil.copyfile(_templates["sqlite"], path)
        yield f"sqlite:///{path}"
        return
    name = f"cati_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_templates["postgresql"]}"'))
    try:
        yield _pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def backend(db_url: str) -> str:
    return make_url(db_url).get_backend_name()


# ---- the service over HTTP ----------------------------------------------------------------------


@pytest.fixture
def instruments_dir(tmp_path: Path) -> Path:
    """CATI_INSTRUMENTS_DIR for a test: a copy of the built-in instrument as ``local-copy.yaml``."""
    d = tmp_path / "instruments"
    d.mkdir()
    shutil.copyfile(BUILTIN_DIR / "satisfaction.yaml", d / "local-copy.yaml")
    return d


@pytest.fixture
def settings(db_url: str, instruments_dir: Path, tmp_path: Path) -> Settings:
    """Settings for one test's service: its own database, cheap Argon2 (a test speed-up only)."""
    return Settings(
        env="test",
        database_url=db_url,
        data_dir=tmp_path / "data",
        instruments_dir=instruments_dir,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        login_max_failures=3,
        login_lockout_seconds=60,
        dialer=False,  # no telephony unless a test asks for it (tests/test_dialing_*.py)
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client on a freshly built app; the lifespan runs (engine made, then disposed)."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def users(settings: Settings, engine: Engine) -> Users:
    return Users(settings, engine)
