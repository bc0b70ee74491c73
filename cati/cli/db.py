"""``cati db``: schema management through the Alembic migrations."""

from __future__ import annotations

import click

from cati.cli.common import load_settings
from cati.db import upgrade


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Apply the migrations up to REVISION (the only way a schema is made)."""
    settings = load_settings()
    upgrade(settings.effective_database_url, revision)
    click.echo(f"database at {revision}: {settings.effective_database_url.split('@')[-1]}")
