"""``GET /api/v1/campaigns/{id}/bundle.zip``: the verification kit, after close (witness, assessor, admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from cati.api.deps import CommitOnReturn, SessionDep
from cati.auth.access import require_roles
from cati.bundle.service import build_bundle, bundle_name
from cati.campaigns.service import get_campaign
from cati.models import Role

BUNDLE_ROLES = (Role.witness, Role.assessor, Role.admin)

router = APIRouter(
    prefix="/api/v1/campaigns",
    tags=["verification kit"],
    dependencies=[require_roles(*BUNDLE_ROLES)],
    route_class=CommitOnReturn,
)

CampaignId = Annotated[int, Path(ge=1, le=2**31 - 1, description="campaign id")]


@router.get(
    "/{campaign_id}/bundle.zip",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}, "description": "the kit (docs/verify.md)"},
        409: {"description": "the campaign is not closed yet"},
    },
)
def bundle_zip(campaign_id: CampaignId, session: SessionDep) -> Response:
    """The verification kit of a closed campaign: check it with ``cati verify``; no phone numbers."""
    data = build_bundle(session, campaign_id)
    name = bundle_name(get_campaign(session, campaign_id))
    return Response(
        data, media_type="application/zip", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
