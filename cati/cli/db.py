"""``cati db``: schema management through the Alembic migrations."""

from __future__ import annotations

from pathlib import Path

import click

from cati.cli.common import data_dir_option, load_settings
from cati.db import upgrade


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@data_dir_option
def db_upgrade(revision: str, data_dir: Path | None) -> None:
    """Apply the migrations up to REVISION (the only way a schema is made)."""
    settings = load_settings(data_dir)
    upgrade(settings.effective_database_url, revision)
    where = settings.effective_database_url.split("@")[-1]
    click.echo(f"数据库已升级到 {revision} / database at {revision}: {where}")
