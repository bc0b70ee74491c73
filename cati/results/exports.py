"""The assessment office's downloads: scores (CSV, xlsx), responses (labelled CSV, xlsx, SPSS .sav)
and the versioned final-score JSON. See docs/results.md.

Why built on ``service.campaign_results`` and ``service.export_rows``: the figures in every file are
the very ones of the results JSON (and, after close, of the sealed results whose digest the
witnesses sign), and the responses are the rows ``cati score`` re-scores. This module only lays
them out: headers and value labels in Chinese (default) or English, formatted spreadsheets
(openpyxl) and SPSS files with variable/value labels and user-missing codes (pyreadstat). The
callers (the endpoints) check ``cati.results.sealing`` first. No phone number is ever read here.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select
from sqlalchemy.orm import Session

from cati.campaigns.instruments import campaign_instrument
from cati.campaigns.service import get_campaign
from cati.models import Campaign, CampaignStatus
from cati.models import Interview as InterviewRow
from cati.results import service
from cati.results.labels import (
    DONT_KNOW_CODE,
    MISSING_LABELS,
    REFUSED_CODE,
    RESPONSE_HEADERS_EN,
    RESPONSE_HEADERS_ZH,
    VALID_LABELS,
    response_headers,
)
from cati.results.sealing import Lang
from questionnaire.engine import AnswerStatus, BadSavedState, Interview
from questionnaire.model import Instrument, Item, ItemKind
from scoring.aapor import RATE_NAMES

#: The final-score JSON's schema name; bump the number on any change that is not an added key.
FINAL_SCORES_SCHEMA = "cati.final-scores/1"

_INTEGER_COLUMNS = ("interview_id", "case_id", "interviewer_id")

RATE_PREFIX_ZH = {"RR": "应答率", "COOP": "合作率", "REF": "拒访率", "CON": "接触率"}

#: The scores table's fixed columns: key -> (zh-CN header, en header).
SCORE_COLUMNS: dict[str, tuple[str, str]] = {
    "order": ("序号", "order"),
    "district": ("区县", "district"),
    "district_code": ("区县代码", "district_code"),
    "rank": ("名次", "rank"),
    "score": ("得分", "score"),
    "component": ("60分制得分", "component_60"),
    "ci95_low": ("95%置信区间下限", "ci95_low"),
    "ci95_high": ("95%置信区间上限", "ci95_high"),
    "valid": ("有效问卷", "valid"),
    "invalid": ("无效问卷", "invalid"),
}


# ---- responses ----------------------------------------------------------------------------------


def _statuses(session: Session, instrument: Instrument, ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """Per interview, the items answered "don't know" or refused (the export leaves them empty)."""
    wanted = list(ids)
    out: dict[int, dict[str, str]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for row_id, state in session.execute(
            select(InterviewRow.id, InterviewRow.state).where(InterviewRow.id.in_(chunk))
        ):
            try:
                answers = Interview.from_dict(instrument, state).answers
            except BadSavedState:
                continue  # export_rows used the stored score row; the cells stay empty
            out[row_id] = {
                item: a.status.value for item, a in answers.items() if a.status is not AnswerStatus.ANSWERED
            }
    return out


@dataclass(frozen=True)
class Responses:
    """The machine export with what the labelled exports need: statuses, instrument, campaign."""

    campaign: Campaign
    instrument: Instrument
    export: service.Export
    statuses: dict[int, dict[str, str]]

    @cached_property
    def items(self) -> dict[str, Item]:
        """The answer items by id (screening items are not exported); built once, read per cell."""
        return {i.id: i for i in self.instrument.items if not i.screening}

    def status(self, row: dict[str, str], column: str) -> str | None:
        return self.statuses.get(int(row["interview_id"]), {}).get(column)

    def label(self, row: dict[str, str], column: str, lang: Lang) -> str:
        """A cell as the office reads it: option labels, 不知道/拒答, 有效/无效, stratum names."""
        cell = row[column]
        items = self.items
        if column == "stratum":
            for s in self.instrument.strata:
                if s.id == cell:
                    return s.label.get(lang)
            return cell
        if column == "valid":
            return VALID_LABELS[lang].get(cell, cell)
        if column in items and items[column].kind in (ItemKind.RATING, ItemKind.SINGLE_CHOICE):
            if cell == "":
                status = self.status(row, column)
                return MISSING_LABELS[lang].get(status, "") if status else ""
            for option in items[column].options:
                if option.value == cell:
                    return option.label.get(lang)
        return cell


def responses(session: Session, campaign_id: int, *, include_all: bool = False) -> Responses:
    """The questionnaires of a campaign (``export_rows``) with their don't-know/refused marks."""
    campaign = get_campaign(session, campaign_id)
    instrument = campaign_instrument(campaign)
    export = service.export_rows(session, campaign_id, include_all=include_all)
    statuses = _statuses(session, instrument, (int(r["interview_id"]) for r in export.rows))
    return Responses(campaign, instrument, export, statuses)


