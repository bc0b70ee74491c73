"""``cati score`` and ``cati rates``: district scores and AAPOR outcome rates from CSV files.

The output formats are fixed (the assessment office and other tools read them): see
docs/questionnaire.md. The computation itself is ``cati.results.report``, shared with the results
API. A bad file stops with exit status 2 and one line naming the line and the column; nothing is
printed on stdout unless the whole file was good.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from cati.cli.common import CliError
from cati.results import labels
from cati.results.report import CellError, rates_report, response_columns, score_responses
from questionnaire.loader import InstrumentError, default_instrument, load_instrument
from questionnaire.model import Instrument


@dataclass
class _Table:
    """A CSV file read whole: the wanted columns as string arrays, and each row's first line."""

    name: str
    columns: dict[str, np.ndarray[Any, np.dtype[np.str_]]]
    lines: list[int]

    def fail(self, row: int, column: str, problem: str) -> CliError:
        return CliError(f"{self.name}: line {self.lines[row]}, column {column}: {problem}")


def _read_table(
    path: Path,
    wanted: Sequence[str],
    what: str,
    optional: Sequence[str] = (),
    aliases: Mapping[str, str] | None = None,
) -> _Table:
    """Read a UTF-8 (BOM allowed) CSV keeping the wanted columns (case-insensitive names), and the
    optional ones when the header has them. ``aliases`` maps other header names (the Chinese
    headers of the labelled export) to column names."""
    name = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CliError(f"找不到文件 {path} / {path}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"{path} 是目录，不是 CSV 文件 / {path}: is a directory, not a CSV file") from None
    except OSError as exc:
        raise CliError(f"无法读取 {path} / {path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        hint = ""
        try:
            raw.decode("gb18030")
            hint = (
                " (it looks like GBK: in Excel choose Save As > 'CSV UTF-8'"
                " / 看起来是 GBK 编码：请在 Excel 中“另存为”选“CSV UTF-8”)"
            )
        except UnicodeDecodeError:
            pass
        raise CliError(
            f"{name} 第 {line} 行不是 UTF-8 文本 / {name}: line {line}: not UTF-8 text{hint}"
        ) from None
    if not text.strip():
        raise CliError(
            f"{name}: 文件是空的，应有表头 / the file is empty: expected a header line with "
            f"{', '.join(wanted)}"
        )

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    header: list[str] | None = None
    header_line = 1
    previous_end = 0
    try:
        for record in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue  # blank line
            if header is None:
                header = [cell.strip().lower() for cell in record]
                header, header_line = [(aliases or {}).get(cell, cell) for cell in header], start
                continue
            rows.append(record)
            lines.append(start)
    except csv.Error as exc:
        raise CliError(f"{name}: line {reader.line_num}: {exc}") from None
    assert header is not None

    index: dict[str, int] = {}
    for position, column in enumerate(header):
        if column in wanted or column in optional:
            if column in index:
                raise CliError(f"{name}: line {header_line}, column {column}: appears twice in the header")
            index[column] = position
    for column in wanted:
        if column not in index:
            zh = {code: header for header, code in (aliases or {}).items()}
            alternative = (
                f"; 或中文表头 / or the Chinese headers {', '.join(zh[c] for c in wanted if c in zh)}"
            )
            raise CliError(
                f"{name}: line {header_line}, column {column}: missing in the header "
                f"(a {what} needs columns {', '.join(wanted)}{alternative if zh else ''})"
            )
    needed = max(index.values()) + 1
    for row, record in enumerate(rows):
        if len(record) < needed:
            column = next(c for c, p in index.items() if p >= len(record))
            raise CliError(
                f"{name}: line {lines[row]}, column {column}: missing "
                f"(the row has {len(record)} fields, the header {len(header)})"
            )
    columns = {
        column: np.asarray([record[position].strip() for record in rows], dtype=np.str_)
        for column, position in index.items()
    }
    return _Table(name, columns, lines)


def _instrument(path: Path | None) -> Instrument:
    try:
        return default_instrument() if path is None else load_instrument(path)
    except InstrumentError as exc:
        raise CliError(str(exc)) from None


def score_file(path: Path, instrument: Instrument) -> dict[str, Any]:
    """The ``cati score`` result for a responses CSV (raises CliError on a bad file)."""
    # ``rule`` and ``valid`` (responses.csv has them) are checked against the instrument's scoring
    # policy; a hand-made file without them is scored with that policy.
    # The default download (responses.csv) has Chinese headers and labels: map them back to codes.
    table = _read_table(
        path,
        response_columns(instrument),
        "responses file",
        optional=("rule", "valid"),
        aliases=labels.header_aliases(instrument),
    )
    for column, back in labels.value_aliases(instrument).items():
        if column in table.columns:
            cells = table.columns[column]
            table.columns[column] = np.asarray([back.get(v, v) for v in cells.tolist()], dtype=np.str_)
    try:
        return score_responses(instrument, table.columns)
    except CellError as exc:
        raise table.fail(exc.row, exc.column, exc.problem) from None


def rates_file(path: Path, e: float | None) -> dict[str, Any]:
    """The ``cati rates`` result for a dispositions CSV (raises CliError on a bad file)."""
    table = _read_table(path, ["code"], "dispositions file")
    try:
        return rates_report(table.columns["code"].tolist(), e)
    except CellError as exc:
        raise table.fail(exc.row, exc.column, exc.problem) from None


def _emit(result: dict[str, Any]) -> None:
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))


@click.command("score")
@click.argument("responses", metavar="RESPONSES.csv", type=click.Path(path_type=Path))
@click.option(
    "--instrument",
    "instrument_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Instrument YAML (default: the packaged 1+10 satisfaction instrument).",
)
def score(responses: Path, instrument_path: Path | None) -> None:
    """District scores from a responses CSV (columns district, stratum, overall, q1..q10, or the
    Chinese headers and labels of the default responses.csv download), as JSON.

    Optional columns ``rule`` (e.g. all-rated/1) and ``valid`` (0/1) must agree with the
    instrument's scoring policy."""
    _emit(score_file(responses, _instrument(instrument_path)))


@click.command("rates")
@click.argument("dispositions", metavar="DISPOSITIONS.csv", type=click.Path(path_type=Path))
@click.option("--e", "e_text", default=None, metavar="E", help="Eligible share of unknown cases (0-1).")
def rates(dispositions: Path, e_text: str | None) -> None:
    """AAPOR RR1-RR6, COOP1-4, REF1-3, CON1-3 from a CSV with a column ``code``, as JSON."""
    e: float | None = None
    if e_text is not None:
        try:
            e = float(e_text)
        except ValueError:
            raise CliError(f"--e must be a number between 0 and 1, not {e_text!r}") from None
        if not 0.0 <= e <= 1.0:
            raise CliError(f"--e must be between 0 and 1, not {e_text}")
    _emit(rates_file(dispositions, e))


#: Registered in cati/cli/__init__.py's _GROUPS.
commands = (score, rates)
