"""The assessment office's results and export, on both databases, checked against ``cati score``.

Interviews are taken with the real interview engine and stored as the console stores them; cases
and attempts are plain rows with known dispositions, so every count and rate can be predicted.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from support import Users

from cati.campaigns import service as campaigns
from cati.campaigns.instruments import resolve_instrument
from cati.campaigns.loader import load_campaign_file
from cati.cli import cli
from cati.db import REPO_ROOT, make_sessionmaker, transaction
from cati.models import Attempt, Campaign, CampaignStatus, Case, District, Role
from cati.models import Interview as InterviewRow
from cati.results import visibility
from questionnaire.engine import Interview
from questionnaire.loader import parse_instrument
from questionnaire.model import Instrument

T0 = dt.datetime(2026, 5, 11, 2, 0, tzinfo=dt.UTC)
RATING = {"good": 1, "fairly_good": 2, "average": 3, "poor": 4}


def _interview(
    inst: Instrument, stratum: str, ratings: list[str | None], *, suggestion: str = "", age: int = 40
) -> Interview:
    """Take an interview: screening passes (unless ``age`` is outside 18-69), then ``ratings`` for
    overall, q1..q10 (None = refused; fewer than eleven = broken off after them)."""
    iv = Interview.start(inst, stratum, T0)
    t = T0
    answers = iter(ratings)
    while iv.current is not None:
        t += dt.timedelta(seconds=5)
        item = iv.current
        if item.id == "s_line":
            iv.answer(item.id, 1, t)
        elif item.id == "s_age":
            iv.answer(item.id, age, t)
        elif item.id == "s_tie":
            iv.answer(item.id, 1 if stratum == "resident" else 2, t)
        elif item.kind == "text":
            iv.answer(item.id, suggestion, t) if suggestion else iv.refuse(t)
        else:
            try:
                value = next(answers)
            except StopIteration:
                iv.break_off(t)
                break
            iv.refuse(t) if value is None else iv.answer(item.id, RATING[value], t)
    return iv


class World:
    """The Zibo example campaign in fieldwork with a few cases, attempts and interviews."""

    def __init__(self, engine: Engine) -> None:
        self.factory = make_sessionmaker(engine)
        example = REPO_ROOT / "examples" / "zibo.yaml"
        spec = load_campaign_file(example)
        with transaction(self.factory) as s:
            c = campaigns.create_campaign(
                s, spec, instrument=resolve_instrument(spec.instrument, base_dir=example.parent), actor="t"
            )
            campaigns.change_status(s, c.id, CampaignStatus.published, actor="t")
            campaigns.change_status(s, c.id, CampaignStatus.fieldwork, actor="t")
            self.campaign_id = c.id
            self.instrument = parse_instrument(c.instrument_text, c.instrument_name)
            self.districts = {
                d.code: d.id for d in s.query(District).filter(District.campaign_id == c.id).all()
            }
        self.phones: list[str] = []
        self._n = 0

    def open_scores(self) -> None:
        """Scores and answers are sealed until close: open them early (a pilot), as an admin would."""
        with transaction(self.factory) as s:
            visibility.open_scores_early(
                s, self.campaign_id, actor="admin", reason="test: read during fieldwork"
            )

    def case(
        self,
        s: Session,
        district: str,
        stratum: str,
        codes: list[str],
        *,
        final: str | None = None,
        interview: Interview | None = None,
        interviewer_id: int | None = None,
    ) -> int:
        """A case with one attempt per code (oldest first), finalised with ``final`` if given."""
        self._n += 1
        phone = f"2180{self._n:04d}"
        self.phones.append(phone)
        case = Case(
            campaign_id=self.campaign_id,
            district_id=self.districts[district],
            stratum=stratum,
            phone_number=phone,
            sample_position=self._n,
            bank=phone[:-2],
            status="finalised" if final else ("scheduled" if codes else "pending"),
            final_disposition=final,
            attempts_count=len(codes),
        )
        s.add(case)
        s.flush()
        attempt_id = None
        for k, code in enumerate(codes):
            a = Attempt(
                case_id=case.id,
                campaign_id=self.campaign_id,
                channel_id=f"ch-{case.id}-{k}",
                dialling_mode="progressive",
                started_at=T0 + dt.timedelta(hours=k),
                ended_at=T0 + dt.timedelta(hours=k, minutes=5),
                disposition=code,
                interviewer_id=interviewer_id,
            )
            s.add(a)
            s.flush()
            attempt_id = a.id
        if interview is not None:
            s.add(
                InterviewRow(
                    campaign_id=self.campaign_id,
                    district_id=self.districts[district],
                    case_id=case.id,
                    attempt_id=attempt_id,
                    interviewer_id=interviewer_id,
                    stratum=stratum,
                    state=interview.to_dict(),
                    version=len(interview.events),
                    finished=interview.is_final,
                    disposition=interview.disposition,
                    valid_for_scoring=interview.valid_for_scoring,
                    score_row=interview.score_row() if interview.is_final else None,
                    started_at=T0,
                    ended_at=T0 + dt.timedelta(minutes=6) if interview.is_final else None,
                )
            )
        s.flush()
        return case.id


def populate(engine: Engine, users: Users) -> World:
    """The campaign in fieldwork with its cases and interviews (scores still sealed)."""
    for role in (Role.admin, Role.supervisor, Role.assessor, Role.witness, Role.interviewer):
        users.create(role.value, role)
    w = World(engine)
    inst = w.instrument
    iv_id = users.create("iv01", Role.interviewer)
    good = ["good"] * 11
    with transaction(w.factory) as s:
        # zhangdian: three valid questionnaires, one complete with a refused item (invalid).
        w.case(
            s,
            "zhangdian",
            "staff",
            ["3.13", "1.1"],
            final="1.1",
            interviewer_id=iv_id,
            interview=_interview(inst, "staff", good, suggestion="=SUM(A1) 路灯坏了"),
        )
        w.case(
            s,
            "zhangdian",
            "resident",
            ["1.1"],
            final="1.1",
            interviewer_id=iv_id,
            interview=_interview(inst, "resident", ["fairly_good"] * 11, suggestion="多修路"),
        )
        w.case(
            s,
            "zhangdian",
            "resident",
            ["1.1"],
            final="1.1",
            interviewer_id=iv_id,
            interview=_interview(inst, "resident", ["average", *["good"] * 10]),
        )
        w.case(
            s,
            "zhangdian",
            "staff",
            ["1.1"],
            final="1.1",
            interviewer_id=iv_id,
            interview=_interview(inst, "staff", ["good", None, *["good"] * 9]),
        )
        # zichuan: one valid; a screen-out (4.70) and a break-off: not questionnaires.
        w.case(
            s,
            "zichuan",
            "staff",
            ["1.1"],
            final="1.1",
            interviewer_id=iv_id,
            interview=_interview(inst, "staff", ["poor"] * 11, suggestion="no, thanks"),
        )
        w.case(
            s,
            "zichuan",
            "resident",
            ["4.70"],
            final="4.70",
            interviewer_id=iv_id,
            interview=_interview(inst, "resident", [], age=75),
        )
        w.case(
            s,
            "zichuan",
            "resident",
            ["2.12"],
            interviewer_id=iv_id,
            interview=_interview(inst, "resident", ["good", "good"]),
        )
        # cases without interviews: open after no answers, a non-working number, never dialled.
        w.case(s, "zichuan", "resident", ["3.13", "3.12"])
        w.case(s, "zichuan", "staff", ["4.31"], final="4.31")
        w.case(s, "zhangdian", "staff", [])
    return w


@pytest.fixture
def world(engine: Engine, users: Users) -> World:
    w = populate(engine, users)
    w.open_scores()
    return w


def _get_csv(client: TestClient, users: Users, campaign_id: int, query: str = "?lang=en") -> bytes:
    r = client.get(
        f"/api/v1/campaigns/{campaign_id}/exports/responses.csv{query}", headers=users.bearer("assessor")
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    return r.content


def test_results_agree_with_cati_score_on_the_export(
    client: TestClient, users: Users, world: World, tmp_path: Path
) -> None:
    body = _get_csv(client, users, world.campaign_id)
    assert body.startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese text as UTF-8
    path = tmp_path / "responses.csv"
    path.write_bytes(body)
    result = CliRunner().invoke(cli, ["score", str(path)])
    assert result.exit_code == 0, result.stderr
    by_cli = json.loads(result.stdout)

    r = client.get(f"/api/v1/campaigns/{world.campaign_id}/results", headers=users.bearer("assessor"))
    assert r.status_code == 200, r.text
    results = r.json()
    assert results["scores"] == by_cli
    zhangdian, zichuan = results["scores"]["districts"]
    assert (zhangdian["district"], zhangdian["valid"], zhangdian["invalid"]) == ("张店区", 3, 1)
    assert zhangdian["score"] == pytest.approx((100 + 80 + (0.2 * 60 + 0.8 * 100)) / 3)
    assert (zichuan["district"], zichuan["valid"], zichuan["invalid"], zichuan["score"]) == (
        "淄川区",
        1,
        0,
        40,
    )


def test_export_rows_columns_and_privacy(client: TestClient, users: Users, world: World) -> None:
    body = _get_csv(client, users, world.campaign_id)
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert len(rows) == 5  # the questionnaires: 1.1 and 1.2 interviews only
    first = rows[0]
    for column in (
        "district",
        "stratum",
        "overall",
        "q1",
        "q10",
        "suggestions",
        "disposition",
        "interviewer_id",
        "interviewer",
        "started_at",
        "ended_at",
        "valid",
    ):
        assert column in first
    assert first["suggestions"] == "'=SUM(A1) 路灯坏了"  # never run as a spreadsheet formula
    assert first["interviewer"] == "iv01"
    assert first["started_at"].endswith("+08:00")  # the campaign's zone, with its offset
    assert [r["valid"] for r in rows] == ["1", "1", "1", "0", "1"]
    # one rule: 1.1 exactly when valid (the refused rating makes the fourth a partial)
    assert [r["disposition"] for r in rows] == ["1.1", "1.1", "1.1", "1.2", "1.1"]
    assert {r["rule"] for r in rows} == {"all-rated/1"}
    text = body.decode("utf-8-sig")
    assert not any(phone in text for phone in world.phones)
    everything = _get_csv(client, users, world.campaign_id, "?lang=en&all=true").decode("utf-8-sig")
    all_rows = list(csv.DictReader(io.StringIO(everything)))
    assert sorted(r["disposition"] for r in all_rows) == ["1.1"] * 4 + ["1.2", "2.12", "4.70"]


def test_rates_and_counts(client: TestClient, users: Users, world: World) -> None:
    results = client.get(
        f"/api/v1/campaigns/{world.campaign_id}/results", headers=users.bearer("supervisor")
    ).json()
    rates = results["rates"]
    assert "provisional" in rates["note"]
    final, provisional = rates["overall"]["final"], rates["overall"]["provisional"]
    # finals: 1.1 x5, 4.70, 4.31; provisional adds the open break-off (2.12) and no-answer (3.13).
    assert final["total"] == 7 and final["counts"]["I"] == 5 and final["counts"]["NE"] == 2
    assert provisional["total"] == 9
    assert provisional["counts"]["R"] == 1 and provisional["counts"]["UH"] == 1
    assert provisional["RR1"] == pytest.approx(5 / 7)
    zichuan = next(d for d in rates["districts"] if d["code"] == "zichuan")
    assert zichuan["final"]["counts"]["I"] == 1 and zichuan["provisional"]["total"] == 5
    assert len(rates["districts"]) == 8  # every district, with or without cases
    counts = results["counts"]
    assert counts["cases"]["total"] == 10
    assert counts["cases"]["finalised"] == 7 and counts["cases"]["not_attempted"] == 1
    assert counts["attempts"] == 11
    assert counts["questionnaires"] == {"valid": 4, "invalid": 1}
    zd = next(d for d in counts["districts"] if d["code"] == "zhangdian")
    assert zd["quota"]["staff"] == {"target": 150, "completes": 0}  # rows made without the case service


def test_roles_and_unknown_campaign(client: TestClient, users: Users, world: World) -> None:
    for path in ("results", "exports/responses.csv"):
        url = f"/api/v1/campaigns/{world.campaign_id}/{path}"
        for role, status in (
            ("admin", 200),
            ("supervisor", 200),
            ("assessor", 200),
            ("witness", 403),
            ("interviewer", 403),
        ):
            assert client.get(url, headers=users.bearer(role)).status_code == status, (path, role)
        assert client.get(url).status_code == 401
        missing = client.get(f"/api/v1/campaigns/999/{path}", headers=users.bearer("assessor"))
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/json")
        assert "999" in missing.json()["detail"]


def test_empty_campaign_scores_like_an_empty_file(
    client: TestClient, users: Users, engine: Engine, tmp_path: Path
) -> None:
    users.create("assessor", Role.assessor)
    w = World(engine)
    w.open_scores()
    body = _get_csv(client, users, w.campaign_id)
    path = tmp_path / "empty.csv"
    path.write_bytes(body)
    result = CliRunner().invoke(cli, ["score", str(path)])
    assert result.exit_code == 0, result.stderr
    results = client.get(
        f"/api/v1/campaigns/{w.campaign_id}/results", headers=users.bearer("assessor")
    ).json()
    assert results["scores"] == json.loads(result.stdout) == {"districts": []}
    assert results["rates"]["overall"]["final"]["RR1"] is None
    with transaction(w.factory) as s:
        assert s.get(Campaign, w.campaign_id) is not None