def responses_csv(data: Responses, lang: Lang) -> bytes:
    """zh-CN: Chinese headers and labels (``cati score`` reads it back); en: ``export_csv``'s codes."""
    if lang == "en":
        return service.export_csv(data.export)
    headers = response_headers(data.instrument, lang)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([headers.get(c, c) for c in data.export.header])
    for row in data.export.rows:
        writer.writerow([data.label(row, c, lang) for c in data.export.header])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def _variable_labels(data: Responses, lang: Lang) -> dict[str, str]:
    """Column code -> its long label: item texts for answers, the header for the rest."""
    fixed = RESPONSE_HEADERS_EN if lang == "en" else RESPONSE_HEADERS_ZH
    out = dict(fixed)
    for item in data.instrument.items:
        if not item.screening:
            out[item.id] = item.text.get(lang)
    return out


def responses_xlsx(data: Responses, lang: Lang) -> bytes:
    """The responses as a formatted workbook: answers sheet, item texts sheet, notes sheet."""
    headers = response_headers(data.instrument, lang)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "答卷" if lang == "zh-CN" else "responses"
    columns = data.export.header
    rows: list[list[Any]] = []
    for row in data.export.rows:
        cells: list[Any] = []
        for c in columns:
            value = data.label(row, c, lang)
            cells.append(int(value) if c in _INTEGER_COLUMNS and value.isdigit() else value)
        rows.append(cells)
    _table(ws, [headers.get(c, c) for c in columns], rows)
    labels = _variable_labels(data, lang)
    items = wb.create_sheet("题目" if lang == "zh-CN" else "items")
    _table(
        items,
        ["列名", "代码", "题目 / 说明"] if lang == "zh-CN" else ["column", "code", "question / meaning"],
        [[headers.get(c, c), c, labels.get(c, "")] for c in columns],
    )
    _notes(wb, data.campaign, data.instrument, lang, digest=None)
    return _save(wb)


