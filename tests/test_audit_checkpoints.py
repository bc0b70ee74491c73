"""Signed audit checkpoints (docs/audit.md): the outside anchor that catches a rewritten chain.

Driven the way a witness and an operator use them: ``cati audit checkpoint``, ``cati audit verify
--checkpoint FILE``, ``cati campaign status``, and the API's key and latest-checkpoint routes.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session
from support import Users

from cati.app import create_app
from cati.audit import GENESIS_HASH, entry_hash
from cati.checkpoints import SignerSource
from cati.checkpoints.job import run_periodic
from cati.cli import cli
from cati.db import REPO_ROOT, make_sessionmaker
from cati.models import AuditCheckpoint, AuditEntry, AuditHead, Role
from cati.settings import Settings

CHEAP_HASH = {"CATI_ARGON2_TIME_COST": "1", "CATI_ARGON2_MEMORY_KIB": "1024"}
ZIBO = REPO_ROOT / "examples" / "zibo.yaml"


def zibo_json() -> Any:
    """The example campaign file as the API's JSON body (dates as ISO strings)."""
    return json.loads(json.dumps(yaml.safe_load(ZIBO.read_text(encoding="utf-8")), default=str))


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args, env={**CHEAP_HASH, **env}, input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {"CATI_DATABASE_URL": db_url, "CATI_DATA_DIR": str(tmp_path / "data")}


def add_users(env: dict[str, str], *names: str) -> None:
    for name in names:
        code, _, err = run(
            ["user", "create", "--username", name, "--role", "admin", "--password-stdin"],
            env,
            "passphrase!\n",
        )
        assert code == 0, err


def checkpoint_file(env: dict[str, str], path: Path) -> dict[str, Any]:
    code, _, err = run(["audit", "checkpoint", "-o", str(path)], env)
    assert code == 0, err
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def rewrite_chain(engine: Engine, edit_seq: int) -> None:
    """What an insider with database access does: edit one entry, re-hash every later one, fix the head."""
    with Session(engine) as s, s.begin():
        entries = s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
        prev = GENESIS_HASH
        for e in entries:
            if e.seq == edit_seq:
                e.details = {**e.details, "username": "mallory"}
            e.prev_hash = prev
            e.hash = entry_hash(e)
            prev = e.hash
        head = s.execute(select(AuditHead)).scalar_one()
        head.last_hash = prev
        # ... and removes the stored checkpoints that would give the rewrite away.
        s.execute(delete(AuditCheckpoint))


