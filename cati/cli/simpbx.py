"""``cati simpbx``: run the simulated Asterisk PBX (AMI over TCP) until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import datetime
from pathlib import Path

import click

from cati.cli.common import CliError
from dialer.simpbx import ModelError, SimPbx, SimPbxConfig, load_model
from dialer.simpbx.clock import DEFAULT_TZ


@click.command("simpbx")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5038, show_default=True, type=int, help="TCP port (0 = any free port).")
@click.option("--username", required=True, help="AMI username clients log in with.")
@click.option("--secret", required=True, help="AMI secret clients log in with.")
@click.option("--seed", default="0", show_default=True, help="Seed of the respondent model.")
@click.option(
    "--speed", default=1.0, show_default=True, type=float, help="Simulated seconds per real second."
)
@click.option("--start", "start_text", default=None, help="Simulated start, ISO 8601 (default: now).")
@click.option("--tz", default=DEFAULT_TZ, show_default=True, help="Time zone of the simulated clock.")
@click.option("--model", "model_path", default=None, type=click.Path(path_type=Path), help="YAML model file.")
def simpbx(
    host: str,
    port: int,
    username: str,
    secret: str,
    seed: str,
    speed: float,
    start_text: str | None,
    tz: str,
    model_path: Path | None,
) -> None:
    """Simulated Asterisk 22 PBX speaking AMI, with a seeded respondent model."""
    if not 0 <= port <= 65535:
        raise CliError(f"--port must be between 0 and 65535, got {port}")
    if not speed > 0 or speed > 100000:
        raise CliError(f"--speed must be above 0 and at most 100000, got {speed}")
    if not username or not secret:
        raise CliError("--username and --secret must not be empty")
    start = None
    if start_text is not None:
        try:
            start = datetime.fromisoformat(start_text)
        except ValueError as exc:
            raise CliError(f"--start is not an ISO 8601 datetime: {start_text!r}") from exc
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(tz)
    except Exception as exc:
        raise CliError(f"--tz is not a known time zone: {tz!r}") from exc
    try:
        spec = load_model(model_path) if model_path is not None else None
    except ModelError as exc:
        raise CliError(str(exc)) from exc
    config = SimPbxConfig(
        username=username, secret=secret, seed=seed, speed=speed, start=start, tz=tz, model=spec
    )
    try:
        asyncio.run(_serve(config, host, port))
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


async def _serve(config: SimPbxConfig, host: str, port: int) -> None:
    pbx = SimPbx(config)
    bound_host, bound_port = await pbx.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    click.echo(
        f"simpbx listening on {bound_host}:{bound_port} (AMI, user {config.username}, seed {config.seed}, "
        f"speed {config.speed:g}, start {pbx.clock.start.isoformat(timespec='seconds')})",
    )
    try:
        await stop.wait()
    finally:
        await pbx.stop()
        s = pbx.stats
        click.echo(
            f"模拟交换机已停止 / simpbx stopped: {s.originates} originates, {s.events_published} events",
            err=True,
        )
