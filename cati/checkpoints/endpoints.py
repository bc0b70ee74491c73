"""Audit API for witnesses: the signing key's fingerprint and the latest signed checkpoint."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from cati.api.deps import CommitOnReturn, SessionDep
from cati.auth.access import require_roles
from cati.checkpoints import service
from cati.checkpoints.keys import SignerSource
from cati.errors import NotFound
from cati.models import Role

#: Interviewers have no part in the audit; the witnesses are who these are for.
AUDIT_ROLES = (Role.witness, Role.assessor, Role.supervisor, Role.admin)

router = APIRouter(
    prefix="/api/v1/audit",
    tags=["audit"],
    dependencies=[require_roles(*AUDIT_ROLES)],
    route_class=CommitOnReturn,
)


@router.get("/key")
def signing_key(request: Request) -> dict[str, str]:
    """The public key that signs audit checkpoints and its fingerprint (SHA-256 of the raw key)."""
    source: SignerSource = request.app.state.signer
    signer = source.get()
    return {
        "algorithm": "Ed25519",
        "public_key": signer.public_raw.hex(),
        "fingerprint": signer.fingerprint,
        "checkpoint_format": service.FORMAT,
    }


@router.get("/checkpoints/latest")
def latest_checkpoint(session: SessionDep) -> dict[str, Any]:
    """The newest stored checkpoint, as the JSON a witness saves and checks later."""
    checkpoint = service.latest(session)
    if checkpoint is None:
        raise NotFound("尚无检查点 / no checkpoint yet")
    return checkpoint.to_json()
