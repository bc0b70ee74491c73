"""Results API for the assessment office: scores and rates as JSON, the responses as CSV."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from cati.api.deps import CommitOnReturn, SessionDep
from cati.auth.access import require_roles
from cati.campaigns.service import get_campaign
from cati.models import Role, User
from cati.results import service, visibility

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


class OpenScoresRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    """Why the scores are opened before close (kept in the audit log, shown to witnesses)."""

    reason: str = Field(min_length=1, max_length=2000)


@router.post("/{campaign_id}/scores/open")
def open_scores(
    campaign_id: CampaignId,
    body: OpenScoresRequest,
    session: SessionDep,
    user: Annotated[User, require_roles(Role.admin)],
) -> dict[str, Any]:
    """Open district scores before close (a pilot): admin only, audited, visible to witnesses."""
    campaign = visibility.open_scores_early(session, campaign_id, actor=user.username, reason=body.reason)
    assert campaign.scores_opened_at is not None
    return {
        "campaign_id": campaign.id,
        "scores_opened_at": campaign.scores_opened_at.isoformat(),
        "reason": campaign.scores_opened_reason,
    }
