"""The ``cati`` commands a user types: user create, audit verify, serve, and CATI_DATA_DIR."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, update

from cati.cli import cli
from cati.models import AuditEntry, User

CHEAP_HASH = {"CATI_ARGON2_TIME_COST": "1", "CATI_ARGON2_MEMORY_KIB": "1024"}


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args, env={**CHEAP_HASH, **env}, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_user_create_from_stdin(db_url: str, engine: Engine) -> None:
    env = {"CATI_DATABASE_URL": db_url}
    code, out, err = run(
        [
            "user",
            "create",
            "--username",
            "zhang",
            "--role",
            "interviewer",
            "--extension",
            "8001",
            "--display-name",
            "张三",
            "--password-stdin",
        ],
        env,
        stdin="a long passphrase\n",
    )
    assert code == 0, err
    assert out == "已创建用户 1 zhang（interviewer）/ user 1 zhang (interviewer) created\n"
    with engine.connect() as c:
        user = c.execute(select(User.role, User.extension, User.display_name, User.password_hash)).one()
        actions = c.execute(select(AuditEntry.action, AuditEntry.actor)).all()
    assert user[:3] == ("interviewer", "8001", "张三") and user[3].startswith("$argon2id$")
    assert actions[0][0] == "user.created" and actions[0][1].startswith("cli:")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--role", "admin", "--password-stdin"], "short\n", "at least 8 characters"),
        (["--role", "admin"], "not a tty\n", "--password-stdin"),
        (["--role", "emperor", "--password-stdin"], "a long passphrase\n", "emperor"),
        (["--role", "admin", "--extension", "80a1", "--password-stdin"], "a long passphrase\n", "digits"),
    ],
    ids=["short-password", "no-terminal", "unknown-role", "bad-extension"],
)
def test_user_create_refuses_bad_input(
    db_url: str, engine: Engine, args: list[str], stdin: str, message: str
) -> None:
    code, out, err = run(["user", "create", "--username", "li", *args], {"CATI_DATABASE_URL": db_url}, stdin)
    assert code == 2 and out == "" and message in err and "Traceback" not in err
    with engine.connect() as c:
        assert c.execute(select(User)).first() is None


def test_duplicate_user_is_refused(db_url: str) -> None:
    env = {"CATI_DATABASE_URL": db_url}
    args = ["user", "create", "--username", "li", "--role", "witness", "--password-stdin"]
    assert run(args, env, "a long passphrase\n")[0] == 0
    code, _out, err = run(args, env, "a long passphrase\n")
    assert code == 2 and "already exists" in err


def test_audit_verify_ok_then_names_the_tampered_entry(db_url: str, engine: Engine) -> None:
    env = {"CATI_DATABASE_URL": db_url}
    for name in ("a1", "a2", "a3"):
        assert (
            run(
                ["user", "create", "--username", name, "--role", "admin", "--password-stdin"],
                env,
                "passphrase!\n",
            )[0]
            == 0
        )
    code, out, _ = run(["audit", "verify"], env)
    assert code == 0 and out.startswith("审计链完好，已核对 3 条 / audit chain ok: 3 entries verified")
    with engine.begin() as c:
        c.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(details={"username": "mallory"}))
    code, out, err = run(["audit", "verify"], env)
    assert code == 1 and out == ""
    assert err.startswith("审计链断裂 / audit chain BROKEN at entry 2: entry content does not match its hash")


def test_commands_share_the_data_dir(tmp_path: Path) -> None:
    """With only CATI_DATA_DIR set, one command's data is what the next command sees."""
    env = {"CATI_DATA_DIR": str(tmp_path / "d")}
    assert run(["db", "upgrade"], env)[0] == 0
    assert (tmp_path / "d" / "cati.sqlite3").is_file()
    assert (
        run(
            ["user", "create", "--username", "u", "--role", "admin", "--password-stdin"], env, "passphrase!\n"
        )[0]
        == 0
    )
    code, out, _ = run(["audit", "verify"], env)
    assert code == 0 and "1 entries" in out
    # --data-dir points a command somewhere else: an empty database there.
    assert run(["db", "upgrade", "--data-dir", str(tmp_path / "other")], {})[0] == 0
    code, out, _ = run(["audit", "verify", "--data-dir", str(tmp_path / "other")], env)
    assert code == 0 and "0 entries" in out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_upgrades_sqlite_and_answers(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATI_")}
    env["CATI_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cati.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "service did not start"
                time.sleep(0.2)
        assert r.json()["status"] == "ok"
        assert (tmp_path / "data" / "cati.sqlite3").is_file()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_refuses_a_database_that_is_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    code, out, err = run(["serve", "--port", str(_free_port())], {"CATI_DATABASE_URL": url})
    assert code == 2 and out == ""
    assert "schema is behind" in err and "cati db upgrade" in err


ROLES = {"admin", "supervisor", "assessor", "witness", "interviewer"}


def test_demo_prepares_the_example_once(tmp_path: Path) -> None:
    env = {"CATI_DATA_DIR": str(tmp_path / "demo")}
    code, out, err = run(["demo", "--prepare-only", "--interviewers", "2"], env)
    assert code == 0, err
    assert "已导入调查项目 zibo-2026（8 个区县）" in out  # zh-CN first
    assert "登录账号" in out and "督导室" in out and "/supervise" in out and "/witness" in out

    def logins(text: str) -> dict[str, str]:
        found = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] in ROLES and not parts[2].startswith(("(", "（")):
                found[parts[1]] = parts[2]
        return found

    first = logins(out)
    assert set(first) >= {"admin", "supervisor", "assessor", "witness", "iv00"}
    assert "/console" in out and "/api/v1/campaigns/1/results" in out and "cati score" in out
    saved = (tmp_path / "demo" / "demo-logins.txt").read_text()
    assert all(f"{user}\t" in saved and pw in saved for user, pw in first.items())
    assert oct((tmp_path / "demo" / "demo-logins.txt").stat().st_mode & 0o777) == "0o600"
    code, out, _ = run(["demo", "--prepare-only", "--interviewers", "2"], env)
    assert code == 0 and "已导入" not in out
    second = logins(out)
    assert second["admin"] != first["admin"]  # new passwords on every start
    code, out, _ = run(["campaign", "list"], env)
    assert out.startswith("1\tzibo-2026\tfieldwork")
    from fastapi.testclient import TestClient

    from cati.app import create_app
    from cati.settings import Settings

    app = create_app(Settings(env="test", data_dir=tmp_path / "demo", dialer=False))
    with TestClient(app) as client:
        for username, password, status in (
            ("admin", second["admin"], 200),
            ("admin", first["admin"], 401),
            ("assessor", second["assessor"], 200),
        ):
            r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
            assert r.status_code == status, (username, r.text)
