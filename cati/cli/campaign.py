"""``cati campaign``: import a campaign file, list campaigns, move one to its next status."""

from __future__ import annotations

from pathlib import Path

import click

from cati.campaigns import service
from cati.campaigns.close import close_campaign
from cati.campaigns.instruments import InstrumentError, resolve_instrument
from cati.campaigns.loader import CampaignSpecError, load_campaign_file
from cati.cli.common import CliError, cli_actor, cli_session, data_dir_option, load_settings
from cati.errors import AppError
from cati.models import CampaignStatus, Stratum, utcnow


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
        raise CliError("调查项目未导入 / campaign not imported:\n  " + "\n  ".join(exc.lines())) from None
    except InstrumentError as exc:
        raise CliError(f"调查项目未导入 / campaign not imported:\n  {file}: instrument: {exc}") from None
    try:
        with cli_session(settings) as session:
            created = service.create_campaign(session, spec, instrument=instrument, actor=cli_actor())
            campaign_id, code = created.id, created.code
    except AppError as exc:
        raise CliError(f"调查项目未导入 / campaign not imported: {exc.detail}") from None
    cells = len(spec.districts) * len(Stratum)
    click.echo(
        f"已导入调查项目（草稿），{len(spec.districts)} 个区县，{cells} 个配额单元 / "
        f"campaign {campaign_id} {code}: draft, {len(spec.districts)} districts, {cells} quota cells"
    )


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
            if to == CampaignStatus.closed.value:  # the close of fieldwork, without force
                close_campaign(
                    session, found.id, reason=STATUS_REASON, force=False, actor=cli_actor(), now=utcnow()
                )
                changed = found
            else:
                changed = service.change_status(session, found.id, CampaignStatus(to), actor=cli_actor())
            line = f"调查项目 / campaign {changed.id} {changed.code}: {changed.status}"
            if to == CampaignStatus.published.value:
                line += f", 抽样种子承诺值 / seed commitment {changed.seed_commitment}"
    except AppError as exc:
        raise CliError(str(exc.detail)) from None
    click.echo(line)


#: The reason recorded when a campaign is closed by ``cati campaign status CODE closed``.
STATUS_REASON = "状态改为 closed / status changed to closed"


@campaign.command("close")
@click.argument("code")
@click.option("--reason", required=True, help="Why fieldwork ends (kept in the audit log).")
@click.option("--force", is_flag=True, help="Break off interviews and calls still on the line.")
@data_dir_option
def campaign_close(code: str, reason: str, force: bool, data_dir: Path | None) -> None:
    """Close fieldwork of CODE: code calls in hand, finalise open cases, seal the final results."""
    try:
        with cli_session(load_settings(data_dir)) as session:
            found = service.get_campaign_by_code(session, code)
            done = close_campaign(
                session, found.id, reason=reason, force=force, actor=cli_actor(), now=utcnow()
            )
            finalised = ", ".join(f"{k} x{v}" for k, v in sorted(done.summary.cases_finalised.items())) or "-"
    except AppError as exc:
        raise CliError(str(exc.detail)) from None
    click.echo(f"调查活动 {done.campaign_id} {done.code} 已结束 / closed")
    click.echo(f"  未结束样本的最终结果 / open cases finalised: {finalised}")
    if done.summary.interviews_broken_off or done.summary.calls_ended:
        click.echo(
            f"  中断的访问 / interviews broken off: {done.summary.interviews_broken_off}, "
            f"结束的呼叫 / calls ended: {done.summary.calls_ended}"
        )
    click.echo(f"  结果摘要 / results sha256: {done.results_sha256}")