def responses_sav(data: Responses, lang: Lang) -> bytes:
    """The responses for SPSS: numeric codes with value labels, 98/99 user-missing, item texts as labels."""
    import pandas as pd
    import pyreadstat

    items = data.items
    strata = {s.id: k for k, s in enumerate(data.instrument.strata, start=1)}
    missing = MISSING_LABELS[lang]
    columns: dict[str, list[Any]] = {}
    value_labels: dict[str, dict[int | float, str]] = {}
    missing_ranges: dict[str, list[Any]] = {}
    measure: dict[str, str] = {}
    for c in data.export.header:
        item = items.get(c)
        if c in _INTEGER_COLUMNS:
            columns[c] = [float(r[c]) if r[c] else float("nan") for r in data.export.rows]
        elif c == "stratum":
            columns[c] = [float(strata[r[c]]) if r[c] in strata else float("nan") for r in data.export.rows]
            value_labels[c] = {
                float(k): data.instrument.strata[k - 1].label.get(lang) for k in strata.values()
            }
            measure[c] = "nominal"
        elif c == "valid":
            columns[c] = [float(r[c]) if r[c] in ("0", "1") else float("nan") for r in data.export.rows]
            value_labels[c] = {float(k): v for k, v in VALID_LABELS[lang].items()}
            measure[c] = "nominal"
        elif item is not None and item.kind in (ItemKind.RATING, ItemKind.SINGLE_CHOICE):
            codes = {o.value: o.code for o in item.options}
            cells: list[float] = []
            for r in data.export.rows:
                if r[c] in codes:
                    cells.append(float(codes[r[c]]))
                else:
                    status = data.status(r, c)
                    cells.append(
                        float(DONT_KNOW_CODE)
                        if status == AnswerStatus.DONT_KNOW.value
                        else float(REFUSED_CODE)
                        if status == AnswerStatus.REFUSED.value
                        else float("nan")
                    )
            columns[c] = cells
            value_labels[c] = {float(o.code): o.label.get(lang) for o in item.options}
            value_labels[c][float(DONT_KNOW_CODE)] = missing[AnswerStatus.DONT_KNOW.value]
            value_labels[c][float(REFUSED_CODE)] = missing[AnswerStatus.REFUSED.value]
            missing_ranges[c] = [float(DONT_KNOW_CODE), float(REFUSED_CODE)]
            measure[c] = "ordinal" if item.kind == ItemKind.RATING else "nominal"
        else:
            columns[c] = [r[c] for r in data.export.rows]
    frame = pd.DataFrame(columns, columns=list(data.export.header))
    labels = _variable_labels(data, lang)
    fd, path = tempfile.mkstemp(suffix=".sav")
    os.close(fd)
    try:
        pyreadstat.write_sav(
            frame,
            path,
            file_label=f"{data.campaign.code} responses"[:64],
            column_labels={c: labels.get(c, c) for c in data.export.header},
            variable_value_labels=value_labels,
            missing_ranges=missing_ranges,
            variable_measure=measure,
        )
        with open(path, "rb") as handle:
            return handle.read()
    finally:
        os.unlink(path)


# ---- scores ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreTable:
    """The districts in the campaign's official order with their scores, dimensions and rates."""

    keys: list[str]
    headers: list[str]
    rows: list[dict[str, Any]]
    dimensions: list[tuple[str, str]] = field(default_factory=list)  # (key, header)
    rates: list[tuple[str, str]] = field(default_factory=list)
    rates_kind: str = "final"


def _rate_header(name: str, lang: Lang) -> str:
    if lang == "en":
        return name
    prefix = name.rstrip("0123456789")
    return f"{RATE_PREFIX_ZH.get(prefix, prefix)}{name}"


def rates_kind(campaign: Campaign) -> str:
    """Final rates after close; before (scores opened early) only provisional ones mean anything."""
    return "final" if campaign.status == CampaignStatus.closed.value else "provisional"


def score_table(
    results: dict[str, Any], campaign: Campaign, instrument: Instrument, lang: Lang
) -> ScoreTable:
    """One row per district of ``results`` (the results JSON), in the campaign's official order."""
    kind = rates_kind(campaign)
    scores = {d["district"]: d for d in results["scores"]["districts"]}
    rates = {d["code"]: d[kind] for d in results["rates"]["districts"]}
    names_en = {d["code"]: d.get("name_en") or d["code"] for d in results["rates"]["districts"]}
    dims = [(f"dim_{d.id}", d.label.get(lang)) for d in instrument.scoring.dimensions]
    rate_cols = [(name, _rate_header(name, lang)) for name in RATE_NAMES]
    keys = [*SCORE_COLUMNS, *(k for k, _ in dims), *(k for k, _ in rate_cols)]
    headers = [
        *(zh if lang == "zh-CN" else en for zh, en in SCORE_COLUMNS.values()),
        *(h for _, h in dims),
        *(h for _, h in rate_cols),
    ]
    rows: list[dict[str, Any]] = []
    for order, d in enumerate(results["counts"]["districts"], start=1):
        s = scores.get(d["district"], {})
        ci = s.get("ci95") or [None, None]
        row: dict[str, Any] = {
            "order": order,
            "district": d["district"] if lang == "zh-CN" else names_en.get(d["code"], d["code"]),
            "district_code": d["code"],
            "rank": s.get("rank"),
            "score": s.get("score"),
            "component": s.get("component"),
            "ci95_low": ci[0],
            "ci95_high": ci[1],
            "valid": s.get("valid", d["questionnaires"]["valid"]),
            "invalid": s.get("invalid", d["questionnaires"]["invalid"]),
        }
        dim_scores = s.get("dimensions") or {}
        for spec in instrument.scoring.dimensions:
            row[f"dim_{spec.id}"] = dim_scores.get(spec.id)
        district_rates = rates.get(d["code"], {})
        for name in RATE_NAMES:
            row[name] = district_rates.get(name)
        rows.append(row)
    return ScoreTable(keys, headers, rows, dims, rate_cols, kind)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return service._safe_text(value)
    return str(value)


