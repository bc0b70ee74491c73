"""``cati campaign``: import a campaign file, list campaigns, move one to its next status."""

from __future__ import annotations

from pathlib import Path

import click

from cati.campaigns import service
from cati.campaigns.instruments import InstrumentError, resolve_instrument
from cati.campaigns.loader import CampaignSpecError, load_campaign_file
from cati.cli.common import CliError, cli_actor, cli_session, data_dir_option, load_settings
from cati.errors import AppError
from cati.models import CampaignStatus, Stratum


@click.group()
def campaign() -> None:
    """Survey campaigns: districts, prefixes, quota cells, calling windows."""


@campaign.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@data_dir_option
def campaign_import(file: Path, data_dir: Path | None) -> None:
    """Validate FILE (YAML) and store it as a draft campaign; prints its id and code."""
    settings = load_settings(data_dir)
    try:
        spec = load_campaign_file(file)
        instrument = resolve_instrument(
            spec.instrument, base_dir=file.resolve().parent, extra_dir=settings.instruments_dir
        )
    except CampaignSpecError as exc:
        raise CliError("campaign not imported:\n  " + "\n  ".join(exc.lines())) from None
    except InstrumentError as exc:
        raise CliError(f"campaign not imported:\n  {file}: instrument: {exc}") from None
    try:
        with cli_session(settings) as session:
            created = service.create_campaign(session, spec, instrument=instrument, actor=cli_actor())
            campaign_id, code = created.id, created.code
    except AppError as exc:
        raise CliError(f"campaign not imported: {exc.detail}") from None
    cells = len(spec.districts) * len(Stratum)
    click.echo(f"campaign {campaign_id} {code}: draft, {len(spec.districts)} districts, {cells} quota cells")


@campaign.command("list")
@data_dir_option
def campaign_list(data_dir: Path | None) -> None:
    """One line per campaign: id, code, status, name."""
    with cli_session(load_settings(data_dir)) as session:
        for c in service.list_campaigns(session):
            click.echo(f"{c.id}\t{c.code}\t{c.status}\t{c.name_zh}")


@campaign.command("status")
@click.argument("code")
@click.argument("to", type=click.Choice([s.value for s in CampaignStatus]))
@data_dir_option
def campaign_status(code: str, to: str, data_dir: Path | None) -> None:
    """Move campaign CODE to status TO (draft -> published -> fieldwork -> closed)."""
    try:
        with cli_session(load_settings(data_dir)) as session:
            found = service.get_campaign_by_code(session, code)
            changed = service.change_status(session, found.id, CampaignStatus(to), actor=cli_actor())
            line = f"campaign {changed.id} {changed.code}: {changed.status}"
            if to == CampaignStatus.published.value:
                line += f", seed commitment {changed.seed_commitment}"
    except AppError as exc:
        raise CliError(str(exc.detail)) from None
    click.echo(line)
