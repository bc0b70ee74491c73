"""Results of a campaign for the assessment office: scores, AAPOR rates, counts, the responses export.

Why the export and the scores come from one list of rows: the office checks the published scores by
running ``cati score`` on the export, so ``export_rows`` is the single source of both, and
``cati.results.report.score_responses`` the single computation. No phone number ever leaves here.

Which interviews: a *questionnaire* is a finished interview whose disposition is an interview
(AAPOR 1.1 complete or 1.2 partial). Which count is the instrument's scoring policy
(``questionnaire.validity.judge``, e.g. ``all-rated/1``): the export's ``valid`` column, the counts
and the scores all apply it to the same cells, exactly as ``cati score`` does on the export, and
the ``rule`` column names it. ``include_all`` adds screen-outs and
break-offs to the export (``cati score`` then counts them as invalid too).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cati.campaigns.instruments import campaign_instrument
from cati.campaigns.service import get_campaign
from cati.errors import Conflict
from cati.instrument_scoring import scheme_for
from cati.models import Attempt, Case, CaseStatus, District, QuotaCell, User
from cati.models import Interview as InterviewRow
from cati.results.report import CellError, rates_report, score_responses
from cati.results.sealed import sealed_results
from dialer.schedule import final_disposition
from questionnaire.engine import BadSavedState, Interview
from questionnaire.model import Instrument
from questionnaire.validity import judge_cells
from scoring.aapor import OutcomeClass, classify

#: Dispositions that make an interview a questionnaire (AAPOR classes I and P).
QUESTIONNAIRE_CLASSES = frozenset({OutcomeClass.I, OutcomeClass.P})

#: A free-text cell starting with one of these is prefixed with ' so a spreadsheet never runs it
#: as a formula (CSV injection); the office reads the text, not a computed value.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

RATES_NOTE = (
    "final: cases with a final disposition only. provisional: every case dialled at least once; "
    "an open case counts with the code it would get if closed now (the precedence of "
    "docs/scheduling.md over its attempts' temporary codes). Cases never dialled are not counted "
    "(see counts.cases.not_attempted); at the close of fieldwork they become 3.11. "
    "e is AAPOR's proportional estimate."
)


@dataclass(frozen=True)
class Export:
    """The export's header and rows (cell texts), and the columns ``cati score`` reads."""

    header: list[str]
    rows: list[dict[str, str]]


def _iso(value: dt.datetime | None, zone: ZoneInfo) -> str:
    return "" if value is None else value.astimezone(zone).isoformat(timespec="seconds")


def _is_questionnaire(code: str | None) -> bool:
    if not code:
        return False
    try:
        return classify(code) in QUESTIONNAIRE_CLASSES
    except ValueError:
        return False


def _answers(row: InterviewRow, instrument: Instrument) -> dict[str, str]:
    """The interview's cells in the ``cati score`` vocabulary (stored, else from the engine state)."""
    if row.score_row:
        return {str(k): "" if v is None else str(v) for k, v in row.score_row.items()}
    try:
        return Interview.from_dict(instrument, row.state).score_row()
    except BadSavedState as exc:
        raise Conflict(f"interview {row.id}: its saved state cannot be read: {exc}") from None


def _safe_text(text: str) -> str:
    """A cell a user or an interviewer's name controls, made inert for spreadsheets (formula prefix)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_rows(session: Session, campaign_id: int, *, include_all: bool = False) -> Export:
    """One row per finished questionnaire (or every finished interview), oldest first; no phone numbers."""
    campaign = get_campaign(session, campaign_id)
    instrument = campaign_instrument(campaign)
    zone = ZoneInfo(campaign.timezone)
    scored = list(scheme_for(instrument).items)
    texts = [i.id for i in instrument.items if not i.screening and i.id not in scored]
    header = [
        "interview_id",
        "case_id",
        "district",
        "district_code",
        "stratum",
        *scored,
        *texts,
        "valid",
        "rule",
        "disposition",
        "interviewer_id",
        "interviewer",
        "started_at",
        "ended_at",
    ]
    query = (
        select(InterviewRow, District.name_zh, District.code, User.username)
        .join(District, District.id == InterviewRow.district_id)
        .outerjoin(User, User.id == InterviewRow.interviewer_id)
        .where(InterviewRow.campaign_id == campaign_id, InterviewRow.finished.is_(True))
        .order_by(InterviewRow.id)
    )
    rows: list[dict[str, str]] = []
    for interview, district_name, district_code, username in session.execute(query):
        if not include_all and not _is_questionnaire(interview.disposition):
            continue
        answers = _answers(interview, instrument)
        row = {
            "interview_id": str(interview.id),
            "case_id": str(interview.case_id),
            "district": _safe_text(district_name),
            "district_code": district_code,
            "stratum": interview.stratum,
        }
        row.update({item: answers.get(item, "") for item in scored})
        row.update({item: _safe_text(answers.get(item, "")) for item in texts})
        row.update(
            {
                # The rule on the very cells exported (rows stored before 0004 included).
                "valid": "1" if judge_cells(instrument, answers).valid else "0",
                "rule": interview.scoring_rule or instrument.policy.label,
                "disposition": interview.disposition or "",
                "interviewer_id": "" if interview.interviewer_id is None else str(interview.interviewer_id),
                "interviewer": _safe_text(username or ""),
                "started_at": _iso(interview.started_at, zone),
                "ended_at": _iso(interview.ended_at, zone),
            }
        )
        rows.append(row)
    return Export(header, rows)


def export_csv(export: Export) -> bytes:
    """The export as UTF-8 CSV with a BOM (Excel then reads the Chinese text correctly)."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=export.header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(export.rows)
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def scores_of(instrument: Instrument, rows: Iterable[dict[str, str]]) -> dict[str, Any]:
    """The ``cati score`` JSON of export rows (the same cells ``cati score`` reads back)."""
    listed = list(rows)
    columns = {
        name: [row[name].strip() for row in listed]
        for name in ["district", "stratum", *scheme_for(instrument).items, "valid", "rule"]
        if not listed or name in listed[0]
    }
    try:
        return score_responses(instrument, columns)
    except CellError as exc:
        raise Conflict(f"interview {listed[exc.row]['interview_id']}: {exc.column}: {exc.problem}") from None


