"""The verification kit, as a witness uses it: a small survey driven to close through the console
and the CLI, the kit downloaded over HTTP and written by ``cati results bundle``, then checked by
``cati verify``, and every kind of tampering named by the check it fails.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from console_support import Fieldwork, browser_login, deliver_call, now
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from support import Users

from cati.cases import service as cases
from cati.cli import cli
from cati.db import make_sessionmaker, transaction
from cati.models import Campaign, Case, District, Role
from cati.settings import Settings

SCREENING = [1, 45, 1]
RATED = 11
OPEN_TEXT = "路灯坏了很久没人修"

CAMPAIGN_YAML = """\
code: kit-2026
name: {zh-CN: 核验包测试调查, en: Kit test survey}
timezone: Asia/Shanghai
age: {min: 18, max: 69}
instrument: satisfaction.yaml
dialling: {mode: progressive, abandon_cap: 0.01, ring_timeout_s: 30}
calling_windows:
  staff: [{days: all, start: "00:00", end: "23:59"}]
  resident: [{days: all, start: "00:00", end: "23:59"}]
quota: {staff: 1, resident: 2}
districts:
  - code: east
    name: {zh-CN: 东区, en: East District}
    prefixes: ["5180", "5181"]
    suffix_digits: 4
  - code: west
    name: {zh-CN: 西区, en: West District}
    prefixes: ["6180"]
    suffix_digits: 4
