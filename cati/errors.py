"""One error base that carries its HTTP status; one handler renders it as ``{"detail": ...}``."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """An expected failure with its HTTP status (404, 409, 422 ...), never a 500."""

    status_code = 400

    def __init__(
        self, detail: Any, *, status_code: int | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(str(detail))
        self.detail = detail
        self.headers = headers
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
