"""``cati rdd``: generate, commit to, verify and check a random-digit-dialling sample.

The maths is in :mod:`dialer.rdd`; this module reads files and arguments and prints. Every
command takes the same frame arguments (``--prefix``, ``--suffix-digits``, ``--exclude-banks``),
so a notary can run the same lines after the seed is revealed. Bad input exits with status 2 and
one ``error:`` line on stderr, and nothing on stdout.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import numpy as np

from cati.cli.common import CliError
from dialer import rdd

F = TypeVar("F", bound=Callable[..., Any])

_COMMITMENT = re.compile(r"[0-9a-fA-F]{64}")


def _frame_options(func: F) -> F:
    """The frame arguments shared by every command."""
    func = click.option(
        "--exclude-banks",
        "exclude_banks",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="File of non-working 100-banks, one a line: the prefix and the first suffix digits.",
    )(func)
    func = click.option(
        "--suffix-digits",
        type=int,
        default=4,
        show_default=True,
        help="Random digits after the prefix.",
    )(func)
    func = click.option(
        "--prefix",
        "prefixes",
        multiple=True,
        required=True,
        help="Exchange prefix of the district (repeat for several).",
    )(func)
    return func


def _seed_option(func: F) -> F:
    return click.option("--seed", required=True, help="The secret seed, hex (at least 128 bits).")(func)


def _district_option(func: F) -> F:
    return click.option(
        "--district",
        default=None,
        help="Use this district's stream of a campaign seed (seed derived from the seed and the code).",
    )(func)


def _read_lines(path: Path, what: str) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise CliError(f"找不到文件 {path} / {what} file not found: {path}") from None
    except UnicodeDecodeError:
        raise CliError(f"文件 {path} 不是 UTF-8 文本 / {what} file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise CliError(f"无法读取文件 {path} / cannot read {what} file {path}: {exc.strerror}") from None


def _frame(prefixes: tuple[str, ...], suffix_digits: int, exclude_banks: Path | None) -> rdd.Frame:
    try:
        rdd.Frame(tuple(prefixes), suffix_digits)  # prefixes and suffix first, so their errors come first
        banks: frozenset[str] = frozenset()
        if exclude_banks is not None:
            lines = _read_lines(exclude_banks, "excluded banks")
            try:
                banks = rdd.parse_bank_lines(lines, prefixes, suffix_digits)
            except rdd.BankFileError as exc:
                raise CliError(f"{exclude_banks}: {exc}") from None
        return rdd.Frame(tuple(prefixes), suffix_digits, banks)
    except rdd.RddError as exc:
        raise CliError(str(exc)) from None


def _seed(seed: str, district: str | None) -> str:
    try:
        canonical = rdd.normalise_seed(seed)
        return canonical if district is None else rdd.district_seed(canonical, district)
    except rdd.RddError as exc:
        raise CliError(str(exc)) from None


@click.group("rdd")
def rdd_group() -> None:
    """Random-digit-dialling sample: generate, commit, verify, check."""


@rdd_group.command("generate")
@_frame_options
@_seed_option
@_district_option
@click.option("--count", required=True, type=int, help="How many numbers to print.")
@click.option("--start", default=0, type=int, show_default=True, help="First position of the ordered sample.")
def generate_cmd(
    prefixes: tuple[str, ...],
    suffix_digits: int,
    exclude_banks: Path | None,
    seed: str,
    district: str | None,
    count: int,
    start: int,
) -> None:
    """Print numbers of the ordered sample, one a line (the same for the same arguments)."""
    frame = _frame(prefixes, suffix_digits, exclude_banks)
    stream_seed = _seed(seed, district)
    try:
        numbers = rdd.generate(frame, stream_seed, count, start)
    except rdd.RddError as exc:
        raise CliError(str(exc)) from None
    if numbers.size:
        sys.stdout.write("\n".join(rdd.format_numbers(numbers)) + "\n")
        sys.stdout.flush()


@rdd_group.command("commit")
@_frame_options
@_seed_option
def commit_cmd(prefixes: tuple[str, ...], suffix_digits: int, exclude_banks: Path | None, seed: str) -> None:
    """Print the SHA-256 commitment to the seed and the frame (publish it before fieldwork)."""
    frame = _frame(prefixes, suffix_digits, exclude_banks)
    click.echo(rdd.commitment(_seed(seed, None), frame))


@rdd_group.command("verify")
@_frame_options
@_seed_option
@click.option("--commitment", "commitment_hex", required=True, help="The published commitment (64 hex).")
def verify_cmd(
    prefixes: tuple[str, ...], suffix_digits: int, exclude_banks: Path | None, seed: str, commitment_hex: str
) -> None:
    """Exit 0 if the seed and frame match the published commitment, 1 if they do not."""
    frame = _frame(prefixes, suffix_digits, exclude_banks)
    canonical = _seed(seed, None)
    if not _COMMITMENT.fullmatch(commitment_hex):
        raise CliError(
            "承诺值必须是 64 位十六进制数（SHA-256）/ commitment must be 64 hexadecimal digits (a SHA-256)"
        )
    if rdd.verify(canonical, frame, commitment_hex):
        click.echo(
            f"一致 / match: 种子与抽样框（{frame.size} 个号码）得出承诺值 / the seed and the frame "
            f"({frame.size} numbers) give commitment {commitment_hex.lower()}"
        )
        return
    click.echo(
        f"不一致 / MISMATCH: 种子与抽样框得出 {rdd.commitment(canonical, frame)}，不是 "
        f"{commitment_hex.lower()} / the seed and the frame give {rdd.commitment(canonical, frame)}, "
        f"not {commitment_hex.lower()}"
    )
    sys.exit(1)


@rdd_group.command("check")
@_frame_options
@_seed_option
@_district_option
@click.option(
    "--dialled",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File of the numbers actually dialled, one a line.",
)
def check_cmd(
    prefixes: tuple[str, ...],
    suffix_digits: int,
    exclude_banks: Path | None,
    seed: str,
    district: str | None,
    dialled: Path,
) -> None:
    """Check that every dialled number is in the ordered sample; exit 1 if any is not.

    Reports the highest sample position dialled: a witness compares it with the number of
    sample positions the campaign released. Numbers that fail are named by line, not printed.
    """
    frame = _frame(prefixes, suffix_digits, exclude_banks)
    stream_seed = _seed(seed, district)
    lines = _read_lines(dialled, "dialled numbers")
    values: list[int] = []
    line_of: list[int] = []
    for number, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        if (
            not (text.isascii() and text.isdigit())
            or text.startswith("0")
            or len(text) > rdd.MAX_NUMBER_DIGITS
        ):
            raise CliError(
                f"{dialled}: 第 {number} 行不是电话号码（只能是数字，不以 0 开头）/ line {number}: "
                "not a phone number (digits only, not starting with 0)"
            )
        values.append(int(text))
        line_of.append(number)
    if not values:
        raise CliError(f"{dialled}: 文件中没有号码 / no numbers in the file")
    pos = rdd.positions(frame, stream_seed, np.array(values, dtype=np.int64))
    bad = [line_of[i] for i in np.flatnonzero(pos < 0).tolist()]
    good = pos[pos >= 0]
    distinct = np.unique(good)
    if good.size:
        highest = int(distinct[-1])
        click.echo(
            f"已拨 {len(values)} 个（样本中不同号码 {distinct.size} 个），最高样本位置 {highest}，"
            f"其前有 {highest + 1 - distinct.size} 个位置未拨 / "
            f"{len(values)} dialled ({distinct.size} distinct numbers in the sample), "
            f"highest sample position {highest}; {highest + 1 - distinct.size} positions up to it not dialled"
        )
    if bad:
        shown = ", ".join(str(n) for n in bad[:20]) + (" ..." if len(bad) > 20 else "")
        click.echo(f"不在样本中 / NOT IN THE SAMPLE: {len(bad)} numbers, on lines {shown}")
        sys.exit(1)
    click.echo("通过：每个已拨号码都在有序样本中 / ok: every dialled number is in the ordered sample")
