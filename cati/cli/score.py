"""``cati score`` and ``cati rates``: district scores and AAPOR outcome rates from CSV files.

The output formats are fixed (the assessment office and other tools read them): see
docs/questionnaire.md. The computation itself is ``cati.results.report``, shared with the results
API. A bad file stops with exit status 2 and one line naming the line and the column; nothing is
printed on stdout unless the whole file was good.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np

from cati.cli.common import CliError
from cati.results import labels
from cati.results.report import CellError, rates_report, response_columns, score_responses
from cati.results.table import Table, TableError, read_table
from questionnaire.loader import InstrumentError, default_instrument, load_instrument
from questionnaire.model import Instrument


def _read(
    path: Path,
    wanted: Sequence[str],
    what: str,
    optional: Sequence[str] = (),
    aliases: Mapping[str, str] | None = None,
) -> Table:
    try:
        return read_table(path, wanted, what, optional, aliases)
    except TableError as exc:
        raise CliError(str(exc)) from None


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
    table = _read(
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
        raise CliError(str(table.fail(exc.row, exc.column, exc.problem))) from None


def rates_file(path: Path, e: float | None) -> dict[str, Any]:
    """The ``cati rates`` result for a dispositions CSV (raises CliError on a bad file)."""
    table = _read(path, ["code"], "dispositions file")
    try:
        return rates_report(table.columns["code"].tolist(), e)
    except CellError as exc:
        raise CliError(str(table.fail(exc.row, exc.column, exc.problem))) from None


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
