"""``cati simpbx``: runs until SIGTERM, prints where it listens, refuses bad options with exit 2."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cati.cli import cli
from dialer.simpbx.rawclient import RawAmiClient

pytestmark = pytest.mark.timeout(60)


async def test_runs_answers_ami_and_stops_on_sigterm(tmp_path: Path) -> None:
    model = tmp_path / "model.yaml"
    model.write_text("defaults: {working_share: 0.7}\n")
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "cati"),
        "simpbx",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--username",
        "u",
        "--secret",
        "s",
        "--seed",
        "7",
        "--speed",
        "60",
        "--start",
        "2026-03-03T19:00",
        "--model",
        str(model),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        match = re.search(r"listening on ([\d.]+):(\d+)", line)
        assert match, line
        client = RawAmiClient()
        await client.connect(match.group(1), int(match.group(2)))
        assert (await client.login("u", "s"))["Message"] == "Authentication accepted"
        client.send(
            "Originate",
            Channel="Local/5551002@respondents",
            Context="interviewer",
            Exten="1000",
            Async="true",
            ChannelId="cli-1",
        )
        response = await client.wait_for(lambda m: m.event == "OriginateResponse", timeout=10)
        assert response["Reason"] == "5"
        await client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(proc.wait(), 15)
    assert rc == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--port", "70000"], "--port"),
        (["--speed", "0"], "--speed"),
        (["--start", "next tuesday"], "--start"),
        (["--tz", "Mars/Olympus"], "--tz"),
        (["--model", "/nonexistent/model.yaml"], "cannot read model file"),
    ],
)
def test_bad_options_exit_2_with_one_line(args: list[str], needle: str) -> None:
    result = CliRunner().invoke(cli, ["simpbx", "--username", "u", "--secret", "s", *args])
    assert result.exit_code == 2
    assert needle in result.stderr and result.stderr.startswith("error:")
    assert result.stdout == ""


def test_bad_model_file_names_the_field(tmp_path: Path) -> None:
    model = tmp_path / "m.yaml"
    model.write_text("defaults: {busy: 2}\n")
    result = CliRunner().invoke(cli, ["simpbx", "--username", "u", "--secret", "s", "--model", str(model)])
    assert result.exit_code == 2 and "busy must be between 0 and 1" in result.stderr


def test_missing_credentials_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["simpbx", "--username", "u"])
    assert result.exit_code == 2 and "--secret" in result.stderr
