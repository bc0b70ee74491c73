"""Results API for the assessment office: scores and rates as JSON, the responses as CSV."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from cati.api.deps import CommitOnReturn, SessionDep
from cati.auth.access import require_roles
from cati.campaigns.service import get_campaign
from cati.models import Role
from cati.results import service

#: Witnesses and interviewers never see results per questionnaire.
RESULT_ROLES = (Role.assessor, Role.supervisor, Role.admin)

router = APIRouter(
    prefix="/api/v1/campaigns",
    tags=["results"],
    dependencies=[require_roles(*RESULT_ROLES)],
    route_class=CommitOnReturn,
)

CampaignId = Annotated[int, Path(ge=1, le=2**31 - 1, description="campaign id")]


@router.get("/{campaign_id}/results")
def campaign_results(campaign_id: CampaignId, session: SessionDep) -> dict[str, Any]:
    """District scores (the ``cati score`` JSON), AAPOR rates per district and overall, counts."""
    return service.campaign_results(session, campaign_id)


@router.get(
    "/{campaign_id}/exports/responses.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "UTF-8 CSV with a BOM"}},
)
def responses_csv(
    campaign_id: CampaignId,
    session: SessionDep,
    include_all: Annotated[
        bool, Query(alias="all", description="also screen-outs and break-offs (scored as invalid)")
    ] = False,
) -> Response:
    """One row per finished questionnaire with the ``cati score`` columns; never a phone number."""
    campaign = get_campaign(session, campaign_id)
    body = service.export_csv(service.export_rows(session, campaign_id, include_all=include_all))
    name = f"{campaign.code}-responses{'-all' if include_all else ''}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
