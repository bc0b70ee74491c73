"""The case service on SQLite and PostgreSQL: release, hand-out, attempts, outcomes, reconciliation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from case_factory import ALWAYS_OPEN, MONDAY_9, make_campaign, make_interviewer
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cati.audit import verify_chain
from cati.cases import service as svc
from cati.cases.states import TRANSITIONS, IllegalTransition, can_transition, transition
from cati.cli import cli
from cati.db import make_sessionmaker, transaction
from cati.errors import Conflict, Invalid
from cati.models import Attempt, AuditEntry, Case, CaseStatus, District, QuotaCell

NOW = MONDAY_9
M = dt.timedelta(minutes=1)


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def s(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        yield session
        session.rollback()


def dial(s: Session, campaign_id: int, now: dt.datetime, channel: str, **kw: object) -> tuple[Case, Attempt]:
    case = svc.next_case(s, campaign_id, now=now, **kw)  # type: ignore[arg-type]
    assert case is not None, "expected a case to dial"
    attempt = svc.start_attempt(s, case, channel_id=channel, dialling_mode="progressive", now=now, node="n1")
    return case, attempt


# ---------------------------------------------------------------------------------------------
# Release
# ---------------------------------------------------------------------------------------------


def test_release_hands_out_consecutive_positions_as_replicates(s: Session) -> None:
    b = make_campaign(s)
    d0 = b.district_ids[0]
    r1 = svc.release_sample(s, b.campaign_id, d0, "staff", 10, NOW)
    r2 = svc.release_sample(s, b.campaign_id, d0, "resident", 5, NOW)
    assert (r1.replicate, r1.first_position, r1.next_position) == (1, 0, 10)
    assert (r2.replicate, r2.first_position, r2.next_position) == (2, 10, 15)
    cases = (
        s.execute(select(Case).where(Case.district_id == d0).order_by(Case.sample_position)).scalars().all()
    )
    assert [c.sample_position for c in cases] == list(range(15))
    assert [c.stratum for c in cases] == ["staff"] * 10 + ["resident"] * 5
    assert all(c.status == "pending" and c.bank == c.phone_number[:-2] for c in cases)
    # The numbers are the district's ordered sample: anyone with the revealed seed re-generates them.
    out = CliRunner().invoke(
        cli,
        [
            "rdd",
            "generate",
            "--prefix",
            "1300",
            "--suffix-digits",
            "3",
            "--seed",
            "5eed" * 8,
            "--district",
            "D0",
            "--count",
            "15",
        ],
    )
    assert out.exit_code == 0, out.output
    expected = out.output.split()
    assert [c.phone_number for c in cases] == expected
    assert len(set(expected)) == 15 and all(n.startswith("1300") and len(n) == 7 for n in expected)
    assert s.get(District, d0).sample_position == 15  # type: ignore[union-attr]
    entries = s.execute(select(AuditEntry).where(AuditEntry.action == "sample.released")).scalars().all()
    assert len(entries) == 2 and entries[0].details["replicate"] == 1
    assert "1300" not in str(entries[0].details)  # no phone numbers in the audit log
    assert verify_chain(s).ok


def test_release_refuses_bad_requests(s: Session) -> None:
    b = make_campaign(s, targets={"staff": 5})
    d0 = b.district_ids[0]
    with pytest.raises(Invalid, match="no quota cell for stratum 'resident'"):
        svc.release_sample(s, b.campaign_id, d0, "resident", 5, NOW)
    with pytest.raises(Invalid, match="unknown stratum 'tourist'"):
        svc.release_sample(s, b.campaign_id, d0, "tourist", 5, NOW)
    with pytest.raises(Invalid, match="count must be positive"):
        svc.release_sample(s, b.campaign_id, d0, "staff", 0, NOW)
    with pytest.raises(Invalid, match="only 1000 of its 1000 are left"):
        svc.release_sample(s, b.campaign_id, d0, "staff", 1001, NOW)
    svc.release_sample(s, b.campaign_id, d0, "staff", 1000, NOW)
    with pytest.raises(Invalid, match="only 0 of its 1000"):
        svc.release_sample(s, b.campaign_id, d0, "staff", 1, NOW)


def test_release_without_seed_is_refused(s: Session) -> None:
    b = make_campaign(s, seed_hex=None)
    with pytest.raises(Invalid, match="no sampling seed"):
        svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 1, NOW)


def test_top_up_releases_into_cells_running_low_and_not_full(s: Session) -> None:
    b = make_campaign(s, scheduling={"topup_min_open": 5, "topup_batch": 8})
    d0, d1 = b.district_ids
    svc.release_sample(s, b.campaign_id, d0, "staff", 6, NOW)  # enough open cases
    cell = s.execute(
        select(QuotaCell).where(QuotaCell.district_id == d1, QuotaCell.stratum == "staff")
    ).scalar_one()
    cell.completes = cell.target  # full
    results = svc.top_up(s, b.campaign_id, NOW)
    got = {(s.get(District, r.district_id).code, r.stratum, len(r.case_ids)) for r in results}  # type: ignore[union-attr]
    assert got == {("D0", "resident", 8), ("D1", "resident", 8)}
    assert svc.top_up(s, b.campaign_id, NOW) == []  # now every open cell has enough


# ---------------------------------------------------------------------------------------------
# Hand-out
# ---------------------------------------------------------------------------------------------


def test_next_case_marks_dialling_and_never_hands_out_twice(s: Session) -> None:
    b = make_campaign(s)
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 3, NOW)
    seen = []
    for _ in range(3):
        c = svc.next_case(s, b.campaign_id, now=NOW)
        assert c is not None and c.status == "dialling"
        seen.append(c.id)
    assert len(set(seen)) == 3
    assert svc.next_case(s, b.campaign_id, now=NOW) is None


def test_next_case_respects_windows_campaign_status_and_filters(s: Session) -> None:
    b = make_campaign(s, windows={})  # default windows
    d0, d1 = b.district_ids
    svc.release_sample(s, b.campaign_id, d0, "staff", 2, NOW)
    svc.release_sample(s, b.campaign_id, d1, "resident", 2, NOW)
    evening = NOW + dt.timedelta(hours=10)  # 19:00 Shanghai
    lunch = NOW + dt.timedelta(hours=3, minutes=30)
    assert svc.next_case(s, b.campaign_id, now=lunch) is None
    c = svc.next_case(s, b.campaign_id, now=NOW)
    assert c is not None and c.stratum == "staff"
    assert svc.next_case(s, b.campaign_id, now=NOW, stratum="resident") is None
    c = svc.next_case(s, b.campaign_id, now=evening, district_id=d1)
    assert c is not None and c.stratum == "resident" and c.district_id == d1
    assert svc.next_case(s, b.campaign_id, now=evening, district_id=d0) is None
    campaign = svc.campaign_rules(s, b.campaign_id).campaign
    campaign.status = "closed"
    assert svc.next_case(s, b.campaign_id, now=NOW) is None


def test_closed_quota_cell_is_not_dialled(s: Session) -> None:
    b = make_campaign(s, districts=1, targets={"staff": 1})
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 3, NOW)
    case, _ = dial(s, b.campaign_id, NOW, "ch-1")
    svc.mark_connected(s, "ch-1", interviewer_id=make_interviewer(s, "iv1"), now=NOW)
    svc.record_interviewer_outcome(s, case, disposition_code="1.1", now=NOW + 10 * M)
    cell = s.execute(select(QuotaCell).where(QuotaCell.stratum == "staff")).scalar_one()
    assert cell.completes == 1 and case.status == "finalised" and case.final_disposition == "1.1"
    assert svc.next_case(s, b.campaign_id, now=NOW + 11 * M) is None
    # The hangup after the interview closes the attempt and leaves the case alone.
    a = svc.record_call_result(s, "ch-1", outcome="answered", hangup_cause=16, now=NOW + 11 * M)
    assert a.ended_at is not None and a.disposition == "1.1" and case.status == "finalised"


def test_fairness_prefers_the_cell_furthest_from_target(s: Session) -> None:
    b = make_campaign(s, targets={"staff": 10})
    d0, d1 = b.district_ids
    svc.release_sample(s, b.campaign_id, d0, "staff", 5, NOW)
    svc.release_sample(s, b.campaign_id, d1, "staff", 5, NOW)
    s.execute(select(QuotaCell).where(QuotaCell.district_id == d0)).scalar_one().completes = 6
    picks = [svc.next_case(s, b.campaign_id, now=NOW) for _ in range(4)]
    assert [p.district_id for p in picks if p] == [d1] * 4
    # With equal progress, sample positions interleave the districts: d0 catches up first.
    s.execute(select(QuotaCell).where(QuotaCell.district_id == d1)).scalar_one().completes = 6
    more = [svc.next_case(s, b.campaign_id, now=NOW) for _ in range(6)]
    assert [(p.district_id, p.sample_position) for p in more if p] == [
        (d0, 0),
        (d0, 1),
        (d0, 2),
        (d0, 3),
        (d0, 4),
        (d1, 4),
    ]


def test_retry_due_before_fresh_and_not_before_its_time(s: Session) -> None:
    b = make_campaign(s, districts=1)
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 1, NOW)
    case, _ = dial(s, b.campaign_id, NOW, "ch-1")
    svc.record_call_result(s, "ch-1", outcome="busy", hangup_cause=17, now=NOW + M)
    assert case.status == "scheduled" and case.last_disposition == "3.12"
    assert case.next_call_at == NOW + 16 * M
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 1, NOW)
    fresh = svc.next_case(s, b.campaign_id, now=NOW + 10 * M)
    assert fresh is not None and fresh.id != case.id  # the busy number is not due yet
    svc.release_case(s, fresh, now=NOW + 10 * M)
    assert fresh.status == "pending"
    again = svc.next_case(s, b.campaign_id, now=NOW + 16 * M)
    assert again is not None and again.id == case.id  # the retry due comes before the fresh case


def test_max_attempts_with_only_no_answers_closes_as_3_13(s: Session) -> None:
    b = make_campaign(s, districts=1, scheduling={"max_attempts": 3, "retry_minutes": {"no_answer": 0}})
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 1, NOW)
    for i in range(3):
        case, _ = dial(s, b.campaign_id, NOW + i * M, f"ch-{i}")
        svc.record_call_result(s, f"ch-{i}", outcome="no_answer", hangup_cause=19, now=NOW + i * M)
    assert case.status == "finalised" and case.final_disposition == "3.13" and case.attempts_count == 3
    assert svc.next_case(s, b.campaign_id, now=NOW + dt.timedelta(days=1)) is None
    assert svc.case_final_disposition(s, case) == "3.13"


def test_unallocated_number_is_final_non_working(s: Session) -> None:
    b = make_campaign(s, districts=1)
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 1, NOW)
    case, _ = dial(s, b.campaign_id, NOW, "ch-1")
    svc.record_call_result(s, "ch-1", outcome="failed", hangup_cause=1, now=NOW)
    assert case.status == "finalised" and case.final_disposition == "4.31"
    # A duplicate result (Hangup after OriginateResponse) changes nothing.
    svc.record_call_result(s, "ch-1", outcome="busy", now=NOW + M)
    assert case.final_disposition == "4.31"


@pytest.mark.parametrize("outcome", ["failed", "cancelled"])
def test_a_call_not_worked_keeps_the_number_and_retries_it(s: Session, outcome: str) -> None:
    # 3.11 from the one outcome table: the number was not worked, so it must not be lost
    b = make_campaign(s, districts=1)
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 1, NOW)
    case, attempt = dial(s, b.campaign_id, NOW, "ch-1")
    svc.record_call_result(s, "ch-1", outcome=outcome, now=NOW)
    assert attempt.disposition == "3.11"
    if outcome == "failed":
        # never reached the network (refused, dial plan error): not an attempt, the short delay
        assert case.status == "scheduled" and case.next_call_at == NOW + M and case.attempts_count == 0
    else:
        # it rang and we hung up first: an attempt, the technical delay
        assert case.status == "scheduled" and case.next_call_at == NOW + 30 * M and case.attempts_count == 1


def test_refused_originates_never_use_up_the_attempt_cap(s: Session) -> None:
    # issue 10: a PBX restart refused every originate and burnt the sample's attempts
    b = make_campaign(s, districts=1, scheduling={"max_attempts": 2})
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 1, NOW)
    when = NOW
    for i in range(5):
        case, _ = dial(s, b.campaign_id, when, f"ch-{i}")
        svc.record_call_result(s, f"ch-{i}", outcome="failed", now=when)
        assert case.status == "scheduled" and case.attempts_count == 0
        when = case.next_call_at
    assert svc.case_final_disposition(s, case) == "3.11"  # still "not attempted" for AAPOR
    case, _ = dial(s, b.campaign_id, when, "ch-busy-1")
    svc.record_call_result(s, "ch-busy-1", outcome="busy", now=when)
    assert case.attempts_count == 1 and case.status == "scheduled"
    case, _ = dial(s, b.campaign_id, case.next_call_at, "ch-busy-2")
    svc.record_call_result(s, "ch-busy-2", outcome="busy", now=case.next_call_at)
    assert case.status == "finalised" and case.final_disposition == "3.12"  # the cap counts real calls


def test_a_changed_number_closes_the_case_as_4_41(s: Session) -> None:
    b = make_campaign(s, districts=1)
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 1, NOW)
    case, _ = dial(s, b.campaign_id, NOW, "ch-1")
    svc.record_call_result(s, "ch-1", outcome="number_changed", hangup_cause=22, now=NOW)
    assert case.status == "finalised" and case.final_disposition == "4.41"


def test_an_unknown_call_outcome_is_refused_by_name(s: Session) -> None:
    b = make_campaign(s, districts=1)
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 1, NOW)
    case, attempt = dial(s, b.campaign_id, NOW, "ch-1")
    with pytest.raises(Invalid, match="'ringing'"):
        svc.record_call_result(s, "ch-1", outcome="ringing", now=NOW)
    assert attempt.ended_at is None and case.status == "dialling"


def test_bad_disposition_from_the_call_is_refused(s: Session) -> None:
    b = make_campaign(s, districts=1)
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 1, NOW)
    dial(s, b.campaign_id, NOW, "ch-1")
    with pytest.raises(Invalid, match=r"'7\.7'"):
        svc.record_call_result(s, "ch-1", outcome="busy", disposition="7.7", now=NOW)


def test_appointment_with_the_same_interviewer_then_anyone_after_grace(s: Session) -> None:
    b = make_campaign(s, districts=1, scheduling={"appointment_grace_minutes": 15})
    alice, bob = make_interviewer(s, "alice"), make_interviewer(s, "bob")
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 2, NOW)
    case, _ = dial(s, b.campaign_id, NOW, "ch-1")
    svc.mark_answered(s, "ch-1", now=NOW)
    svc.mark_connected(s, "ch-1", interviewer_id=alice, now=NOW)
    assert case.status == "interviewing"
    when = NOW + dt.timedelta(hours=2)
    svc.record_interviewer_outcome(
        s,
        case,
        disposition_code="2.21",
        now=NOW + M,
        appointment_at=when,
        appointment_interviewer_id=alice,
        note="请下午再打",
    )
    assert (
        case.status == "scheduled" and case.next_call_at == when and case.appointment_interviewer_id == alice
    )
    assert s.execute(select(AuditEntry).where(AuditEntry.action == "case.appointment")).scalar_one()
    # While the call is still up the case is not handed out, even when due.
    assert svc.next_case(s, b.campaign_id, now=when, interviewer_id=alice).id != case.id  # type: ignore[union-attr]
    svc.record_call_result(s, "ch-1", outcome="answered", hangup_cause=16, now=NOW + 2 * M)
    assert case.status == "scheduled"
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 1, NOW)
    # Not before its time; at its time only for alice (bob gets the other, fresh, case).
    assert svc.next_case(s, b.campaign_id, now=when - M, interviewer_id=alice).id != case.id  # type: ignore[union-attr]
    assert svc.next_case(s, b.campaign_id, now=when, interviewer_id=bob) is None
    got = svc.next_case(s, b.campaign_id, now=when, interviewer_id=alice)
    assert got is not None and got.id == case.id
    svc.release_case(s, got, now=when)
    assert got.status == "scheduled"
    # After the grace period anyone (also the dialer without an interviewer) may take it.
    assert svc.next_case(s, b.campaign_id, now=when + 14 * M) is None
    late = svc.next_case(s, b.campaign_id, now=when + 15 * M, interviewer_id=bob)
    assert late is not None and late.id == case.id


def test_appointment_is_dialled_outside_the_window_and_first(s: Session) -> None:
    b = make_campaign(s, districts=1, windows={})
    iv = make_interviewer(s, "iv")
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 3, NOW)
    case, _ = dial(s, b.campaign_id, NOW, "ch-1")
    svc.mark_connected(s, "ch-1", interviewer_id=iv, now=NOW)
    lunch = NOW + dt.timedelta(hours=3, minutes=30)  # 12:30 Shanghai: staff window closed
    svc.record_interviewer_outcome(s, case, disposition_code="2.35", now=NOW + M, appointment_at=lunch)
    svc.record_call_result(s, "ch-1", outcome="answered", now=NOW + M)
    got = svc.next_case(s, b.campaign_id, now=lunch)
    assert got is not None and got.id == case.id
    assert svc.next_case(s, b.campaign_id, now=lunch) is None  # the fresh cases wait for the window


def test_missed_appointment_is_tried_again_soon_even_outside_the_window(s: Session) -> None:
    b = make_campaign(s, districts=1, windows={})
    iv = make_interviewer(s, "iv")
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 1, NOW)
    case, _ = dial(s, b.campaign_id, NOW, "ch-1")
    svc.mark_connected(s, "ch-1", interviewer_id=iv, now=NOW)
    lunch = NOW + dt.timedelta(hours=3, minutes=30)  # 12:30 Shanghai
    svc.record_interviewer_outcome(s, case, disposition_code="2.21", now=NOW + M, appointment_at=lunch)
    svc.record_call_result(s, "ch-1", outcome="answered", now=NOW + M)
    dial(s, b.campaign_id, lunch, "ch-2")
    svc.record_call_result(s, "ch-2", outcome="no_answer", hangup_cause=19, now=lunch + M)
    assert case.status == "scheduled" and case.next_call_at == lunch + 31 * M
    assert case.appointment_at == lunch  # still an appointment: first in line, windows do not apply
    assert svc.next_case(s, b.campaign_id, now=lunch + 30 * M) is None
    again = svc.next_case(s, b.campaign_id, now=lunch + 31 * M)
    assert again is not None and again.id == case.id


def test_interviewer_outcome_validation(s: Session) -> None:
    b = make_campaign(s, districts=1)
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 1, NOW)
    case = svc.next_case(s, b.campaign_id, now=NOW)
    assert case is not None
    with pytest.raises(Conflict, match="no attempt"):
        svc.record_interviewer_outcome(s, case, disposition_code="2.21", now=NOW)
    svc.start_attempt(s, case, channel_id="ch-1", dialling_mode="preview", now=NOW, node="n1")
    with pytest.raises(Invalid, match=r"unknown AAPOR disposition code '2\.99'"):
        svc.record_interviewer_outcome(s, case, disposition_code="2.99", now=NOW)
    with pytest.raises(Invalid, match="in the future"):
        svc.record_interviewer_outcome(s, case, disposition_code="2.21", now=NOW, appointment_at=NOW)
    with pytest.raises(Invalid, match="closes the case"):
        svc.record_interviewer_outcome(s, case, disposition_code="1.1", now=NOW, appointment_at=NOW + M)
    svc.record_interviewer_outcome(s, case, disposition_code="2.112", now=NOW, final=True)
    assert case.final_disposition == "2.112"
    with pytest.raises(IllegalTransition, match="finalised"):
        svc.record_interviewer_outcome(s, case, disposition_code="1.1", now=NOW)


def test_soft_refusal_is_retried_once_then_closed(s: Session) -> None:
    b = make_campaign(s, districts=1, scheduling={"retry_minutes": {"soft_refusal": 0}})
    iv = make_interviewer(s, "iv")
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 1, NOW)
    for i in range(2):
        case, _ = dial(s, b.campaign_id, NOW + i * M, f"ch-{i}")
        svc.mark_connected(s, f"ch-{i}", interviewer_id=iv, now=NOW + i * M)
        svc.record_interviewer_outcome(s, case, disposition_code="2.112", now=NOW + i * M)
        svc.record_call_result(s, f"ch-{i}", outcome="answered", now=NOW + i * M)
    assert case.status == "finalised" and case.final_disposition == "2.112"


def test_abandoned_call_is_not_dialled_again_that_day(s: Session) -> None:
    b = make_campaign(s, districts=1, scheduling={"retry_minutes": {"abandoned": 0}})
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "resident", 1, NOW)
    case, _ = dial(s, b.campaign_id, NOW, "ch-1")
    svc.mark_answered(s, "ch-1", now=NOW)
    svc.mark_abandoned(s, "ch-1", now=NOW + 2 * M)
    svc.record_call_result(s, "ch-1", outcome="answered", hangup_cause=16, now=NOW + 3 * M)
    midnight = dt.datetime(2026, 11, 23, 16, 0, tzinfo=dt.UTC)  # 00:00 Shanghai, Tuesday
    assert case.status == "scheduled" and case.blocked_until == midnight
    assert case.next_call_at is not None and case.next_call_at >= midnight
    attempt = s.execute(select(Attempt)).scalar_one()
    assert attempt.abandoned and attempt.disposition == "3.21"
    assert svc.next_case(s, b.campaign_id, now=midnight - M) is None
    got = svc.next_case(s, b.campaign_id, now=midnight)
    assert got is not None and got.id == case.id


def test_a_case_has_at_most_one_call(s: Session) -> None:
    b = make_campaign(s, districts=1)
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 1, NOW)
    case, _ = dial(s, b.campaign_id, NOW, "ch-1")
    with pytest.raises(Conflict, match="already has a call"):
        svc.start_attempt(s, case, channel_id="ch-2", dialling_mode="progressive", now=NOW, node="n1")
    with pytest.raises(Conflict, match="call in progress"):
        svc.release_case(s, case, now=NOW)


def test_database_refuses_two_open_attempts_for_one_case(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        b = make_campaign(s, districts=1)
        svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 1, NOW)
        dial(s, b.campaign_id, NOW, "ch-1")
    with pytest.raises(IntegrityError), transaction(factory) as s:
        case = s.execute(select(Case)).scalar_one()
        # Behind the service's back: the partial unique index still says no.
        s.add(Attempt(case_id=case.id, campaign_id=case.campaign_id, channel_id="ch-2", dialling_mode="x"))
        s.flush()


def test_pending_case_cannot_be_dialled_without_hand_out(s: Session) -> None:
    b = make_campaign(s, districts=1)
    r = svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 1, NOW)
    case = s.get(Case, r.case_ids[0])
    assert case is not None
    with pytest.raises(Conflict, match="only a case handed out by next_case"):
        svc.start_attempt(s, case, channel_id="ch-1", dialling_mode="progressive", now=NOW, node="n1")


# ---------------------------------------------------------------------------------------------
# Faults and close
# ---------------------------------------------------------------------------------------------


def test_reconcile_closes_lost_attempts_and_reschedules(s: Session) -> None:
    b = make_campaign(s, districts=1)
    iv = make_interviewer(s, "iv")
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 3, NOW)
    lost, _ = dial(s, b.campaign_id, NOW, "ch-lost")
    alive, _ = dial(s, b.campaign_id, NOW, "ch-alive")
    talking, _ = dial(s, b.campaign_id, NOW, "ch-talk")
    svc.mark_connected(s, "ch-talk", interviewer_id=iv, now=NOW)
    result = svc.reconcile_open_attempts(s, ["ch-alive"], NOW + M, node="n1")
    assert result.rescheduled_cases == [lost.id] and result.with_interviewer == [talking.id]
    assert len(result.closed_attempts) == 2
    open_channels = s.execute(select(Attempt.channel_id).where(Attempt.ended_at.is_(None))).scalars().all()
    assert open_channels == ["ch-alive"]
    assert lost.status == "scheduled" and lost.next_call_at == NOW + 6 * M  # the short "lost" delay
    assert alive.status == "dialling" and talking.status == "interviewing"
    # The lost case is not handed out before its retry; the live one never while its call is up.
    assert svc.next_case(s, b.campaign_id, now=NOW + 2 * M) is None
    assert svc.next_case(s, b.campaign_id, now=NOW + 6 * M).id == lost.id  # type: ignore[union-attr]
    # A late result for the lost attempt changes nothing; reconciling again is a no-op.
    svc.record_call_result(s, "ch-lost", outcome="no_answer", now=NOW + 7 * M)
    assert lost.status == "dialling"
    assert svc.reconcile_open_attempts(s, ["ch-alive"], NOW + 8 * M, node="other").closed_attempts == []
    assert verify_chain(s).ok


def test_stale_hand_outs_are_reclaimed(s: Session) -> None:
    b = make_campaign(s, districts=1)
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 2, NOW)
    stale = svc.next_case(s, b.campaign_id, now=NOW)
    busy, _ = dial(s, b.campaign_id, NOW, "ch-1")
    assert stale is not None
    assert svc.reclaim_stale_handouts(s, now=NOW + M) == []
    assert svc.reclaim_stale_handouts(s, now=NOW + 10 * M) == [stale.id]
    assert stale.status == "pending" and busy.status == "dialling"


def test_finalise_open_cases_at_close(s: Session) -> None:
    b = make_campaign(s, districts=1)
    svc.release_sample(s, b.campaign_id, b.district_ids[0], "staff", 3, NOW)
    case, _ = dial(s, b.campaign_id, NOW, "ch-1")
    svc.record_call_result(s, "ch-1", outcome="no_answer", now=NOW)
    in_call, _ = dial(s, b.campaign_id, NOW, "ch-2")
    counts = svc.finalise_open_cases(s, b.campaign_id, now=NOW + M)
    assert counts == {"3.13": 1, "3.11": 1, "in_call": 1}
    assert case.final_disposition == "3.13" and in_call.status == "dialling"
    total = s.execute(select(func.count()).select_from(Case).where(Case.status == "finalised")).scalar_one()
    assert total == 2


def test_misconfigured_campaign_is_named(s: Session) -> None:
    b = make_campaign(s, windows={"staff": [{"days": [8], "start": "08:00", "end": "09:00"}]})
    with pytest.raises(Invalid, match=r"campaign C1: calling_windows.staff\[0\].days"):
        svc.next_case(s, b.campaign_id, now=NOW)


# ---------------------------------------------------------------------------------------------
# The state table
# ---------------------------------------------------------------------------------------------


def test_state_table() -> None:
    assert can_transition("pending", "dialling") and can_transition("scheduled", "dialling")
    assert not can_transition("interviewing", "dialling")  # only through scheduled
    assert not can_transition("dialling", "dialling")
    assert TRANSITIONS[CaseStatus.finalised] == frozenset()
    case = Case(id=7, status="finalised")
    with pytest.raises(IllegalTransition, match="case 7: cannot go from finalised to scheduled"):
        transition(case, "scheduled", why="test")
    assert ALWAYS_OPEN  # the factory's default windows exist
