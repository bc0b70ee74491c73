"""``cati rdd`` driven as a user would: through the click CLI, reading stdout, stderr and exit codes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cati.cli import cli

SEED = "00112233445566778899aabbccddeeff"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_generate_prints_one_number_a_line_identically_for_identical_arguments() -> None:
    args = ("rdd", "generate", "--prefix", "233", "--prefix", "234", "--count", "500", "--seed", SEED)
    code, out, err = run(*args)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 500 == len(set(lines))
    assert all(len(n) == 7 and n[:3] in {"233", "234"} for n in lines)
    assert run(*args)[1] == out
    # the prefix order does not change the frame, hence not the sample
    assert (
        run("rdd", "generate", "--prefix", "234", "--prefix", "233", "--count", "500", "--seed", SEED)[1]
        == out
    )
    assert (
        run("rdd", "generate", "--prefix", "233", "--prefix", "234", "--count", "500", "--seed", "ab" * 16)[1]
        != out
    )


def test_generate_start_continues_the_same_ordered_sample() -> None:
    base = ("rdd", "generate", "--prefix", "233", "--seed", SEED)
    whole = run(*base, "--count", "30")[1].splitlines()
    tail = run(*base, "--count", "10", "--start", "20")[1].splitlines()
    assert tail == whole[20:]


def test_generate_honours_excluded_banks_and_suffix_digits(tmp_path: Path) -> None:
    banks = tmp_path / "banks.txt"
    banks.write_text("# dead banks\n23345\n\n23346\n", encoding="utf-8")
    code, out, err = run(
        "rdd", "generate", "--prefix", "233", "--count", "9800", "--seed", SEED, "--exclude-banks", str(banks)
    )
    assert code == 0, err
    numbers = out.splitlines()
    assert len(set(numbers)) == 9800
    assert not any(n.startswith(("23345", "23346")) for n in numbers)
    code, out, _ = run(
        "rdd", "generate", "--prefix", "8", "--suffix-digits", "2", "--count", "100", "--seed", SEED
    )
    assert code == 0 and sorted(out.splitlines()) == [f"8{i:02d}" for i in range(100)]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--prefix", "233", "--count", "10001"), "10001 numbers requested but the frame holds only 10000"),
        (("--prefix", "23x", "--count", "5"), "malformed prefix '23x'"),
        (("--prefix", "233", "--prefix", "233", "--count", "5"), "duplicate prefix"),
        (("--prefix", "233", "--count", "-3"), "count must be"),
        (("--prefix", "233", "--count", "5", "--suffix-digits", "1"), "suffix digits"),
        (("--prefix", "233", "--count", "5", "--seed", "xyz"), "seed must be hexadecimal"),
        (("--prefix", "233", "--count", "5", "--seed", "abcd"), "seed must have 32..128 hex digits"),
        (("--prefix", "233", "--count", "5", "--district", "a b"), "district code"),
        (("--prefix", "233", "--count", "5", "--exclude-banks", "/nonexistent/banks.txt"), "file not found"),
    ],
)
def test_generate_bad_input_exits_2_with_a_clear_line_and_no_stdout(
    args: tuple[str, ...], needle: str
) -> None:
    full = ["rdd", "generate", *args]
    if "--seed" not in args:
        full += ["--seed", SEED]
    code, out, err = run(*full)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") and needle in err
    assert "Traceback" not in err


def test_bad_bank_line_is_named_by_line_number(tmp_path: Path) -> None:
    banks = tmp_path / "banks.txt"
    banks.write_text("23345\n23346\n2334\n", encoding="utf-8")
    code, out, err = run(
        "rdd", "generate", "--prefix", "233", "--count", "5", "--seed", SEED, "--exclude-banks", str(banks)
    )
    assert code == 2 and out == ""
    assert "line 3" in err and "'2334'" in err


def test_missing_required_options_are_usage_errors() -> None:
    code, out, err = run("rdd", "generate", "--count", "5", "--seed", SEED)
    assert code == 2 and out == "" and "--prefix" in err


def test_commit_prints_sha256_of_the_documented_text_and_verify_checks_it(tmp_path: Path) -> None:
    banks = tmp_path / "banks.txt"
    banks.write_text("23345\n", encoding="utf-8")
    frame_args = ("--prefix", "234", "--prefix", "233", "--exclude-banks", str(banks))
    code, out, err = run("rdd", "commit", "--seed", SEED, *frame_args)
    assert code == 0, err
    text = (
        f"cati-rdd-commitment v1\nseed {SEED}\n"
        "cati-rdd-frame v1\nsuffix-digits 4\nprefix 233\nprefix 234\nexclude 23345\n"
    )
    commitment = out.strip()
    assert commitment == hashlib.sha256(text.encode()).hexdigest()

    code, out, _ = run("rdd", "verify", "--seed", SEED, "--commitment", commitment, *frame_args)
    assert code == 0 and out.startswith("一致 / match")

    # a different seed, or a different frame, does not match: exit 1 with a clear line
    code, out, _ = run("rdd", "verify", "--seed", "ab" * 16, "--commitment", commitment, *frame_args)
    assert code == 1 and out.startswith("不一致 / MISMATCH")
    code, out, _ = run(
        "rdd", "verify", "--seed", SEED, "--commitment", commitment, "--prefix", "233", "--prefix", "234"
    )
    assert code == 1 and out.startswith("不一致 / MISMATCH")

    code, out, err = run("rdd", "verify", "--seed", SEED, "--commitment", "nothex", *frame_args)
    assert code == 2 and out == "" and "64 hexadecimal digits" in err
    code, out, err = run("rdd", "commit", "--seed", "zz", *frame_args)
    assert code == 2 and out == "" and "seed" in err


def test_check_reports_dialled_numbers_outside_the_sample(tmp_path: Path) -> None:
    base = ("--prefix", "233", "--seed", SEED, "--district", "310101")
    code, out, _ = run("rdd", "generate", *base, "--count", "40")
    assert code == 0
    dialled = tmp_path / "dialled.txt"
    numbers = out.splitlines()
    dialled.write_text("\n".join(numbers[:30] + numbers[:5] + numbers[35:40]) + "\n", encoding="utf-8")
    code, out, err = run("rdd", "check", *base, "--dialled", str(dialled))
    assert code == 0, err
    assert "highest sample position 39" in out and "5 positions up to it not dialled" in out
    assert out.rstrip().endswith("ok: every dialled number is in the ordered sample")

    dialled.write_text("\n".join([*numbers[:3], "2440000", numbers[3]]) + "\n", encoding="utf-8")
    code, out, _ = run("rdd", "check", *base, "--dialled", str(dialled))
    assert code == 1 and "NOT IN THE SAMPLE: 1 numbers, on lines 4" in out
    assert "2440000" not in out  # numbers are personal data: named by line only

    dialled.write_text("2331234\nnot-a-number\n", encoding="utf-8")
    code, out, err = run("rdd", "check", *base, "--dialled", str(dialled))
    assert code == 2 and out == "" and "line 2" in err


def test_console_script_runs_in_a_subprocess() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cati.cli import main; main()",
            "rdd",
            "generate",
            "--prefix",
            "233",
            "--count",
            "20000",
            "--seed",
            SEED,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == "error: 20000 numbers requested but the frame holds only 10000"