def test_rewritten_chain_verifies_plainly_but_not_against_the_old_checkpoint(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    add_users(env, "a1", "a2", "a3")
    old = tmp_path / "witness.json"
    saved = checkpoint_file(env, old)
    assert saved["size"] == 3 and saved["format"] == "cati-audit-checkpoint/1"
    rewrite_chain(engine, edit_seq=2)
    code, out, err = run(["audit", "verify"], env)
    assert code == 0, err  # the chain alone cannot tell
    assert out.startswith("审计链完好，已核对 3 条 / audit chain ok: 3 entries verified")
    code, out, err = run(["audit", "verify", "--checkpoint", str(old)], env)
    assert code == 1
    assert "checkpoint FAILED" in err and "entry 3 has another hash" in err and "re-hashed" in err


def test_deleted_log_and_reset_head_fail_against_the_checkpoint(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    add_users(env, "a1", "a2")
    old = tmp_path / "witness.json"
    checkpoint_file(env, old)
    with engine.begin() as c:
        c.execute(delete(AuditEntry))
        c.execute(delete(AuditCheckpoint))
        c.execute(update(AuditHead).values(last_seq=0, last_hash=GENESIS_HASH))
    assert run(["audit", "verify"], env)[0] == 0
    code, _, err = run(["audit", "verify", "--checkpoint", str(old)], env)
    assert code == 1
    assert "log is shorter than the checkpoint: head at entry 0, checkpoint covers 2" in err


def test_flipped_signature_byte_fails(env: dict[str, str], tmp_path: Path) -> None:
    add_users(env, "a1")
    path = tmp_path / "cp.json"
    data = checkpoint_file(env, path)
    sig = bytearray(bytes.fromhex(data["signature"]))
    sig[10] ^= 0x01
    data["signature"] = sig.hex()
    path.write_text(json.dumps(data), encoding="utf-8")
    code, _, err = run(["audit", "verify", "--checkpoint", str(path)], env)
    assert code == 1 and "signature invalid" in err
    # A fingerprint that is not the key's is a bad file, not a silent pass.
    data = checkpoint_file(env, path)
    data["key_fingerprint"] = "0000:" + data["key_fingerprint"][5:]
    path.write_text(json.dumps(data), encoding="utf-8")
    code, _, err = run(["audit", "verify", "--checkpoint", str(path)], env)
    assert code == 2 and "key_fingerprint does not match public_key" in err
    # An edited size under the original signature fails the same way.
    data = checkpoint_file(env, path)
    data["size"] = 0
    data["head_hash"] = GENESIS_HASH
    path.write_text(json.dumps(data), encoding="utf-8")
    code, _, err = run(["audit", "verify", "--checkpoint", str(path)], env)
    assert code == 1 and "signature invalid" in err


def test_honest_extension_passes_every_checkpoint(env: dict[str, str], tmp_path: Path) -> None:
    empty = checkpoint_file(env, tmp_path / "empty.json")
    assert empty["size"] == 0 and empty["head_hash"] == GENESIS_HASH
    add_users(env, "a1", "a2")
    checkpoint_file(env, tmp_path / "two.json")
    add_users(env, "a3")
    code, out, err = run(
        [
            "audit",
            "verify",
            "--checkpoint",
            str(tmp_path / "empty.json"),
            "--checkpoint",
            str(tmp_path / "two.json"),
        ],
        env,
    )
    assert code == 0, err
    assert out.count("checkpoint ok") == 2 and "stored checkpoints ok: 2" in out


def test_stored_checkpoints_catch_a_rewrite_by_default(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    add_users(env, "a1", "a2")
    assert run(["audit", "checkpoint"], env)[0] == 0
    with engine.begin() as c:
        c.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
        c.execute(
            update(AuditHead).values(last_seq=1, last_hash=c.execute(select(AuditEntry.hash)).scalar_one())
        )
    code, out, err = run(["audit", "verify"], env)
    assert code == 1 and out.startswith("审计链完好，已核对 1 条 / audit chain ok: 1 entries")
    assert "checkpoint FAILED stored #1" in err and "log is shorter" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json {", "not JSON"),
        ('{"format": "cati-audit-checkpoint/1", "size": 3}', "field 'head_hash' is missing"),
        ('{"format": "other/9"}', "unknown format"),
        ("[1, 2]", "not a JSON object"),
    ],
)
def test_bad_checkpoint_file_is_a_clear_error(
    env: dict[str, str], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    code, out, err = run(["audit", "verify", "--checkpoint", str(path)], env)
    assert code == 2 and out == ""
    assert err.startswith("error: 检查点文件") and message in err and "Traceback" not in err
    code, _, err = run(["audit", "verify", "--checkpoint", str(tmp_path / "missing.json")], env)
    assert code == 2 and "cannot read checkpoint file" in err


def test_key_is_private_and_stable_and_shown(env: dict[str, str], tmp_path: Path) -> None:
    code, out, err = run(["audit", "key"], env)
    assert code == 0, err
    key = tmp_path / "data" / "keys" / "audit-signing-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert not list(key.parent.glob(".*tmp"))
    fingerprint = next(line for line in out.splitlines() if line.startswith("fingerprint")).split(": ")[-1]
    assert len(fingerprint.replace(":", "")) == 64
    assert run(["audit", "key"], env)[1] == out  # the same key next time
    data = checkpoint_file(env, tmp_path / "cp.json")
    assert data["key_fingerprint"] == fingerprint


def test_signing_key_file_setting_and_bad_keys(env: dict[str, str], tmp_path: Path) -> None:
    elsewhere = tmp_path / "secrets" / "signing.pem"
    env = {**env, "CATI_SIGNING_KEY_FILE": str(elsewhere)}
    assert run(["audit", "key"], env)[0] == 0
    assert elsewhere.exists() and not (tmp_path / "data" / "keys").exists()

    loose = tmp_path / "loose.pem"
    loose.write_bytes(elsewhere.read_bytes())
    loose.chmod(0o644)
    code, _, err = run(["audit", "key"], {**env, "CATI_SIGNING_KEY_FILE": str(loose)})
    assert code == 2 and "mode 0644" in err and "Traceback" not in err

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello\n")
    garbage.chmod(0o600)
    for args in (["audit", "key"], ["audit", "checkpoint"]):
        code, _, err = run(args, {**env, "CATI_SIGNING_KEY_FILE": str(garbage)})
        assert code == 2 and "not an unencrypted PEM private key" in err


def test_campaign_status_change_stores_a_checkpoint_in_its_transaction(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    code, _, err = run(["campaign", "import", str(ZIBO)], env)
    assert code == 0, err
    for to in ("published", "fieldwork"):
        code, _, err = run(["campaign", "status", "zibo-2026", to], env)
        assert code == 0, err
    with Session(engine) as s:
        rows = s.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).scalars().all()
        sizes = list(
            s.execute(
                select(AuditEntry.seq)
                .where(AuditEntry.action == "campaign.status_changed")
                .order_by(AuditEntry.seq)
            ).scalars()
        )
    assert [r.size for r in rows] == sizes  # each covers its own status change
    assert [r.reason for r in rows] == ["campaign 1 draft->published", "campaign 1 published->fieldwork"]
    # A refused change (illegal move) stores nothing.
    assert run(["campaign", "status", "zibo-2026", "draft"], env)[0] == 2
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(AuditCheckpoint)).scalar_one() == 2
    # A bad key stops the change itself: no status change without its checkpoint.
    bad = tmp_path / "bad.pem"
    bad.write_text("x")
    bad.chmod(0o600)
    code, _, err = run(
        ["campaign", "status", "zibo-2026", "closed"], {**env, "CATI_SIGNING_KEY_FILE": str(bad)}
    )
    assert code == 2 and "signing key" in err
    code, out, _ = run(["campaign", "list"], env)
    assert "\tfieldwork\t" in out


def test_api_shows_the_key_and_latest_checkpoint_to_witnesses(
    settings: Settings, users: Users, client: TestClient, engine: Engine
) -> None:
    users.create("w", Role.witness)
    users.create("i", Role.interviewer)
    r = client.get("/api/v1/audit/checkpoints/latest", headers=users.bearer("w"))
    assert r.status_code == 404 and "no checkpoint yet" in r.json()["detail"]
    r = client.get("/api/v1/audit/key", headers=users.bearer("w"))
    assert r.status_code == 200
    key = r.json()
    assert key["algorithm"] == "Ed25519"
    assert key["fingerprint"] == SignerSource(settings).get().fingerprint
    assert client.get("/api/v1/audit/key", headers=users.bearer("i")).status_code == 403
    # A status change through the API stores a checkpoint; the witness reads it.
    users.create("adm", Role.admin)
    spec = zibo_json()
    r = client.post("/api/v1/campaigns", json=spec, headers=users.bearer("adm"))
    assert r.status_code == 201, r.text
    r = client.post(
        f"/api/v1/campaigns/{r.json()['id']}/status", json={"to": "published"}, headers=users.bearer("adm")
    )
    assert r.status_code == 200, r.text
    r = client.get("/api/v1/audit/checkpoints/latest", headers=users.bearer("w"))
    assert r.status_code == 200
    latest = r.json()
    with Session(engine) as s:
        last = s.execute(
            select(AuditEntry).where(AuditEntry.action == "campaign.status_changed")
        ).scalar_one()
    assert latest["size"] == last.seq and latest["head_hash"] == last.hash
    assert latest["public_key"] == key["public_key"]


def test_bad_key_is_a_clear_api_error(settings: Settings, users: Users, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("x")
    bad.chmod(0o600)
    settings.signing_key_file = bad
    users.create("w", Role.witness)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        r = client.get("/api/v1/audit/key", headers=users.bearer("w"))
    assert r.status_code == 503 and "signing key file" in r.json()["detail"]


def test_service_writes_checkpoints_during_fieldwork(
    settings: Settings, users: Users, engine: Engine
) -> None:
    settings.checkpoint_minutes = 0.2 / 60
    users.create("adm", Role.admin)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        time.sleep(0.6)
        with Session(engine) as s:  # no campaign in fieldwork: nothing periodic
            assert s.execute(select(func.count()).select_from(AuditCheckpoint)).scalar_one() == 0
        spec = zibo_json()
        cid = client.post("/api/v1/campaigns", json=spec, headers=users.bearer("adm")).json()["id"]
        for to in ("published", "fieldwork"):
            r = client.post(f"/api/v1/campaigns/{cid}/status", json={"to": to}, headers=users.bearer("adm"))
            assert r.status_code == 200, r.text
        deadline = time.monotonic() + 10
        periodic = 0
        while time.monotonic() < deadline and periodic < 2:
            time.sleep(0.1)
            with Session(engine) as s:
                periodic = s.execute(
                    select(func.count())
                    .select_from(AuditCheckpoint)
                    .where(AuditCheckpoint.reason == "periodic")
                ).scalar_one()
        assert periodic >= 2


def test_periodic_checkpoints_survive_a_database_hiccup(settings: Settings, engine: Engine) -> None:
    real = make_sessionmaker(engine)
    calls = {"n": 0}
    lock = threading.Lock()

    def flaky() -> Session:
        with lock:
            calls["n"] += 1
            if calls["n"] <= 2:
                raise ConnectionError("database went away")
        return real()

    factory: Any = flaky  # stands in for a sessionmaker whose database is down at first
    source = SignerSource(settings)

    async def main() -> None:
        task = asyncio.create_task(run_periodic(factory, source, 0.05))
        await asyncio.sleep(0.6)
        assert not task.done()  # still running after the failures
        task.cancel()

    asyncio.run(main())
    assert calls["n"] >= 4


def test_key_creation_is_atomic_under_a_race(tmp_path: Path) -> None:
    from cati.checkpoints.keys import load_or_create

    path = tmp_path / "k" / "key.pem"
    results: list[str] = []

    def make() -> None:
        results.append(load_or_create(path, own_dir=True).fingerprint)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results) == 8
    assert sorted(os.listdir(path.parent)) == ["key.pem"]


def test_a_broken_chain_extends_no_checkpoint(env: dict[str, str], engine: Engine, tmp_path: Path) -> None:
    add_users(env, "a1", "a2")
    path = tmp_path / "cp.json"
    checkpoint_file(env, path)
    with engine.begin() as c:  # a clumsy edit: entry 1 changed, nothing re-hashed
        c.execute(update(AuditEntry).where(AuditEntry.seq == 1).values(actor="mallory"))
    code, out, err = run(["audit", "verify", "--checkpoint", str(path)], env)
    assert code == 1 and out == ""
    assert "audit chain BROKEN at entry 1" in err
    assert f"checkpoint FAILED {path}" in err and "the audit chain itself is broken" in err
