"""``cati demo``: the whole survey on embedded defaults, visibly in progress within a minute.

SQLite in the data directory, the dialer on with the built-in simulated PBX, the Zibo example
campaign in fieldwork, demo accounts for every role (new passwords printed on every start), and
simulated interviewers answering calls through the console API while a person may take calls in
the browser as ``iv00``. Ctrl-C or SIGTERM stops it cleanly. The runner is ``cati.demo.run``.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import click

from cati.cli.common import CliError, data_dir_option, load_settings
from cati.demo.run import (
    SHANGHAI,
    DemoError,
    DemoOptions,
    DemoRun,
    DemoSetup,
    prepare_demo,
    run_demo,
    write_logins,
)
from cati.settings import Settings

ROLE_HINTS = {
    "iv00": "you: open {url}/console, sign in, press Ready and take the next call",
    "supervisor": "runs fieldwork; may read results and the dialer status ({url}/api/v1/dialer/status)",
    "assessor": "the assessment office: results and the responses export",
    "witness": "watches read-only (no personal data)",
    "admin": "everything: users, campaigns",
}


def _check_port(host: str, port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise CliError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} (choose another --port)"
            ) from None


def banner(
    settings: Settings, options: DemoOptions, setup: DemoSetup, url: str, logins_file: Path | None
) -> str:
    """What the demo prints once it is serving: address, logins, what to click, how to get results."""
    start = settings.sim_start.astimezone(SHANGHAI) if settings.sim_start else None
    simulated = setup.simulated
    crew = f"{len(simulated)} ({simulated[0].username}-{simulated[-1].username})" if simulated else "none"
    quota = f"{options.quota} completes per district and stratum" if options.quota else "the campaign's quota"
    data = settings.effective_database_url.split("@")[-1]
    lines = [
        "",
        "CATI demo · 群众满意度电话调查演示",
        f"  address     {url}/",
        f"  data        {data}",
        f"  campaign    {setup.campaign_code} (id {setup.campaign_id}) in fieldwork, {quota};",
        "              demo calling windows 08:00-22:00 every day for both strata",
        f"  telephony   {settings.pbx_label}; service clock {options.speed:g}x"
        + (f" from {start:%a %Y-%m-%d %H:%M} Shanghai" if start else ""),
        f"  simulated interviewers  {crew}",
        "",
        "Logins (new passwords on every start" + (f"; also in {logins_file}):" if logins_file else "):"),
    ]
    for a in sorted(setup.accounts, key=lambda a: a.username != "iv00"):
        if a.simulated:
            continue
        hint = ROLE_HINTS.get(a.username, "").format(url=url)
        lines.append(f"  {a.role.value:<12}{a.username:<12}{a.password:<16}{hint}")
    if simulated:
        lines.append(
            f"  {'interviewer':<12}{'iv01..':<12}{'(simulated)':<16}"
            "working through the same API as the browser"
        )
    results = f"{url}/api/v1/campaigns/{setup.campaign_id}"
    data_flag = (
        ""
        if settings.database_url or settings.data_dir == Path("cati-data")
        else f" --data-dir {settings.data_dir}"
    )
    lines += [
        "",
        "Results (sign in as assessor, supervisor or admin at " + url + "/login first);",
        f"district scores stay sealed until close (cati campaign close {setup.campaign_code} --reason ...):",
        f"  {url}/campaigns/{setup.campaign_id}/results   results page: table, charts, downloads",
        f"  {results}/results                 scores, AAPOR rates, counts (JSON)",
        f"  {results}/exports/responses.csv   one row per questionnaire (Excel-ready, after close)",
        "After close, from a second shell, with the same data directory:",
        f"  cati results export {setup.campaign_code}{data_flag} -o responses.csv"
        " && cati score responses.csv",
        "",
        "Progress is printed every few seconds. Ctrl-C stops.",
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
    )
    from cati.demo.run import demo_settings

    settings = demo_settings(base, options)
    if not prepare_only:
        _check_port(host, port)
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
        click.echo(f"\nserving on {run.base_url}/ · simulated interviewers at work\n")

    try:
        stats = asyncio.run(
            run_demo(settings, options, setup, say=click.echo, started=started, handle_signals=True)
        )
    except DemoError as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        click.echo("stopped")
        return
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(stats.outcomes.items())) or "none"
    click.echo(f"stopped. simulated calls {stats.calls}; outcomes: {outcomes}")
