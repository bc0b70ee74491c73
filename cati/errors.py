"""One error base that carries its HTTP status; one handler renders it as ``{"detail": ...}``.

An error may carry a stable ``code`` and ``params`` (``cati.messages``): the handler then renders
``detail`` in the reader's language and adds ``code`` to the answer for programs. Without a given
``detail`` the text is the catalog's, in both languages (``中文 / English``) for non-HTTP callers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cati.messages import bilingual


class AppError(Exception):
    """An expected failure with its HTTP status (404, 409, 422 ...), never a 500."""

    status_code = 400

    def __init__(
        self,
        detail: Any = None,
        *,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        if detail is None:
            if code is None:
                raise TypeError("an AppError needs a detail or a code")
            detail = bilingual(code, params)
        super().__init__(str(detail))
        self.detail = detail
        self.headers = headers
        self.code = code
        self.params: dict[str, Any] = dict(params or {})
        if status_code is not None:
            self.status_code = status_code


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class Invalid(AppError):
    status_code = 422


class Forbidden(AppError):
    status_code = 403


class Unauthorized(AppError):
    status_code = 401
