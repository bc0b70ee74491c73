"""``cati demo``: the service on embedded defaults with the example campaign loaded.

First run: the SQLite schema is made, ``examples/zibo.yaml`` is imported and an ``admin`` user is
created with a random password that is printed once. Later runs reuse the same data directory.
Later issues extend this into a whole simulated survey.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import click
from sqlalchemy import func, select

from cati.auth.service import create_user
from cati.campaigns import service as campaigns
from cati.campaigns.instruments import resolve_instrument
from cati.campaigns.loader import load_campaign_file
from cati.cli.common import cli_actor, cli_session, data_dir_option, load_settings
from cati.cli.serve import serve
from cati.db import REPO_ROOT, upgrade
from cati.errors import NotFound
from cati.models import User
from cati.settings import Settings

EXAMPLE = REPO_ROOT / "examples" / "zibo.yaml"


def prepare_demo(settings: Settings) -> list[str]:
    """Make the schema, import the example campaign and an admin if missing; lines to show."""
    upgrade(settings.effective_database_url)
    lines: list[str] = []
    spec = load_campaign_file(EXAMPLE)
    with cli_session(settings) as session:
        try:
            campaigns.get_campaign_by_code(session, spec.code)
        except NotFound:
            instrument = resolve_instrument(spec.instrument, base_dir=EXAMPLE.parent)
            created = campaigns.create_campaign(session, spec, instrument=instrument, actor=cli_actor())
            lines.append(f"imported campaign {created.id} {created.code} from {EXAMPLE.name}")
        if session.execute(select(func.count()).select_from(User)).scalar_one() == 0:
            password = secrets.token_urlsafe(12)
            create_user(
                session,
                username="admin",
                role="admin",
                password=password,
                settings=settings,
                actor=cli_actor(),
            )
            lines.append(f"created user admin with password {password} (shown once)")
    return lines


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--prepare-only", is_flag=True, help="Set up the data and exit without serving.")
@data_dir_option
@click.pass_context
def demo(ctx: click.Context, host: str, port: int, prepare_only: bool, data_dir: Path | None) -> None:
    """Run the service on SQLite with the Zibo example campaign loaded."""
    settings = load_settings(data_dir)
    for line in prepare_demo(settings):
        click.echo(line)
    click.echo(f"sign in at http://{host}:{port}/login")
    if not prepare_only:
        ctx.invoke(serve, host=host, port=port, data_dir=data_dir)