"""


@dataclass
class Closed:
    campaign_id: int
    env: dict[str, str]
    factory: Any


def run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args, env=env)
    return result.exit_code, result.stdout, result.stderr


def _console(client: TestClient, username: str) -> dict[str, str]:
    return {"X-CSRF-Token": browser_login(client, username)}


def _key(client: TestClient, headers: dict[str, str], value: Any) -> dict[str, Any]:
    iv = client.get("/api/v1/console/state", headers=headers).json()["current"]["interview"]
    body = {"action": "answer", "item_id": iv["item"]["id"], "value": value, "version": iv["version"]}
    r = client.post("/api/v1/console/interview", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _complete_one(client: TestClient, headers: dict[str, str], fw: Fieldwork, uid: int, rating: int) -> None:
    assert client.post("/api/v1/console/ready", json={}, headers=headers).status_code == 200
    deliver_call(fw, uid)
    for value in SCREENING:
        _key(client, headers, value)
    for _ in range(RATED):
        _key(client, headers, rating)
    view = _key(client, headers, OPEN_TEXT)
    assert view["state"] == "completed", view
    for path, body in (("/disposition", {"code": "complete"}), ("/next", {})):
        r = client.post(f"/api/v1/console{path}", json=body, headers=headers)
        assert r.status_code == 200, r.text


def drive_to_close(client: TestClient, settings: Settings, engine: Engine, users: Users, tmp: Path) -> Closed:
    """Import, publish, fieldwork (CLI, signed checkpoints), three completed interviews, close."""
    env = {"CATI_DATABASE_URL": settings.database_url, "CATI_DATA_DIR": str(settings.data_dir)}
    spec = tmp / "kit.yaml"
    spec.write_text(CAMPAIGN_YAML, encoding="utf-8")
    for args in (
        ["campaign", "import", str(spec)],
        ["campaign", "status", "kit-2026", "published"],
        ["campaign", "status", "kit-2026", "fieldwork"],
    ):
        code, out, err = run(args, env)
        assert code == 0, (args, out, err)
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        campaign = s.execute(select(Campaign).where(Campaign.code == "kit-2026")).scalar_one()
        districts = list(
            s.execute(
                select(District).where(District.campaign_id == campaign.id).order_by(District.code)
            ).scalars()
        )
        for d in districts:  # east, west: 4 and 3 residents released
            cases.release_sample(s, campaign.id, d.id, "resident", 4 if d.code == "east" else 3, now())
        fw = Fieldwork(factory, campaign.id, [d.id for d in districts])
    uid = users.create("iv01", Role.interviewer)
    headers = _console(client, "iv01")
    for rating in (2, 3, 1):
        _complete_one(client, headers, fw, uid, rating)
        if rating == 3:  # mid-fieldwork, a witness saves a checkpoint and notes the key's fingerprint
            code, out, err = run(["audit", "checkpoint", "-o", str(tmp / "witness.json")], env)
            assert code == 0, (out, err)
    code, out, err = run(["campaign", "close", "kit-2026", "--reason", "期满"], env)
    assert code == 0, (out, err)
    return Closed(fw.campaign_id, env, factory)


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rewrite(data: bytes, name: str, change: Callable[[bytes], bytes], *, manifest: bool = True) -> bytes:
    """The kit with one member changed, its manifest updated (as a careful forger would) or not."""
    import hashlib

    files = members(data)
    files[name] = change(files[name])
    if manifest:
        m = json.loads(files["manifest.json"])
        for f in m["files"]:
            if f["path"] == name:
                f["sha256"] = hashlib.sha256(files[name]).hexdigest()
                f["bytes"] = len(files[name])
        files["manifest.json"] = json.dumps(m).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for n, b in files.items():
            zf.writestr(n, b)
    return out.getvalue()


def verify(path: Path, *extra: str) -> tuple[int, str, str]:
    return run(["verify", str(path), *extra], {})


def _csv_edit(fn: Callable[[list[list[str]]], None]) -> Callable[[bytes], bytes]:
    def change(raw: bytes) -> bytes:
        bom = raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
        fn(rows)
        buf = io.StringIO(newline="")
        csv.writer(buf, lineterminator="\r\n").writerows(rows)
        return (b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8")

    return change


def _change_score(rows: list[list[str]]) -> None:
    col = rows[0].index("q1")
    rows[1][col] = "poor" if rows[1][col] != "poor" else "good"  # still a valid answer, another score


def _change_disposition(rows: list[list[str]]) -> None:
    col = rows[0].index("disposition")
    row = next(r for r in rows[1:] if r[col] == "1.1")
    row[col] = "2.11"


def _wrong_seed(raw: bytes) -> bytes:
    data = json.loads(raw)
    data["seed"] = "ab" * 32
    return json.dumps(data).encode()


def _pick_position(rows: list[list[str]]) -> None:
    """A case moved to another sample position (a number picked instead of the next one)."""
    col = rows[0].index("sample_position")
    assert rows[4][0] == "east" and rows[4][col] == "3"
    rows[4][col] = "9"


def _reseal(raw: bytes) -> bytes:
    """A forger edits a figure and re-seals the results consistently: only the signed log shows it."""
    from cati.verify.sealed import digest

    data = json.loads(raw)
    data["scores_note"] = "edited"
    data["sealed"]["sha256"] = digest({k: v for k, v in data.items() if k != "sealed"})
    RESEALED.append(data["sealed"]["sha256"])
    return json.dumps(data).encode()


RESEALED: list[str] = []


def _resign(raw: bytes) -> bytes:
    """The forger also puts the re-sealed digest under the witnesses' names."""
    items = json.loads(raw)
    for item in items:
        item["results_sha256"] = RESEALED[-1]
    return json.dumps(items).encode()


def _bad_signoff(raw: bytes) -> bytes:
    items = json.loads(raw)
    items[1]["results_sha256"] = "0" * 64
    return json.dumps(items).encode()


def _drop_signoff(raw: bytes) -> bytes:
    return json.dumps(json.loads(raw)[1:]).encode()


def _edit_checkpoint(raw: bytes) -> bytes:
    data = json.loads(raw)
    data[0]["at"] = "2025" + data[0]["at"][4:]  # signed a year earlier, says the edited copy
    return json.dumps(data).encode()


def _log_edit(fn: Callable[[dict[str, Any]], dict[str, Any] | None]) -> Callable[[bytes], bytes]:
    def change(raw: bytes) -> bytes:
        out, done = [], False
        for line in raw.splitlines():
            entry = json.loads(line)
            changed = None if done else fn(entry)
            done = done or changed is not None
            out.append(json.dumps(changed if changed is not None else entry, ensure_ascii=False).encode())
        assert done
        return b"\n".join(out) + b"\n"

    return change


_rehash_hidden = _log_edit(lambda e: {**e, "hash": "e" * 64} if e.get("redacted") else None)
_hide_close = _log_edit(
    lambda e: (
        {k: e[k] for k in ("seq", "action", "prev_hash", "hash")} | {"redacted": True}
        if e.get("action") == "campaign.closed"
        else None
    )
)