def _case_codes(session: Session, campaign_id: int) -> list[tuple[Case, str | None, bool]]:
    """Each case with its final code (None if never dialled) and whether that code is final."""
    codes: dict[int, list[str | None]] = defaultdict(list)
    attempts = session.execute(
        select(Attempt.case_id, Attempt.disposition)
        .where(Attempt.campaign_id == campaign_id)
        .order_by(Attempt.started_at, Attempt.id)
    )
    for case_id, code in attempts:
        codes[case_id].append(code)
    out: list[tuple[Case, str | None, bool]] = []
    for case in session.execute(
        select(Case).where(Case.campaign_id == campaign_id).order_by(Case.id)
    ).scalars():
        if case.status == CaseStatus.finalised.value and case.final_disposition:
            out.append((case, case.final_disposition, True))
        elif codes.get(case.id):
            out.append((case, final_disposition(codes[case.id]), False))
        else:
            out.append((case, None, False))
    return out


def _rates_pair(entries: list[tuple[str | None, bool]]) -> dict[str, Any]:
    final = [code for code, is_final in entries if is_final and code]
    provisional = [code for code, _ in entries if code]
    return {"final": rates_report(final), "provisional": rates_report(provisional)}


def campaign_results(session: Session, campaign_id: int) -> dict[str, Any]:
    """Scores of the valid questionnaires, AAPOR rates per district and overall, and counts.

    After close: the results stored at close, with their digest (they never change again).
    """
    sealed = sealed_results(session, campaign_id)
    if sealed is not None:
        return sealed
    campaign = get_campaign(session, campaign_id)
    instrument = campaign_instrument(campaign)
    export = export_rows(session, campaign_id)
    districts = list(
        session.execute(
            select(District).where(District.campaign_id == campaign_id).order_by(District.id)
        ).scalars()
    )
    cells = list(session.execute(select(QuotaCell).where(QuotaCell.campaign_id == campaign_id)).scalars())
    attempts_per_district = dict(
        session.execute(
            select(Case.district_id, func.count(Attempt.id))
            .join(Attempt, Attempt.case_id == Case.id)
            .where(Case.campaign_id == campaign_id)
            .group_by(Case.district_id)
        ).all()
    )
    by_district: dict[int, list[tuple[str | None, bool]]] = defaultdict(list)
    status_counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    all_entries: list[tuple[str | None, bool]] = []
    not_attempted = 0
    for case, code, is_final in _case_codes(session, campaign_id):
        by_district[case.district_id].append((code, is_final))
        status_counts[case.district_id][case.status] += 1
        all_entries.append((code, is_final))
        not_attempted += code is None
    questionnaires: dict[str, dict[str, int]] = defaultdict(lambda: {"valid": 0, "invalid": 0})
    for row in export.rows:
        questionnaires[row["district_code"]]["valid" if row["valid"] == "1" else "invalid"] += 1

    def case_counts(statuses: dict[str, int]) -> dict[str, int]:
        total = sum(statuses.values())
        return {
            "total": total,
            "finalised": statuses.get(CaseStatus.finalised.value, 0),
            "open": total - statuses.get(CaseStatus.finalised.value, 0),
            **{s.value: statuses.get(s.value, 0) for s in CaseStatus},
        }

    overall_status: dict[str, int] = defaultdict(int)
    for statuses in status_counts.values():
        for key, n in statuses.items():
            overall_status[key] += n
    district_counts = []
    district_rates = []
    for d in districts:
        district_rates.append(
            {"district": d.name_zh, "code": d.code, "name_en": d.name_en, **_rates_pair(by_district[d.id])}
        )
        district_counts.append(
            {
                "district": d.name_zh,
                "code": d.code,
                "cases": case_counts(status_counts[d.id]),
                "attempts": int(attempts_per_district.get(d.id, 0)),
                "questionnaires": questionnaires[d.code],
                "quota": {
                    c.stratum: {"target": c.target, "completes": c.completes}
                    for c in cells
                    if c.district_id == d.id
                },
            }
        )
    return {
        "campaign": {
            "id": campaign.id,
            "code": campaign.code,
            "name_zh": campaign.name_zh,
            "name_en": campaign.name_en,
            "status": campaign.status,
        },
        "scores": scores_of(instrument, export.rows),
        "scores_note": (
            "the cati score JSON of this campaign's questionnaires (AAPOR 1.1/1.2 interviews): "
            "identical to `cati score` run on GET /api/v1/campaigns/{id}/exports/responses.csv"
        ),
        "rates": {
            "note": RATES_NOTE,
            "overall": _rates_pair(all_entries),
            "districts": district_rates,
        },
        "counts": {
            "cases": {**case_counts(overall_status), "not_attempted": not_attempted},
            "attempts": int(sum(attempts_per_district.values())),
            "questionnaires": {
                "valid": sum(q["valid"] for q in questionnaires.values()),
                "invalid": sum(q["invalid"] for q in questionnaires.values()),
            },
            "districts": district_counts,
        },
    }
