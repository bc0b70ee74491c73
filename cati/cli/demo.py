"""``cati demo``: the whole survey on embedded defaults, visibly in progress within a minute.

SQLite in the data directory, the dialer on with the built-in simulated PBX, the Zibo example
campaign in fieldwork, demo accounts for every role (new passwords printed on every start), and
simulated interviewers answering calls through the console API while a person may take calls in
the browser as ``iv00``. Ctrl-C or SIGTERM stops it cleanly. The runner is ``cati.demo.run``.
"""

from __future__ import annotations

import asyncio
import socket
import unicodedata
from pathlib import Path

import click

from cati.cli.common import CliError, data_dir_option, load_settings
from cati.demo.run import (
    SHANGHAI,
    DemoError,
    DemoOptions,
    DemoRun,
    DemoSetup,
    data_flag,
    prepare_demo,
    run_demo,
    write_logins,
)
from cati.settings import Settings

ROLE_HINTS = ("iv00", "supervisor", "assessor", "witness", "jiwei", "kaohe", "admin")


def _check_port(host: str, port: int, options: DemoOptions) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise CliError(options.t("port_busy", host=host, port=port, why=exc.strerror or exc)) from None


def _pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns (a Chinese character takes two)."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(1, width - used)


def banner(
    settings: Settings, options: DemoOptions, setup: DemoSetup, url: str, logins_file: Path | None
) -> str:
    """What the demo prints once it is serving: address, logins, what to click, how to get results
    (zh-CN first; ``--lang en`` for English)."""
    t = options.t
    start = settings.sim_start.astimezone(SHANGHAI) if settings.sim_start else None
    simulated = setup.simulated
    crew = t("crew_none")
    if simulated:
        crew = f"{len(simulated)} ({simulated[0].username}-{simulated[-1].username})"
    quota = t("quota_each", quota=options.quota) if options.quota else t("quota_campaign")
    data = settings.effective_database_url.split("@")[-1]
    pbx = settings.pbx_label if settings.ami_host else t("builtin_pbx")
    clock = t("clock", speed=f"{options.speed:g}") + (
        t("clock_from", start=f"{start:%Y-%m-%d %H:%M}") if start else ""
    )
    lines = [
        "",
        t("title"),
        f"  {_pad(t('address'), 12)}{url}/",
        f"  {_pad(t('data'), 12)}{data}",
        f"  {_pad(t('campaign'), 12)}"
        + t("campaign_line", code=setup.campaign_code, id=setup.campaign_id, quota=quota),
        f"  {_pad('', 12)}{t('windows')}",
        f"  {_pad(t('telephony'), 12)}{pbx}{clock}",
        f"  {_pad(t('crew'), 12)}{crew}",
        "",
        t("logins", file=t("logins_file", file=logins_file) if logins_file else ""),
    ]
    for a in sorted(setup.accounts, key=lambda a: a.username != "iv00"):
        if a.simulated:
            continue
        hint = t(f"hint.{a.username}", url=url, id=setup.campaign_id) if a.username in ROLE_HINTS else ""
        lines.append(f"  {a.role.value:<12}{a.username:<12}{a.password:<16}{hint}")
    if simulated:
        lines.append(f"  {'interviewer':<12}{'iv01..':<12}{_pad(t('simulated'), 16)}{t('simulated_hint')}")
    results = f"{url}/api/v1/campaigns/{setup.campaign_id}"
    lines += [
        "",
        t("results_title", url=url),
        f"  {url}/campaigns/{setup.campaign_id}/results   {t('results_page')}",
        f"  {results}/results                 {t('results_json')}",
        f"  {results}/exports/responses.csv   {t('results_csv')}",
        t("second_shell", code=setup.campaign_code),
        f"  cati results export {setup.campaign_code}{data_flag(settings)} -o responses.csv"
        " && cati score responses.csv",
        "",
        t("progress_note"),
    ]
    return "\n".join(lines)


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@data_dir_option
@click.option(
    "--quota",
    default=8,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Completes wanted per quota cell (district x stratum).",
)
@click.option(
    "--interviewers",
    default=8,
    show_default=True,
    type=click.IntRange(0, 200),
    help="Simulated interviewers (0: only people in the browser).",
)
@click.option(
    "--speed",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0.1, 1000),
    help="Service clock speed: ring, talk, retry delays and appointments run this much faster.",
)
@click.option("--seed", default="1", show_default=True, help="Seed of the simulated PBX and respondents.")
@click.option(
    "--districts",
    default=None,
    type=click.IntRange(1, 100),
    help="Keep only the first N districts of the example (first start of a data dir only).",
)
@click.option("--exit-when-done", is_flag=True, help="Stop once every quota cell is full.")
@click.option("--prepare-only", is_flag=True, help="Set up the data and accounts, print the logins and exit.")
@click.option(
    "--lang",
    type=click.Choice(["zh-CN", "zh", "en"], case_sensitive=False),
    default="zh-CN",
    show_default=True,
    help="Language of the terminal output: 中文 (zh-CN) first, en for English.",
)
@click.option("--ack-log", type=click.Path(dir_okay=False, path_type=Path), default=None, hidden=True)
def demo(
    host: str,
    port: int,
    data_dir: Path | None,
    quota: int,
    interviewers: int,
    speed: float,
    seed: str,
    districts: int | None,
    exit_when_done: bool,
    prepare_only: bool,
    lang: str,
    ack_log: Path | None,
) -> None:
    """Run the whole survey on SQLite with the simulated PBX and simulated interviewers."""
    base = load_settings(data_dir)
    options = DemoOptions(
        host=host,
        port=port,
        quota=quota,
        interviewers=interviewers,
        speed=speed,
        seed=seed,
        districts=districts,
        exit_when_done=exit_when_done,
        lang="en" if lang.lower() == "en" else "zh-CN",
        ack_log=ack_log,
    )
    from cati.demo.run import demo_settings

    settings = demo_settings(base, options)
    if not prepare_only:
        _check_port(host, port, options)
    try:
        setup = prepare_demo(settings, options)
    except DemoError as exc:
        raise CliError(str(exc)) from None
    settings = demo_settings(settings, options, setup.last_call_at)
    for note in setup.notes:
        click.echo(note)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
    logins_file: Path | None = None
    if not settings.database_url:
        logins_file = settings.data_dir / "demo-logins.txt"
        write_logins(logins_file, setup, url)
    click.echo(banner(settings, options, setup, url, logins_file))
    if prepare_only:
        return

    async def started(run: DemoRun) -> None:
        click.echo("\n" + options.t("serving", url=run.base_url) + "\n")

    try:
        stats = asyncio.run(
            run_demo(settings, options, setup, say=click.echo, started=started, handle_signals=True)
        )
    except DemoError as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        click.echo(options.t("stopped"))
        return
    outcomes = ", ".join(f"{_outcome(options, k)} {v}" for k, v in sorted(stats.outcomes.items()))
    click.echo(options.t("stopped_stats", calls=stats.calls, outcomes=outcomes or options.t("none")))


def _outcome(options: DemoOptions, key: str) -> str:
    """A simulated call's outcome in the demo's language (the key itself if it has no word yet)."""
    try:
        return options.t(f"outcome.{key}")
    except KeyError:
        return key
