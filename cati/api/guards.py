"""Two ASGI guards every request passes: unstorable characters are refused, responses not cached.

``TextGuard``: a NUL (U+0000) or a lone surrogate (U+D800-U+DFFF) in any text a user sends cannot
be stored (PostgreSQL refuses NUL in text, SQLite's driver cannot encode a surrogate) and would end
as a 500 deep inside a service. One check at the door, over the whole JSON or form body, the query
string and the path, answers 422 instead, in the shape of a validation error (``detail`` is a list
of ``{loc, msg, type}``), before any handler or database sees the request.

``NoStore``: responses carry the CSRF token, results and personal data; ``Cache-Control: no-store``
on every response (static files excepted) keeps them out of browser and proxy caches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BAD_CHAR = re.compile("[\x00\ud800-\udfff]")
BAD_CHAR_MESSAGE = (
    "含有不允许的字符（空字符 U+0000 或孤立的代理字符 U+D800-U+DFFF）/ "
    "contains a character that is not allowed (NUL or a lone surrogate)"
)
_CHECKED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def has_bad_char(text: str) -> bool:
    """True when ``text`` holds a NUL or a lone surrogate (neither can be stored)."""
    return BAD_CHAR.search(text) is not None


def _bad_strings(value: Any, loc: list[str | int]) -> Iterator[list[str | int]]:
    if isinstance(value, str):
        if has_bad_char(value):
            yield loc
    elif isinstance(value, dict):
        for key, item in value.items():
            if has_bad_char(key):
                yield loc
            yield from _bad_strings(item, [*loc, key if not has_bad_char(key) else "?"])
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _bad_strings(item, [*loc, i])


def _bad_pairs(pairs: list[tuple[str, str]], where: str) -> Iterator[list[str | int]]:
    for key, value in pairs:
        if has_bad_char(key) or has_bad_char(value):
            yield [where, key if not has_bad_char(key) else "?"]


def find_bad_text(scope: Scope, body: bytes) -> list[list[str | int]]:
    """Locations (as in a validation error) of text that holds a NUL or a lone surrogate."""
    found: list[list[str | int]] = []
    if has_bad_char(scope.get("path", "")):
        found.append(["path"])
    query = scope.get("query_string", b"").decode("latin-1")
    if query:
        found += _bad_pairs(parse_qsl(query, keep_blank_values=True), "query")
    if not body:
        return found
    content_type = ""
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            content_type = value.decode("latin-1").lower()
    if "json" in content_type:
        try:
            data = json.loads(body)
        except ValueError:
            return found  # malformed JSON: the framework answers 422 itself
        found += _bad_strings(data, ["body"])
    elif content_type.startswith("application/x-www-form-urlencoded"):
        text = body.decode("utf-8", errors="replace")
        found += _bad_pairs(parse_qsl(text, keep_blank_values=True), "body")
    return found


class TextGuard:
    """Refuse (422) a request whose path, query or JSON/form body holds a NUL or a lone surrogate."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = b""
        if scope.get("method") in _CHECKED_METHODS:
            # Bodies are small (BodyLimit caps them): read it all, check, then replay it.
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request":
                    break
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
        found = find_bad_text(scope, body)
        if found:
            detail = [{"loc": loc, "msg": BAD_CHAR_MESSAGE, "type": "invalid_character"} for loc in found]
            await _send_json(send, 422, {"detail": detail})
            return

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            return await receive()

        await self.app(scope, replay, send)


class NoStore:
    """``Cache-Control: no-store`` on every response that does not set its own (static files do)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith("/static/"):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_no_store)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
