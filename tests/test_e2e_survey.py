"""A whole survey end to end: the real service under uvicorn, the real DialerService with the
built-in simulated PBX over AMI/TCP, and simulated interviewers working through the console API.

Three districts of the Zibo example with two completes per cell run to completion at a fast clock;
then the results must agree with ``cati score`` on the export, no number may have been in two calls
at once or re-dialled except by a scheduled retry, every case ends with a disposition once
fieldwork is closed, every answer the interviewers sent is stored, and the audit chain verifies.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from support import Users

from cati import audit
from cati.app import create_app
from cati.cli import cli
from cati.db import make_engine, make_sessionmaker, transaction
from cati.demo.run import DemoOptions, DemoRun, free_port, prepare_demo, read_progress, run_demo
from cati.models import AnswerEvent, Attempt, Case, CaseStatus, Interview, QuotaCell
from cati.settings import Settings
from dialer.schedule import Next
from dialer.schedule import disposition as schedule_entry

#: Real seconds the survey may take before the test gives up (it needs ~20-40 s on 2 cores).
SURVEY_TIMEOUT = 100.0
QUOTA = 2
DISTRICTS = 3


def _settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=db_url,
        data_dir=tmp_path / "data",
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        dialer=True,
        dialer_tick_seconds=0.2,
    )


async def _survey(settings: Settings, options: DemoOptions) -> tuple[int, dict[str, int]]:
    setup = prepare_demo(settings, options)
    lines: list[str] = []
    run_ref: list[DemoRun] = []

    async def started(run: DemoRun) -> None:
        run_ref.append(run)

    stats = await asyncio.wait_for(
        run_demo(settings, options, setup, say=lines.append, started=started), timeout=SURVEY_TIMEOUT + 40
    )
    # said in Chinese, with what comes next: the rooms and the close command
    done = [line for line in lines if "全部配额已完成" in line]
    assert done, (lines, stats)
    assert "/supervise" in done[0] and "/witness" in done[0] and "/announcement" in done[0]
    assert f"cati campaign close {setup.campaign_code} --reason" in done[0]
    assert not stats.errors, stats.errors
    sent = stats.actions_ok["answer"] + stats.actions_ok["refuse"] + stats.actions_ok["dont_know"]
    return setup.campaign_id, {"sent": sent, "calls": stats.calls}


@pytest.mark.timeout(240)
def test_a_small_survey_runs_to_completion(db_url: str, tmp_path: Path, users: Users) -> None:
    settings = _settings(db_url, tmp_path)
    options = DemoOptions(
        port=free_port(),
        quota=QUOTA,
        interviewers=6,
        speed=120.0,
        seed="e2e",
        districts=DISTRICTS,
        progress_seconds=0,
        exit_when_done=True,
    )

    async def bounded() -> tuple[int, dict[str, int]]:
        return await asyncio.wait_for(_survey(settings, options), timeout=SURVEY_TIMEOUT + 60)

    campaign_id, figures = asyncio.run(bounded())
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    try:
        # --- the quota is met, and each complete is one 1.1 interview --------------------------
        with factory() as s:
            progress = read_progress(s, campaign_id)
            assert progress.done and progress.target == QUOTA * 2 * DISTRICTS
            completes = s.execute(
                select(func.count()).select_from(Interview).where(Interview.disposition == "1.1")
            ).scalar_one()
            assert completes == progress.completes
            for cell in s.execute(select(QuotaCell).where(QuotaCell.campaign_id == campaign_id)).scalars():
                assert cell.completes >= cell.target

            # --- every answer the interviewers sent was stored ---------------------------------
            stored = s.execute(
                select(func.count())
                .select_from(AnswerEvent)
                .where(AnswerEvent.kind.in_(("answer", "change", "refuse", "dont_know")))
            ).scalar_one()
            assert stored == figures["sent"] > 0

            # --- no number in two calls, re-dialled only by a scheduled retry -------------------
            phones = (
                s.execute(select(Case.phone_number).where(Case.campaign_id == campaign_id)).scalars().all()
            )
            assert len(phones) == len(set(phones))
            by_case: dict[int, list[Attempt]] = defaultdict(list)
            for a in s.execute(select(Attempt).order_by(Attempt.started_at, Attempt.id)).scalars():
                by_case[a.case_id].append(a)
            assert sum(len(v) for v in by_case.values()) >= figures["calls"]
            for case_id, attempts in by_case.items():
                for earlier, later in itertools.pairwise(attempts):
                    assert earlier.ended_at is not None and earlier.ended_at <= later.started_at, case_id
                    assert earlier.disposition is not None, case_id
                    assert schedule_entry(earlier.disposition).next is not Next.final or (
                        earlier.disposition == "1.2"
                    ), (case_id, earlier.disposition)
                assert all(a.ended_at is not None for a in attempts), case_id  # dialer stopped cleanly

        # --- close of fieldwork: every case gets its final disposition --------------------------
        with transaction(factory) as s:
            from cati.campaigns.close import close_campaign
            from cati.clock import Clock

            done = close_campaign(
                s, campaign_id, reason="e2e: fieldwork done", force=False, actor="test", now=Clock().now()
            )
            assert "in_call" not in done.summary.cases_finalised
        with factory() as s:
            open_cases = s.execute(
                select(func.count())
                .select_from(Case)
                .where(
                    Case.campaign_id == campaign_id,
                    (Case.status != CaseStatus.finalised.value) | Case.final_disposition.is_(None),
                )
            ).scalar_one()
            assert open_cases == 0
            total_cases = s.execute(
                select(func.count()).select_from(Case).where(Case.campaign_id == campaign_id)
            ).scalar_one()
            check = audit.verify_chain(s)
            assert check.ok, check
            assert check.checked > 0
    finally:
        engine.dispose()

    # --- the results endpoint agrees with `cati score` on the export --------------------------
    # the demo made the assessor account (with a password it printed); the test takes a token directly
    quiet = settings.model_copy(update={"dialer": False})
    with TestClient(create_app(quiet), raise_server_exceptions=False) as client:
        headers = users.bearer("assessor")
        export = client.get(f"/api/v1/campaigns/{campaign_id}/exports/responses.csv", headers=headers)
        assert export.status_code == 200
        results = client.get(f"/api/v1/campaigns/{campaign_id}/results", headers=headers).json()
    path = tmp_path / "responses.csv"
    path.write_bytes(export.content)
    scored = CliRunner().invoke(cli, ["score", str(path)])
    assert scored.exit_code == 0, scored.stderr
    assert results["scores"] == json.loads(scored.stdout)
    districts = results["scores"]["districts"]
    assert len(districts) == DISTRICTS
    assert all(d["valid"] >= 1 for d in districts)
    assert results["rates"]["overall"]["final"]["total"] == total_cases
    assert results["rates"]["overall"]["final"]["counts"]["I"] == completes
    verified = CliRunner().invoke(cli, ["audit", "verify"], env={"CATI_DATABASE_URL": db_url})
    assert verified.exit_code == 0, verified.output