def scores_csv(table: ScoreTable) -> bytes:
    """The scores table as UTF-8 CSV with a BOM (full precision, as in the results JSON)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.headers)
    for row in table.rows:
        writer.writerow([_text(row[k]) for k in table.keys])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def scores_xlsx(
    table: ScoreTable, campaign: Campaign, instrument: Instrument, lang: Lang, digest: str | None
) -> bytes:
    """Sheets scores, dimensions, rates and notes; 2-decimal numbers, bold frozen header."""
    zh = lang == "zh-CN"
    head = [("order", 0), ("district", 1), ("district_code", 2)]
    base_headers = [table.headers[i] for _, i in head]
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "成绩" if zh else "scores"
    score_keys = list(SCORE_COLUMNS)
    _table(
        ws,
        table.headers[: len(score_keys)],
        [[row[k] for k in score_keys] for row in table.rows],
        decimals={"score", "component", "ci95_low", "ci95_high"},
        keys=score_keys,
    )
    dims = wb.create_sheet("分项" if zh else "dimensions")
    _table(
        dims,
        [*base_headers, *(h for _, h in table.dimensions)],
        [[row[k] for k, _ in head] + [row[k] for k, _ in table.dimensions] for row in table.rows],
        decimals={k for k, _ in table.dimensions},
        keys=[k for k, _ in head] + [k for k, _ in table.dimensions],
    )
    rates = wb.create_sheet("应答率" if zh else "rates")
    _table(
        rates,
        [*base_headers, *(h for _, h in table.rates)],
        [[row[k] for k, _ in head] + [row[k] for k, _ in table.rates] for row in table.rows],
        percent={k for k, _ in table.rates},
        keys=[k for k, _ in head] + [k for k, _ in table.rates],
    )
    _notes(wb, campaign, instrument, lang, digest=digest, rates=table.rates_kind)
    return _save(wb)


# ---- final-score JSON --------------------------------------------------------------------------


def final_scores(results: dict[str, Any], campaign: Campaign, instrument: Instrument) -> dict[str, Any]:
    """The versioned final-score JSON (``cati.final-scores/1``) from the sealed results."""
    sealed = results["sealed"]
    table = score_table(results, campaign, instrument, "zh-CN")
    names_en = {d["code"]: d.get("name_en") or "" for d in results["rates"]["districts"]}
    scores = {d["district"]: d for d in results["scores"]["districts"]}
    districts = []
    for row, counts in zip(table.rows, results["counts"]["districts"], strict=True):
        s = scores.get(counts["district"], {})
        districts.append(
            {
                "order": row["order"],
                "code": row["district_code"],
                "name_zh": counts["district"],
                "name_en": names_en.get(row["district_code"], ""),
                "rank": row["rank"],
                "rank_range": s.get("rank_range"),
                "score": row["score"],
                "component_60": row["component"],
                "ci95": s.get("ci95"),
                "component_ci95": s.get("component_ci95"),
                "valid": row["valid"],
                "invalid": row["invalid"],
                "dimensions": {spec.id: row[f"dim_{spec.id}"] for spec in instrument.scoring.dimensions},
                "rates": {name: row[name] for name in RATE_NAMES},
            }
        )
    return {
        "schema": FINAL_SCORES_SCHEMA,
        "campaign": {
            "id": campaign.id,
            "code": campaign.code,
            "name_zh": campaign.name_zh,
            "name_en": campaign.name_en,
            "timezone": campaign.timezone,
        },
        "closed_at": sealed["closed_at"],
        "results_sha256": sealed["sha256"],
        "rule": instrument.policy.label,
        "instrument": {"id": instrument.id, "version": instrument.version, "sha256": instrument.digest},
        "dimensions": [
            {"id": d.id, "label_zh": d.label.zh_CN, "label_en": d.label.en, "weight": d.weight}
            for d in instrument.scoring.dimensions
        ],
        "rates": "final",
        "districts": districts,
    }


# ---- spreadsheet plumbing ----------------------------------------------------------------------


def _width(value: Any) -> int:
    text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is kept as text."""
    if isinstance(value, str):
        return service._safe_text(value)
    return value


