"""``cati serve``: run the web service with uvicorn."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import click

from cati.cli.common import CliError, data_dir_option, load_settings
from cati.db import schema_status, upgrade


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@data_dir_option
def serve(host: str, port: int, data_dir: Path | None) -> None:
    """Serve the API and web pages.

    In development on the embedded SQLite database the schema is upgraded automatically; with
    CATI_DATABASE_URL the schema must be brought up first with ``cati db upgrade``.
    """
    import uvicorn

    from cati.app import create_app

    settings = load_settings(data_dir)
    url = settings.effective_database_url
    if settings.env == "development" and not settings.database_url:
        upgrade(url)
    else:
        try:
            current, heads = schema_status(url)
        except Exception as exc:
            raise CliError(
                f"无法连接数据库 / cannot reach the database: {exc.__class__.__name__}: {exc}"
            ) from None
        if current != heads:
            at = ", ".join(current) or "empty"
            raise CliError(
                f"数据库结构版本落后，请先运行 `cati db upgrade` / database schema is behind "
                f"(at {at}, code needs {', '.join(heads)}): run `cati db upgrade`"
            )
    from cati.checkpoints import KeyFileError, SignerSource

    try:  # the audit signing key: created now on first start, a bad one stops here (docs/audit.md)
        fingerprint = SignerSource(settings).get().fingerprint
    except KeyFileError as exc:
        raise CliError(str(exc.detail)) from None
    click.echo(f"审计签名公钥指纹 / audit signing key fingerprint: {fingerprint}", err=True)
    click.echo(f"服务已启动 / serving on http://{host}:{port}/ (data: {url.split('@')[-1]})", err=True)
    if settings.dialer:
        click.echo(f"telephony: {settings.pbx_label}", err=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", log_config=log_config())


def log_config() -> dict[str, Any]:
    """uvicorn's logging plus the service's own loggers on the console.

    Without this only uvicorn's loggers have a handler, and the service's INFO lines (the PBX link
    coming up, reconnecting) never reach the operator.
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["cati"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config["loggers"]["dialer"] = {"handlers": ["default"], "level": "WARNING", "propagate": False}
    return config
