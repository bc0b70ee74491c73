"""A restarted demo continues its service clock after the last call instead of setting it back.

Set back, every retry and appointment of the first run lies in the future and the survey stands
still until the clock catches up (seen as a progress line that does not move after a restart).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from cati.cli import cli
from cati.demo.run import demo_start, resume_start
from cati.models import Attempt, Case, District

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHEAP_HASH = {"CATI_ARGON2_TIME_COST": "1", "CATI_ARGON2_MEMORY_KIB": "1024"}
NOW = dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.UTC)  # a Thursday, 11:00 in Shanghai


def sh(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def test_resume_start_never_goes_back_before_a_call() -> None:
    assert resume_start(None, NOW) == demo_start(NOW) == sh(26, 9)
    assert resume_start(sh(26, 8, 30), NOW) == sh(26, 9)  # earlier calls: the usual start
    assert resume_start(sh(26, 10, 47), NOW) == sh(26, 10, 48)
    naive_utc = sh(26, 14, 5).astimezone(dt.UTC).replace(tzinfo=None)  # as SQLite returns it
    assert resume_start(naive_utc, NOW) == sh(26, 14, 6)
    assert resume_start(sh(26, 21, 30), NOW) == sh(27, 9)  # windows about to close: next morning
    assert resume_start(sh(28, 6, 0), NOW) == sh(28, 9)


def test_second_demo_start_continues_after_the_last_call(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    env = {**CHEAP_HASH, "CATI_DATA_DIR": str(data)}
    args = ["demo", "--prepare-only", "--interviewers", "1"]
    first = CliRunner().invoke(cli, args, env=env)
    assert first.exit_code == 0, first.output
    start = demo_start()
    last = (start + dt.timedelta(hours=5, minutes=12)).astimezone(dt.UTC)
    engine = create_engine(f"sqlite:///{data / 'cati.sqlite3'}")
    with Session(engine) as s, s.begin():
        district = s.execute(select(District).limit(1)).scalar_one()
        case = Case(
            campaign_id=district.campaign_id,
            district_id=district.id,
            stratum="resident",
            phone_number="53300000",
            sample_position=0,
            bank="533000",
        )
        s.add(case)
        s.flush()
        s.add(
            Attempt(
                case_id=case.id,
                campaign_id=district.campaign_id,
                channel_id="test-1",
                dialling_mode="progressive",
                started_at=last - dt.timedelta(minutes=2),
                ended_at=last,
            )
        )
    engine.dispose()
    second = CliRunner().invoke(cli, args, env=env)
    assert second.exit_code == 0, second.output
    shown = re.search(r"服务时钟 30 倍速，从上海时间 (\d{4}-\d\d-\d\d \d\d:\d\d) 起", second.output)
    assert shown is not None, second.output
    expected = (start + dt.timedelta(hours=5, minutes=13)).strftime("%Y-%m-%d %H:%M")
    assert shown.group(1) == expected