def _table(
    ws: Worksheet,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    decimals: set[str] | None = None,
    percent: set[str] | None = None,
    keys: Sequence[str] | None = None,
) -> None:
    """Bold frozen header, rows, number formats by column key, widths from the content."""
    bold = Font(bold=True)
    ws.append([_cell(h) for h in headers])
    for cell in ws[1]:
        cell.font = bold
    for row in rows:
        ws.append([_cell(v) for v in row])
    ws.freeze_panes = "A2"
    for j, header in enumerate(headers, start=1):
        key = keys[j - 1] if keys else None
        fmt = "0.00" if decimals and key in decimals else "0.00%" if percent and key in percent else None
        widest = _width(header)
        for i, row in enumerate(rows, start=2):
            value = row[j - 1]
            if fmt is not None and isinstance(value, (int, float)):
                ws.cell(row=i, column=j).number_format = fmt
                widest = max(widest, 8)
            else:
                widest = max(widest, _width(value))
        ws.column_dimensions[get_column_letter(j)].width = min(max(widest + 2, 8), 60)


def _notes(
    wb: Workbook,
    campaign: Campaign,
    instrument: Instrument,
    lang: Lang,
    *,
    digest: str | None,
    rates: str | None = None,
) -> None:
    zh = lang == "zh-CN"
    zone = ZoneInfo(campaign.timezone)
    generated = dt.datetime.now(dt.UTC).astimezone(zone).isoformat(timespec="seconds")
    sealed = digest or ("尚未封存（调查未结束，成绩为提前开放）" if zh else "not sealed yet (opened early)")
    lines: list[tuple[str, str]] = [
        (
            "调查项目" if zh else "campaign",
            f"{campaign.name_zh if zh else campaign.name_en} ({campaign.code})",
        ),
        ("状态" if zh else "status", campaign.status),
        ("评分规则" if zh else "scoring rule", instrument.policy.label),
        ("问卷摘要 SHA-256" if zh else "instrument SHA-256", instrument.digest),
        ("结果摘要 SHA-256" if zh else "results SHA-256", sealed),
        ("生成时间" if zh else "generated", f"{generated} ({campaign.timezone})"),
    ]
    if rates is not None:
        lines.append(
            (
                "应答率口径" if zh else "rates",
                ("最终（仅含最终结果代码的样本）" if rates == "final" else "临时（调查进行中）")
                if zh
                else rates,
            )
        )
    lines.append(
        (
            "说明" if zh else "note",
            "数据不含任何电话号码；得分按上述评分规则计算，可用 cati score 复核答卷文件"
            if zh
            else "no phone numbers; scores follow the rule above and can be re-checked with cati score",
        )
    )
    ws = wb.create_sheet("说明" if zh else "notes")
    _table(ws, ["项目", "内容"] if zh else ["item", "value"], [list(line) for line in lines])


def _save(wb: Workbook) -> bytes:
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