def _truncate(raw: bytes) -> bytes:
    lines = raw.splitlines(keepends=True)
    return b"".join(lines[:-2])


@pytest.mark.timeout(300)
def test_a_real_kit_passes_and_every_tampering_is_named(
    client: TestClient,
    settings: Settings,
    engine: Engine,
    users: Users,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed = drive_to_close(client, settings, engine, users, tmp_path)
    users.create("notary", Role.witness)
    users.create("office", Role.assessor)
    users.create("sup", Role.supervisor)
    url = f"/api/v1/campaigns/{closed.campaign_id}/bundle.zip"

    # --- two witnesses sign; a checkpoint after the first brings its entry into the signed log --
    users.create("inspector", Role.witness)
    sealed = client.get(f"/api/v1/campaigns/{closed.campaign_id}/results", headers=users.bearer("office"))
    digest = sealed.json()["sealed"]["sha256"]
    for who, party in (("notary", "notary"), ("inspector", "discipline")):
        signed = client.post(
            f"/api/v1/campaigns/{closed.campaign_id}/signoffs",
            json={"party": party, "password": "correct horse", "digest": digest},
            headers=users.bearer(who),
        )
        assert signed.status_code == 201, signed.text
        if who == "notary":
            assert run(["audit", "checkpoint"], closed.env)[0] == 0

    # --- the doors: roles, then the same bytes over HTTP and from the CLI ----------------------
    assert client.get(url, headers=users.bearer("sup")).status_code == 403
    r = client.get(url, headers=users.bearer("notary"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert 'filename="kit-2026-bundle.zip"' in r.headers["content-disposition"]
    assert client.get(url, headers=users.bearer("office")).content == r.content
    kit = tmp_path / "kit.zip"
    code, out, err = run(["results", "bundle", "kit-2026", "-o", str(kit)], closed.env)
    assert code == 0 and "核验包已写入" in err, (out, err)
    assert kit.read_bytes() == r.content  # reproducible: dated at the close, fixed order
    code, out, err = run(["results", "bundle", "kit-2026", "-o", str(kit), "--lang", "en"], closed.env)
    assert code == 2 and "already exists" in err and "--force" in err
    # a crash while writing (disk full at the rename) leaves the old file whole and no temp file
    kit.write_bytes(b"the previous kit")

    def disk_full(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr("cati.cli.common.os.replace", disk_full)
        code, out, err = run(["results", "bundle", "kit-2026", "-o", str(kit), "--force"], closed.env)
    assert code == 2 and "No space left on device" in err, (out, err)
    assert kit.read_bytes() == b"the previous kit"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".kit.zip")] == []
    code, out, err = run(["results", "bundle", "kit-2026", "-o", str(kit), "--force"], closed.env)
    assert code == 0, err
    assert kit.read_bytes() == r.content

    # --- no phone number anywhere in the kit ---------------------------------------------------
    with transaction(closed.factory) as s:
        phones = list(
            s.execute(select(Case.phone_number).where(Case.campaign_id == closed.campaign_id)).scalars()
        )
    assert len(phones) == 7
    files = members(r.content)
    for name, body in files.items():
        for phone in phones:
            assert phone.encode() not in body, (name, "holds a phone number")
    # the interviews' audit entries (answers in clear, case ids) are in the kit as hashes only
    log = [json.loads(line) for line in files["audit/log.jsonl"].splitlines()]
    hidden = [e for e in log if e.get("redacted")]
    assert hidden and all(set(e) == {"seq", "action", "redacted", "prev_hash", "hash"} for e in hidden)
    assert {e["action"] for e in hidden} >= {"interview.started", "interview.answer"}
    assert all(e.get("object_type") != "interview" for e in log if not e.get("redacted"))
    assert b'"item_id"' not in files["audit/log.jsonl"]
    cases_rows = list(csv.DictReader(io.StringIO(files["cases.csv"].decode())))
    assert [(c["district_code"], c["sample_position"]) for c in cases_rows][:2] == [
        ("east", "0"),
        ("east", "1"),
    ]
    assert sorted(c["disposition"] for c in cases_rows).count("1.1") == 3
    header = files["responses.csv"].decode("utf-8-sig").splitlines()[0].split(",")
    assert "case_id" not in header and "interview_id" not in header and "q1" in header

    # responses.csv is the machine form `cati score` reads: it gives the sealed scores
    (tmp_path / "responses.csv").write_bytes(files["responses.csv"])
    code, out, err = run(["score", str(tmp_path / "responses.csv")], {})
    assert code == 0, err
    assert json.loads(out) == json.loads(files["results.json"])["scores"]

    # --- the real kit passes ---------------------------------------------------------------------
    code, out, err = verify(kit)
    assert code == 0, (out, err)
    assert "全部核验通过" in out and "7 个个案" in out and "3 份问卷" in out, out
    # each sign-off writes a checkpoint covering it (cati/announcement/service.py): both are anchored
    assert "2 个签字，签署的摘要均为结果摘要" in out and "2 个签字中 2 个也已记入" in out, out
    assert [s["party"] for s in json.loads(files["signoffs.json"])] == ["notary", "discipline"]
    code, out, err = verify(kit, "--lang", "en")
    assert code == 0 and "Every check passed" in out and "commitment" in out, out
    # a witness's computer: the installed project only, no settings, no database, nothing written
    clean = tmp_path / "clean"
    clean.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATI_")}
    done = subprocess.run(
        [sys.executable, "-m", "cati.cli", "verify", str(kit)],
        cwd=clean,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "全部核验通过" in done.stdout, (done.stdout, done.stderr)
    assert list(clean.iterdir()) == []

    # --- with the witness's own checkpoint and the fingerprint written down --------------------
    fp = json.loads((tmp_path / "witness.json").read_text())["key_fingerprint"]
    own = ["--checkpoint", str(tmp_path / "witness.json"), "--fingerprint", fp]
    code, out, err = verify(kit, *own, "--lang", "en")
    assert code == 0 and "the log extends the 1 checkpoint(s) the witness kept" in out, (out, err)
    code, out, err = verify(kit, "--fingerprint", "0000:" + fp[5:])
    assert code == 1 and "不是记下的" in out, out
    # an insider rewrote the log after the witness's checkpoint: the service's key signed the fake
    # checkpoints in the kit, but the witness's copy names the rewrite
    from cati.checkpoints.keys import load_key
    from cati.verify.checkpoint import Checkpoint

    signer = load_key(settings.data_dir / "keys" / "audit-signing-key.pem")
    kept = json.loads((tmp_path / "witness.json").read_text())
    forged_head = "f" * 64
    sig = signer.sign(f"cati-audit-checkpoint/1\n{kept['size']}\n{forged_head}\n{kept['at']}\n".encode())
    forged = Checkpoint(kept["size"], forged_head, kept["at"], kept["public_key"], sig.hex())
    (tmp_path / "other.json").write_text(forged.dumps())
    code, out, err = verify(kit, "--checkpoint", str(tmp_path / "other.json"), "--lang", "en")
    assert code == 1 and "other.json signed" in out and "the log was rewritten" in out, out
    code, out, err = verify(kit, "--checkpoint", str(tmp_path / "nope.json"))
    assert code == 2 and "nope.json" in err

    # --- each tampering fails, exit 1, naming its cause -------------------------------------------
    cases_bad: list[tuple[str, bytes, str]] = [
        (
            "score row",
            rewrite(r.content, "responses.csv", _csv_edit(_change_score)),
            "district scores: district 东区 scores .score: results.json says",
        ),
        (
            "disposition",
            rewrite(r.content, "cases.csv", _csv_edit(_change_disposition)),
            "district east final rates .counts.I: results.json says 2, recomputed from cases.csv: 1",
        ),
        (
            "wrong seed",
            rewrite(rewrite(r.content, "sample.json", _wrong_seed), "plan.json", _wrong_seed),
            "commitment re-derived",
        ),
        ("truncated log", rewrite(r.content, "audit/log.jsonl", _truncate), "truncated"),
        (
            "no manifest update",
            rewrite(r.content, "results.json", lambda b: b.replace(b'"RR1"', b'"RR2"', 1), manifest=False),
            "results.json: SHA-256",
        ),
        (
            "position picked",
            rewrite(r.content, "cases.csv", _csv_edit(_pick_position)),
            "cases.csv line 5: district east: sample position 3 expected, found 9",
        ),
        (
            "results re-sealed",
            rewrite(rewrite(r.content, "results.json", _reseal), "signoffs.json", _resign),
            "records the results digest at close as",
        ),
        (
            "bad signoff",
            rewrite(r.content, "signoffs.json", _bad_signoff),
            "signoffs.json item 2 (discipline) signed digest 0000",
        ),
        ("signoff dropped", rewrite(r.content, "signoffs.json", _drop_signoff), "missing from signoffs.json"),
        ("checkpoint edited", rewrite(r.content, "audit/checkpoints.json", _edit_checkpoint), "signature"),
        ("results not an object", rewrite(r.content, "results.json", lambda b: b"[]"), "results.json"),
        (
            "plan malformed",
            rewrite(r.content, "plan.json", lambda b: b'{"instrument": 5}'),
            "instrument digest",
        ),
        (
            "sample malformed",
            rewrite(r.content, "sample.json", lambda b: b'{"seed": 1, "commitment": []}'),
            "sample",
        ),
        (
            "log line null",
            rewrite(r.content, "audit/log.jsonl", lambda b: b"null\n" + b),
            "audit/log.jsonl line 1",
        ),
        (
            "hidden entry's hash changed",
            rewrite(r.content, "audit/log.jsonl", _rehash_hidden),
            "previous hash",
        ),
        (
            "close entry hidden",
            rewrite(r.content, "audit/log.jsonl", _hide_close),
            "has no entry with the results",
        ),
        (
            "entry edited",
            rewrite(
                r.content, "audit/log.jsonl", lambda b: b.replace(b'"actor":"test"', b'"actor":"tset"', 1)
            ),
            "content does not match its hash",
        ),
    ]
    for what, data, expected in cases_bad:
        bad = tmp_path / f"bad-{what.replace(' ', '-')}.zip"
        bad.write_bytes(data)
        code, out, err = verify(bad, "--lang", "en")
        assert code == 1, (what, out, err)
        assert expected in out and out.startswith("FAILED"), (what, out)
        assert "Traceback" not in out + err
        code, out, _ = verify(bad)
        assert code == 1 and out.startswith("核验失败"), (what, out)

    # --- not a kit: exit 2, one clear line -----------------------------------------------------------
    text = tmp_path / "notes.zip"
    text.write_text("not a zip", encoding="utf-8")
    for path, expected in (
        (text, "不是 zip 文件"),
        (tmp_path / "missing.zip", "文件不存在"),
        (tmp_path, "是目录"),
    ):
        code, out, err = verify(path)
        assert code == 2 and expected in err and "Traceback" not in err, (path, out, err)
    empty_zip = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty_zip, "w") as zf:
        zf.writestr("readme.txt", "hello")
    code, out, err = verify(empty_zip, "--lang", "en")
    assert code == 2 and "no manifest.json" in err


def test_no_kit_before_close(client: TestClient, settings: Settings, users: Users, tmp_path: Path) -> None:
    env = {"CATI_DATABASE_URL": settings.database_url, "CATI_DATA_DIR": str(settings.data_dir)}
    spec = tmp_path / "kit.yaml"
    spec.write_text(CAMPAIGN_YAML, encoding="utf-8")
    assert run(["campaign", "import", str(spec)], env)[0] == 0
    users.create("notary", Role.witness)
    r = client.get("/api/v1/campaigns/1/bundle.zip", headers=users.bearer("notary"))
    assert r.status_code == 409 and "尚未结束" in r.json()["detail"], r.text
    r = client.get("/api/v1/campaigns/1/bundle.zip")
    assert r.status_code == 401
    out = tmp_path / "kit.zip"
    code, _out, err = run(["results", "bundle", "kit-2026", "-o", str(out)], env)
    assert code == 2 and "尚未结束" in err and not out.exists()


def test_the_checker_imports_no_database_layer() -> None:
    """The checker needs only the project: it loads no SQLAlchemy, no model, no service module (the
    ``cati`` entry point around it loads them, but ``cati verify`` never opens a database)."""
    code = (
        "import sys, cati.verify.check\n"
        "banned = ('sqlalchemy', 'cati.db', 'cati.models', 'fastapi')\n"
        "bad = [m for m in sys.modules if m.startswith(banned)]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
