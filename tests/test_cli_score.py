"""``cati score`` and ``cati rates`` as a user runs them, with good and bad files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cati.cli import cli

HEADER = "district,stratum,overall,q1,q2,q3,q4,q5,q6,q7,q8,q9,q10"
TEN = ",好" * 10


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, name: str, text: str, *, bom: bool = False, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    return path


GOOD = "\n".join(
    [
        HEADER + ",备注",
        "张店区,staff,好,较好,一般,差,好,好,好,好,好,好,好,x",  # 20 + 0.08*880 = 90.4
        "张店区,resident,good,fairly_good,average,poor,good,good,good,good,good,good,good,",  # 90.4
        "张店区,resident,good,good,good,good,good,good,good,good,good,good,,unanswered",  # invalid
        "张店区,staff,average,average,average,average,average,average,average,average,average,average,average,",
        "淄川区,staff,差,差,差,差,差,差,差,差,差,差,差,",  # 40
        "淄川区,resident, Poor ,poor,poor,poor,poor,poor,poor,poor,poor,poor,一般,",  # 40 + 0.08*20 = 41.6
    ]
)


def test_score_good_file_with_bom(tmp_path: Path) -> None:
    code, out, err = run("score", str(write(tmp_path, "responses.csv", GOOD + "\n", bom=True)))
    assert code == 0, err
    assert err == ""
    result = json.loads(out)
    assert [d["district"] for d in result["districts"]] == ["张店区", "淄川区"]
    a, b = result["districts"]
    assert (a["valid"], a["invalid"]) == (3, 1)
    assert a["score"] == pytest.approx((90.4 + 90.4 + 60) / 3)
    assert a["component"] == pytest.approx(a["score"] * 0.6)
    lo, hi = a["ci95"]
    assert lo < a["score"] < hi
    assert a["component_ci95"] == pytest.approx([lo * 0.6, hi * 0.6])
    assert set(a["dimensions"]) == {
        "work_style",
        "economy_environment",
        "hardship_employment",
        "social_undertakings",
        "grassroots",
    }
    assert a["overall_points"] + sum(a["dimensions"].values()) == pytest.approx(a["score"], abs=1e-5)
    assert a["strata"]["staff"] == {"valid": 2, "invalid": 0, "score": pytest.approx(75.2)}
    assert a["strata"]["resident"] == {"valid": 1, "invalid": 1, "score": pytest.approx(90.4)}
    assert b["score"] == pytest.approx(40.8)
    assert a["rank"] == 1 and b["rank"] == 2
    assert 0.5 < a["prob_above"]["淄川区"] <= 1.0
    assert a["prob_above"]["淄川区"] + b["prob_above"]["张店区"] == pytest.approx(1.0)


def test_score_header_only_gives_no_districts(tmp_path: Path) -> None:
    code, out, _ = run("score", str(write(tmp_path, "r.csv", HEADER + "\n")))
    assert code == 0 and json.loads(out) == {"districts": []}


def test_score_with_an_instrument_file(tmp_path: Path) -> None:
    from importlib import resources

    text = (resources.files("questionnaire") / "instruments" / "satisfaction.yaml").read_text(
        encoding="utf-8"
    )
    mine = write(
        tmp_path, "mine.yaml", text.replace("weight: 24", "weight: 23").replace("weight: 8\n", "weight: 9\n")
    )
    responses = write(tmp_path, "r.csv", HEADER + "\nA,staff," + ",".join(["好"] * 10 + ["差"]) + "\n")
    code, out, err = run("score", str(responses), "--instrument", str(mine))
    assert code == 0, err
    (a,) = json.loads(out)["districts"]
    assert a["score"] == pytest.approx(100 - 9 * 0.6)  # q10 now carries 9 points
    assert a["dimensions"]["grassroots"] == pytest.approx(3.6)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HEADER + "\nA,staff,excellent" + TEN + "\n", "line 2, column overall: unknown value 'excellent'"),
        (HEADER + "\nA,staff,好,好,好,好,好,好,好,好,好,好,好\n\nB,staff,好,好,好,好,好,好,好,好,好,好,4\n",
         "line 4, column q10: unknown value '4'"),
        ("district,stratum,overall,q1\nA,staff,好,好\n", "line 1, column q2: missing in the header"),
        ("\n\n" + HEADER.replace("q7,", "") + "\n", "line 3, column q7: missing in the header"),
        (HEADER + ",q3\n", "line 1, column q3: appears twice"),
        (HEADER + "\nA,night,好" + TEN + "\n", "line 2, column stratum: 'night': expected staff or resident"),
        (HEADER + "\nA,,好,好,好,好,好,好,好,好,好,好,好\n", "line 2, column stratum: empty"),
        (HEADER + "\n,staff,好,好,好,好,好,好,好,好,好,好,好\n", "line 2, column district: empty"),
        (HEADER + "\nA,staff,好,好,好\n", "line 2, column q3: missing (the row has 5 fields, the header 13)"),
        (HEADER + '\nA,staff,"好\n,好,好,好,好,好,好,好,好,好,好,好\n', "line 3: unexpected end of data"),
        ("", "the file is empty"),
        ("\n  \n", "the file is empty"),
    ],
)  # fmt: skip
def test_score_bad_files(tmp_path: Path, text: str, expected: str) -> None:
    code, out, err = run("score", str(write(tmp_path, "bad.csv", text)))
    assert code == 2
    assert out == ""
    assert err.startswith("error: bad.csv: ") and expected in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_score_missing_file_directory_and_gbk(tmp_path: Path) -> None:
    code, out, err = run("score", str(tmp_path / "nope.csv"))
    assert (code, out) == (2, "") and "nope.csv: no such file" in err
    code, out, err = run("score", str(tmp_path))
    assert (code, out) == (2, "") and "is a directory" in err
    gbk = write(
        tmp_path, "gbk.csv", HEADER + "\n张店区,staff,好,好,好,好,好,好,好,好,好,好,好\n", encoding="gbk"
    )
    code, out, err = run("score", str(gbk))
    assert (code, out) == (2, "")
    assert "gbk.csv: line 2: not UTF-8 text (it looks like GBK" in err


def test_score_bad_instrument(tmp_path: Path) -> None:
    responses = write(tmp_path, "r.csv", HEADER + "\n")
    bad = write(tmp_path, "bad.yaml", "id: x\nversion: 1\n")
    code, out, err = run("score", str(responses), "--instrument", str(bad))
    assert (code, out) == (2, "")
    assert err.startswith("error: bad.yaml: title: missing")
    code, out, err = run("score", str(responses), "--instrument", str(tmp_path / "none.yaml"))
    assert (code, out) == (2, "") and "none.yaml: cannot read" in err


# ---- rates -------------------------------------------------------------------------------------

DISPOSITIONS = "case,code\n" + "".join(
    f"{n},{code}\n"
    for n, code in enumerate(["1.1"] * 4 + ["1.2"] * 2 + ["2.11", "2.21", "2.33", "3.13", "4.70", "3.21"])
)


def test_rates_published_example(tmp_path: Path) -> None:
    # The outcomerate worked example (see tests/test_aapor.py) as a dispositions file.
    code, out, err = run("rates", str(write(tmp_path, "d.csv", DISPOSITIONS, bom=True)))
    assert code == 0, err
    result = json.loads(out)
    assert result["e"] == pytest.approx(0.9) and result["e_estimated"] is True
    assert round(result["RR3"], 3) == 0.370 and round(result["CON2"], 3) == 0.741
    assert result["counts"] == {"I": 4, "P": 2, "R": 1, "NC": 1, "O": 1, "UH": 1, "UO": 1, "NE": 1}
    assert result["total"] == 12
    names = [f"RR{i}" for i in range(1, 7)] + [f"COOP{i}" for i in range(1, 5)]
    names += [f"REF{i}" for i in range(1, 4)] + [f"CON{i}" for i in range(1, 4)]
    assert all(name in result for name in names)


def test_rates_with_given_e(tmp_path: Path) -> None:
    code, out, _ = run("rates", str(write(tmp_path, "d.csv", DISPOSITIONS)), "--e", "0.5")
    assert code == 0
    result = json.loads(out)
    assert result["e"] == 0.5 and result["e_estimated"] is False
    assert result["RR3"] == pytest.approx(round(4 / (9 + 0.5 * 2), 6))


@pytest.mark.parametrize(
    ("text", "args", "expected"),
    [
        ("code\n1.1\n9.9\n", (), "d.csv: line 3, column code: unknown AAPOR disposition code '9.9'"),
        ("code\n1.1\n\n2.5\n", (), "d.csv: line 4, column code: unknown AAPOR disposition code '2.5'"),
        ("id,code\n1,1.1\n2,\n", (), "d.csv: line 3, column code: empty"),
        ("disposition\n1.1\n", (), "d.csv: line 1, column code: missing in the header"),
        ("code\n1.1\n", ("--e", "1.5"), "--e must be between 0 and 1"),
        ("code\n1.1\n", ("--e", "half"), "--e must be a number"),
    ],
)
def test_rates_bad_input(tmp_path: Path, text: str, args: tuple[str, ...], expected: str) -> None:
    code, out, err = run("rates", str(write(tmp_path, "d.csv", text)), *args)
    assert (code, out) == (2, "")
    assert expected in err and err.startswith("error: ")


def test_console_script_end_to_end(tmp_path: Path) -> None:
    """The installed ``cati`` entry point, as the assessment office runs it."""
    responses = write(tmp_path, "responses.csv", GOOD + "\n", bom=True)
    cati = Path(sys.executable).with_name("cati")
    done = subprocess.run([str(cati), "score", str(responses)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["districts"][1]["score"] == pytest.approx(40.8)
    bad = write(tmp_path, "bad.csv", "code\n7.7\n")
    done = subprocess.run([str(cati), "rates", str(bad)], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "error: bad.csv: line 2, column code: unknown AAPOR disposition code '7.7'\n"
