"""``cati results``: the campaign's results and responses export straight from the database.

The same functions as ``GET /api/v1/campaigns/{id}/results`` and ``.../exports/responses.csv``, for
a shell on the server (``--data-dir`` / ``CATI_DATA_DIR`` reach a running demo's data).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from sqlalchemy.orm import Session

from cati.campaigns.service import get_campaign, get_campaign_by_code
from cati.cli.common import CliError, cli_session, data_dir_option, load_settings, write_atomically
from cati.errors import AppError
from cati.models import Campaign
from cati.results import service
from cati.results.sealing import lang_of, require_scores_open, withhold_scores

lang_option = click.option(
    "--lang", default="zh-CN", show_default=True, help="Language of messages: zh-CN or en."
)


def _campaign(session: Session, ref: str) -> Campaign:
    return get_campaign(session, int(ref)) if ref.isdigit() else get_campaign_by_code(session, ref)


@click.group()
def results() -> None:
    """Scores, AAPOR rates and the responses export of a campaign."""


@results.command("show")
@click.argument("campaign")
@lang_option
@data_dir_option
def results_show(campaign: str, lang: str, data_dir: Path | None) -> None:
    """Print the results JSON of CAMPAIGN (id or code), as the results API gives it (scores sealed
    until close)."""
    settings = load_settings(data_dir)
    try:
        with cli_session(settings) as session:
            row = _campaign(session, campaign)
            out = withhold_scores(service.campaign_results(session, row.id), row, lang_of(lang))
    except AppError as exc:
        raise CliError(str(exc.detail)) from None
    click.echo(json.dumps(out, ensure_ascii=False, indent=2))


@results.command("export")
@click.argument("campaign")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write (default: standard output).",
)
@click.option("--all", "include_all", is_flag=True, help="Also screen-outs and break-offs.")
@lang_option
@data_dir_option
def results_export(
    campaign: str, output: Path | None, include_all: bool, lang: str, data_dir: Path | None
) -> None:
    """Write the responses CSV of CAMPAIGN (UTF-8 with BOM, codes, no phone numbers); read it with
    ``cati score``. Refused (exit 2) while the scores are sealed (before close)."""
    settings = load_settings(data_dir)
    try:
        with cli_session(settings) as session:
            row = _campaign(session, campaign)
            require_scores_open(row, lang_of(lang))
            export = service.export_rows(session, row.id, include_all=include_all)
    except AppError as exc:
        raise CliError(str(exc.detail)) from None
    body = service.export_csv(export)
    if output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(body)
        return
    try:
        output.write_bytes(body)
    except OSError as exc:
        raise CliError(f"无法写入 {output} / {output}: cannot write: {exc.strerror or exc}") from None
    rows = len(export.rows)
    click.echo(f"已写入 {rows} 行到 {output} / {rows} rows written to {output}", err=True)


@results.command("bundle")
@click.argument("campaign")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The zip to write."
)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--lang", type=click.Choice(("zh-CN", "en")), default="zh-CN", show_default=True)
@data_dir_option
def results_bundle(campaign: str, output: Path, force: bool, lang: str, data_dir: Path | None) -> None:
    """Write the verification kit of closed CAMPAIGN (id or code) to OUTPUT; check it with ``cati verify``."""
    from cati.bundle.service import build_bundle

    en = lang == "en"
    if output.exists() and not force:
        raise CliError(
            f"{output} already exists: pass --force to replace it"
            if en
            else f"{output} 已存在；用 --force 覆盖"
        )
    settings = load_settings(data_dir)
    try:
        with cli_session(settings) as session:
            data = build_bundle(session, _campaign(session, campaign).id)
    except AppError as exc:
        raise CliError(str(exc.detail)) from None
    _write_atomically(output, data, en)
    click.echo(
        f"verification kit written to {output} ({len(data)} bytes); check it with: cati verify {output}"
        if en
        else f"核验包已写入 {output}（{len(data)} 字节）；核验：cati verify {output}",
        err=True,
    )


def _write_atomically(output: Path, data: bytes, en: bool) -> None:
    try:
        write_atomically(output, data)
    except OSError as exc:
        raise CliError(f"{output}: {'cannot write' if en else '无法写入'}: {exc.strerror or exc}") from None
