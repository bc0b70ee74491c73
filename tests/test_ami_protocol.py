"""The sans-I/O AMI parser against the real Asterisk 22 captures and against bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialer.ami.protocol import AmiMessage, AmiParser, AmiProtocolError, encode, parse_stream

CAPTURES = Path(__file__).parent / "fixtures" / "ami-captures"


def _summary_lines(name: str) -> list[str]:
    text = (CAPTURES / f"{name}.summary.txt").read_text()
    return [line for line in text.splitlines() if line.startswith("+")]


RAW_CAPTURES = sorted(p for p in CAPTURES.glob("*.txt") if not p.name.endswith(".summary.txt"))


@pytest.mark.parametrize("path", RAW_CAPTURES, ids=lambda p: p.stem)
def test_every_capture_parses_to_the_summarised_message_count(path: Path) -> None:
    messages = parse_stream(path.read_bytes())
    assert len(messages) == len(_summary_lines(path.stem))
    for message, line in zip(messages, _summary_lines(path.stem), strict=True):
        first = line.split("|")[0].split(None, 2)[-1].strip()
        key, _, value = first.partition("=")
        assert message.get(key) == value


def test_byte_at_a_time_feeding_gives_the_same_messages() -> None:
    data = (CAPTURES / "busy-1.txt").read_bytes()
    parser = AmiParser(expect_banner=False)
    out: list[AmiMessage] = []
    for i in range(len(data)):
        out.extend(parser.feed(data[i : i + 1]))
    assert out == parse_stream(data)


def test_repeated_headers_are_kept_in_order() -> None:
    msg = parse_stream(b"Action: Originate\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n", expect_banner=False)[0]
    assert msg.get_all("variable") == ["A=1", "B=2"]
    assert msg.get("Variable") == "A=1"


def test_banner_is_read_first() -> None:
    parser = AmiParser()
    assert parser.feed(b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n\r\n")[0].response == "Success"
    assert parser.banner == "Asterisk Call Manager/11.0.0"


def test_not_ami_is_a_protocol_error() -> None:
    with pytest.raises(AmiProtocolError):
        AmiParser().feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(AmiProtocolError):
        AmiParser(expect_banner=False).feed(b"no colon here\r\n\r\n")


def test_unbounded_message_is_refused() -> None:
    parser = AmiParser(expect_banner=False, max_message_bytes=100)
    with pytest.raises(AmiProtocolError):
        parser.feed(b"Key: " + b"x" * 200)


def test_encode_round_trips_and_refuses_injection() -> None:
    msg = AmiMessage.of(("Action", "Ping"), ActionID="a1")
    assert parse_stream(msg.encode(), expect_banner=False) == [msg]
    with pytest.raises(ValueError):
        encode([("Action", "Ping\r\nAction: Originate")])
