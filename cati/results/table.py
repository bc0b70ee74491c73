"""Reading a CSV file whole into columns of cell texts: ``cati score``, ``cati rates`` and ``cati verify``.

Pure (no database): one reader, so ``cati verify`` reads a bundle's ``responses.csv`` exactly as
``cati score`` reads it. Errors name the file, the line and the column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


class TableError(ValueError):
    """A file that cannot be read as the table asked for; the message names line and column."""


@dataclass
class Table:
    """A CSV file read whole: the wanted columns as string arrays, and each row's first line."""

    name: str
    columns: dict[str, np.ndarray[Any, np.dtype[np.str_]]]
    lines: list[int]

    def fail(self, row: int, column: str, problem: str) -> TableError:
        return TableError(f"{self.name}: line {self.lines[row]}, column {column}: {problem}")


def read_table(
    path: Path,
    wanted: Sequence[str],
    what: str,
    optional: Sequence[str] = (),
    aliases: Mapping[str, str] | None = None,
) -> Table:
    """Read a UTF-8 (BOM allowed) CSV keeping the wanted columns (case-insensitive names), and the
    optional ones when the header has them. ``aliases`` maps other header names (the Chinese
    headers of the labelled export) to column names."""
    name = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise TableError(f"找不到文件 {path} / {path}: no such file") from None
    except IsADirectoryError:
        raise TableError(f"{path} 是目录，不是 CSV 文件 / {path}: is a directory, not a CSV file") from None
    except OSError as exc:
        raise TableError(f"无法读取 {path} / {path}: cannot read: {exc.strerror or exc}") from None
    return parse_table(name, raw, wanted, what, optional, aliases)


def parse_table(
    name: str,
    raw: bytes,
    wanted: Sequence[str],
    what: str,
    optional: Sequence[str] = (),
    aliases: Mapping[str, str] | None = None,
) -> Table:
    """:func:`read_table` on bytes already in hand (``name`` names them in messages)."""
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
        raise TableError(
            f"{name} 第 {line} 行不是 UTF-8 文本 / {name}: line {line}: not UTF-8 text{hint}"
        ) from None
    if not text.strip():
        raise TableError(
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
        raise TableError(f"{name}: line {reader.line_num}: {exc}") from None
    assert header is not None

    index: dict[str, int] = {}
    for position, column in enumerate(header):
        if column in wanted or column in optional:
            if column in index:
                raise TableError(f"{name}: line {header_line}, column {column}: appears twice in the header")
            index[column] = position
    for column in wanted:
        if column not in index:
            zh = {code: header for header, code in (aliases or {}).items()}
            alternative = (
                f"; 或中文表头 / or the Chinese headers {', '.join(zh[c] for c in wanted if c in zh)}"
            )
            raise TableError(
                f"{name}: line {header_line}, column {column}: missing in the header "
                f"(a {what} needs columns {', '.join(wanted)}{alternative if zh else ''})"
            )
    needed = max(index.values()) + 1
    for row, record in enumerate(rows):
        if len(record) < needed:
            column = next(c for c, p in index.items() if p >= len(record))
            raise TableError(
                f"{name}: line {lines[row]}, column {column}: missing "
                f"(the row has {len(record)} fields, the header {len(header)})"
            )
    columns = {
        column: np.asarray([record[position].strip() for record in rows], dtype=np.str_)
        for column, position in index.items()
    }
    return Table(name, columns, lines)
