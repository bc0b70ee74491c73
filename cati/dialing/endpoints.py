"""The dialer's state for supervisors: ``GET /api/v1/dialer/status`` (admin and supervisor)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from cati.api.deps import CommitOnReturn
from cati.auth.access import require_roles
from cati.models import Role

router = APIRouter(prefix="/api/v1/dialer", tags=["dialer"], route_class=CommitOnReturn)


@router.get("/status", dependencies=[require_roles(Role.admin, Role.supervisor)])
def dialer_status(request: Request) -> dict[str, Any]:
    """Link state (up, down, connecting, login_refused, off), calls in progress, pacing figures,
    answer-to-console latency and the last reconciliation; the same data as the ``dialer`` live event."""
    status: dict[str, Any] = request.app.state.dialer.status()
    return status
