"""The demo's terminal output is Chinese first, English with ``--lang en``; at the end it says the
quotas are full and what comes next (the rooms' URLs and the close command)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from cati.cli import cli
from cati.demo.run import DemoOptions, DemoSetup, Progress, done_text
from cati.web.catalogs import cli_demo

CHEAP = {"CATI_ARGON2_TIME_COST": "1", "CATI_ARGON2_MEMORY_KIB": "1024"}
HAN = re.compile(r"[\u4e00-\u9fff]")


def test_demo_catalog_is_complete_in_both_languages() -> None:
    assert set(cli_demo.ZH) == set(cli_demo.EN)
    for key, zh in cli_demo.ZH.items():
        assert set(re.findall(r"\{(\w+)\}", zh)) == set(re.findall(r"\{(\w+)\}", cli_demo.EN[key])), key


def test_demo_banner_is_chinese_first_and_english_on_request(tmp_path: Path) -> None:
    env = {**CHEAP, "CATI_DATA_DIR": str(tmp_path / "demo")}
    zh = CliRunner().invoke(cli, ["demo", "--prepare-only", "--interviewers", "1"], env=env)
    assert zh.exit_code == 0, zh.output
    words_wanted = (
        "群众满意度电话调查演示",
        "网址",
        "调查项目",
        "内置模拟交换机",
        "登录账号",
        "每隔几秒显示一次进度",
    )
    for words in words_wanted:
        assert words in zh.stdout, words
    # every line of the banner that a person reads has Chinese in it (URLs, commands and logins aside)
    prose = [
        line
        for line in zh.stdout.splitlines()
        if line.strip() and not re.match(r"\s*(https?://|cati |\w+\s+\w+\s+\S+\s)", line)
    ]
    assert prose and all(HAN.search(line) for line in prose), [p for p in prose if not HAN.search(p)]
    en = CliRunner().invoke(cli, ["demo", "--prepare-only", "--interviewers", "1", "--lang", "en"], env=env)
    assert en.exit_code == 0, en.output
    assert "CATI demo · public-satisfaction telephone survey" in en.stdout
    assert "Logins (new passwords" in en.stdout
    assert "群众满意度电话调查演示" not in en.stdout
    bad = CliRunner().invoke(cli, ["demo", "--prepare-only", "--lang", "fr"], env=env)
    assert bad.exit_code == 2 and "--lang" in bad.output


def test_the_end_says_the_quotas_are_full_and_what_comes_next() -> None:
    setup = DemoSetup(campaign_id=3, campaign_code="zibo-2026", accounts=[])
    progress = Progress(completes=128, target=128, attempts=912, on_call=0, cells_open=0)
    zh = done_text(DemoOptions(), setup, progress, "http://127.0.0.1:8000", " --data-dir d")
    assert "全部配额已完成：128/128 份问卷，共拨打 912 次" in zh and "接下来" in zh
    for url in ("/supervise", "/witness", "/campaigns/3/results", "/campaigns/3/announcement"):
        assert f"http://127.0.0.1:8000{url}" in zh, url
    assert 'cati campaign close zibo-2026 --reason "配额已满" --data-dir d' in zh
    en = done_text(DemoOptions(lang="en"), setup, progress, "http://127.0.0.1:8000", "")
    assert "Every quota cell is full: 128/128 questionnaires" in en and "What comes next" in en
    assert 'cati campaign close zibo-2026 --reason "quotas full"' in en


def test_demo_help_and_a_port_in_use_in_a_real_process(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "cati.cli", "demo", "--port", str(port), "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 2, proc.stderr
    assert f"无法监听 127.0.0.1:{port}" in proc.stderr and "请换一个 --port" in proc.stderr


def test_the_last_line_names_outcomes_in_chinese() -> None:
    from cati.cli.demo import _outcome

    keys = ["answering_machine", "appointment", "break_off", "complete", "fax", "language", "partial",
            "refusal", "screened_out", "no_screener", "callback"]  # fmt: skip
    zh = [_outcome(DemoOptions(lang="zh-CN"), k) for k in keys]
    assert all(not word.isascii() for word in zh), zh
    assert _outcome(DemoOptions(lang="en"), "screened_out") == "screened out"
    assert _outcome(DemoOptions(lang="zh-CN"), "something_new") == "something_new"
