"""AMI wire protocol, sans I/O: bytes in, messages out; actions in, bytes out.

Why a parser of our own beside panoramisk: the simulated PBX is a *server*, which panoramisk is not,
and tests replay recorded byte streams without a socket. Like h11, this module holds no sockets and
no clocks, so the same code frames traffic for the client tests, the simulator and the replays.

AMI framing (Asterisk 22): on connect the server sends one banner line
``Asterisk Call Manager/<version>\\r\\n``; after that every message is a block of ``Key: Value``
lines ended by ``\\r\\n`` and closed by an empty line. Keys may repeat (``Variable``, ``ChanVariable``)
and order matters, so a message keeps its headers as an ordered tuple of pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

BANNER_PREFIX = b"Asterisk Call Manager/"
#: The banner Asterisk 22 sends (AMI protocol version 11.0.0, as in the captures).
DEFAULT_BANNER = "Asterisk Call Manager/11.0.0"
MAX_MESSAGE_BYTES = 256 * 1024


class AmiProtocolError(ValueError):
    """The peer sent bytes that are not AMI (a remote protocol error)."""


@dataclass(frozen=True, slots=True)
class AmiMessage:
    """One AMI message: an ordered tuple of (key, value) header pairs."""

    headers: tuple[tuple[str, str], ...]
    _index: dict[str, str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        index: dict[str, str] = {}
        for key, value in self.headers:
            index.setdefault(key.lower(), value)
        object.__setattr__(self, "_index", index)

    @classmethod
    def of(cls, *pairs: tuple[str, str], **fields: str | int) -> AmiMessage:
        """Build a message from pairs and keyword fields (keyword order is kept)."""
        headers = list(pairs) + [(k, str(v)) for k, v in fields.items()]
        return cls(tuple(headers))

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key`` (case-insensitive), or ``default``."""
        return self._index.get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    def get_all(self, key: str) -> list[str]:
        """Every value of a repeated header, in order."""
        lowered = key.lower()
        return [v for k, v in self.headers if k.lower() == lowered]

    @property
    def event(self) -> str | None:
        return self.get("Event")

    @property
    def response(self) -> str | None:
        return self.get("Response")

    @property
    def action(self) -> str | None:
        return self.get("Action")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def as_dict(self) -> dict[str, str]:
        """First value per key, original spelling; for logging and tests."""
        out: dict[str, str] = {}
        for key, value in self.headers:
            out.setdefault(key, value)
        return out

    def encode(self) -> bytes:
        """The message on the wire."""
        return encode(self.headers)


def encode(headers: Iterable[tuple[str, str]]) -> bytes:
    """Serialise header pairs as one AMI message. Refuses CR/LF inside a key or value (injection)."""
    lines: list[str] = []
    for key, value in headers:
        if not key or any(c in key for c in ":\r\n") or any(c in value for c in "\r\n"):
            raise ValueError(f"header not allowed on the AMI wire: {key!r}: {value!r}")
        lines.append(f"{key}: {value}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8")


class AmiParser:
    """Incremental parser: ``feed`` bytes as they arrive, get complete messages back.

    ``expect_banner`` is true for a client reading a server (the first line is the banner); the
    banner, once seen, is in ``banner``. A server reading a client passes ``expect_banner=False``.
    """

    def __init__(self, *, expect_banner: bool = True, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._buffer = bytearray()
        self._expect_banner = expect_banner
        self._max = max_message_bytes
        self.banner: str | None = None

    def feed(self, data: bytes) -> list[AmiMessage]:
        """Add bytes; return every message completed by them."""
        self._buffer.extend(data)
        return list(self._drain())

    def _drain(self) -> Iterator[AmiMessage]:
        while True:
            if self._expect_banner and self.banner is None:
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    self._check_size()
                    return
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 2]
                if not line.startswith(BANNER_PREFIX):
                    raise AmiProtocolError(f"expected the AMI banner, got {line[:60]!r}")
                self.banner = line.decode("utf-8", "replace")
                continue
            # A repeated banner (seen in captures of a re-login) is skipped, not parsed as a header.
            while self._buffer.startswith(BANNER_PREFIX):
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    return
                del self._buffer[: end + 2]
            # Stray blank lines between messages are tolerated, as Asterisk's own parser does.
            while self._buffer.startswith(b"\r\n"):
                del self._buffer[:2]
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                self._check_size()
                return
            block = bytes(self._buffer[:end])
            del self._buffer[: end + 4]
            yield _parse_block(block)

    def _check_size(self) -> None:
        if len(self._buffer) > self._max:
            raise AmiProtocolError(f"AMI message over {self._max} bytes without an end")


def _parse_block(block: bytes) -> AmiMessage:
    headers: list[tuple[str, str]] = []
    for raw in block.split(b"\r\n"):
        line = raw.decode("utf-8", "replace")
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise AmiProtocolError(f"AMI header without a key: {line[:80]!r}")
        headers.append((key.strip(), value[1:] if value.startswith(" ") else value))
    return AmiMessage(tuple(headers))


def parse_stream(data: bytes, *, expect_banner: bool | None = None) -> list[AmiMessage]:
    """Parse a whole recorded byte stream (banner optional unless stated)."""
    if expect_banner is None:
        expect_banner = data.startswith(BANNER_PREFIX)
    parser = AmiParser(expect_banner=expect_banner)
    return parser.feed(data)
