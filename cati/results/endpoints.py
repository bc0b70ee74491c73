"""Results API for the assessment office: scores and rates as JSON; scores and responses as CSV,
xlsx and SPSS files; the final-score JSON. Scores are sealed before close at each of these doors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from cati.api.deps import CommitOnReturn, SessionDep
from cati.auth.access import require_roles
from cati.campaigns.instruments import campaign_instrument
from cati.campaigns.service import get_campaign
from cati.models import Campaign, Role, User
from cati.results import exports, service, visibility
from cati.results.sealing import Lang, lang_of, require_closed, require_scores_open, withhold_scores

#: Witnesses and interviewers never see results per questionnaire.
RESULT_ROLES = (Role.assessor, Role.supervisor, Role.admin)

router = APIRouter(
    prefix="/api/v1/campaigns",
    tags=["results"],
    dependencies=[require_roles(*RESULT_ROLES)],
    route_class=CommitOnReturn,
)

CampaignId = Annotated[int, Path(ge=1, le=2**31 - 1, description="campaign id")]


LangQuery = Annotated[
    str | None,
    Query(
        alias="lang", max_length=10, description="zh-CN (default): Chinese headers and labels; en: English"
    ),
]
AllQuery = Annotated[
    bool, Query(alias="all", description="also screen-outs and break-offs (scored as invalid)")
]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _download(body: bytes, media_type: str, name: str) -> Response:
    return Response(
        body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _suffix(lang: Lang, include_all: bool = False) -> str:
    return ("-all" if include_all else "") + ("-en" if lang == "en" else "")


@router.get("/{campaign_id}/results")
def campaign_results(campaign_id: CampaignId, session: SessionDep, lang: LangQuery = None) -> dict[str, Any]:
    """District scores (the ``cati score`` JSON), AAPOR rates per district and overall, counts.

    Before close (unless an admin opened them early) ``scores`` is a sealed marker; counts and the
    provisional rates stay."""
    campaign = get_campaign(session, campaign_id)
    return withhold_scores(service.campaign_results(session, campaign_id), campaign, lang_of(lang))


def _open_campaign(session: SessionDep, campaign_id: int, lang: Lang) -> Campaign:
    campaign = get_campaign(session, campaign_id)
    require_scores_open(campaign, lang)
    return campaign


#: The responses downloads: suffix -> (builder, media type).
_RESPONSE_FORMATS: dict[str, tuple[Callable[[exports.Responses, Lang], bytes], str]] = {
    "csv": (exports.responses_csv, "text/csv; charset=utf-8"),
    "xlsx": (exports.responses_xlsx, XLSX),
    "sav": (exports.responses_sav, "application/x-spss-sav"),
}


def _responses(
    session: SessionDep, campaign_id: int, include_all: bool, lang: str | None, ext: str
) -> Response:
    """One responses download: sealed (409) before close, then built and named by its format."""
    language = lang_of(lang)
    campaign = _open_campaign(session, campaign_id, language)
    data = exports.responses(session, campaign_id, include_all=include_all)
    build, media_type = _RESPONSE_FORMATS[ext]
    name = f"{campaign.code}-responses{_suffix(language, include_all)}.{ext}"
    return _download(build(data, language), media_type, name)


@router.get(
    "/{campaign_id}/exports/responses.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "UTF-8 CSV with a BOM"}, 409: {}},
)
def responses_csv(
    campaign_id: CampaignId, session: SessionDep, include_all: AllQuery = False, lang: LangQuery = None
) -> Response:
    """One row per finished questionnaire; Chinese headers and labels (``cati score`` reads them);
    ``?lang=en``: the machine form (codes). Never a phone number. Sealed (409) before close."""
    return _responses(session, campaign_id, include_all, lang, "csv")


@router.get(
    "/{campaign_id}/exports/responses.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}, 409: {}},
)
def responses_xlsx(
    campaign_id: CampaignId, session: SessionDep, include_all: AllQuery = False, lang: LangQuery = None
) -> Response:
    """The responses as an Excel workbook (labels, frozen bold header, item texts, notes)."""
    return _responses(session, campaign_id, include_all, lang, "xlsx")


@router.get(
    "/{campaign_id}/exports/responses.sav",
    response_class=Response,
    responses={200: {"content": {"application/x-spss-sav": {}}}, 409: {}},
)
def responses_sav(
    campaign_id: CampaignId, session: SessionDep, include_all: AllQuery = False, lang: LangQuery = None
) -> Response:
    """The responses for SPSS: variable labels = item texts, value labels, 98/99 user-missing."""
    return _responses(session, campaign_id, include_all, lang, "sav")


def _scores(
    session: SessionDep, campaign_id: int, language: Lang
) -> tuple[Campaign, exports.ScoreTable, str | None]:
    campaign = _open_campaign(session, campaign_id, language)
    results = service.campaign_results(session, campaign_id)
    instrument = campaign_instrument(campaign)
    digest = results.get("sealed", {}).get("sha256")
    return campaign, exports.score_table(results, campaign, instrument, language), digest


@router.get(
    "/{campaign_id}/exports/scores.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "UTF-8 CSV with a BOM"}, 409: {}},
)
def scores_csv(campaign_id: CampaignId, session: SessionDep, lang: LangQuery = None) -> Response:
    """One row per district in the campaign's official order: rank, score, 60-point component,
    95 % interval, questionnaires, dimension scores, AAPOR rates. Sealed (409) before close."""
    language = lang_of(lang)
    campaign, table, _digest = _scores(session, campaign_id, language)
    name = f"{campaign.code}-scores{_suffix(language)}.csv"
    return _download(exports.scores_csv(table), "text/csv; charset=utf-8", name)


@router.get(
    "/{campaign_id}/exports/scores.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}, 409: {}},
)
def scores_xlsx(campaign_id: CampaignId, session: SessionDep, lang: LangQuery = None) -> Response:
    """The scores as a workbook: sheets scores, dimensions, rates and notes (rule, digest, time)."""
    language = lang_of(lang)
    campaign, table, digest = _scores(session, campaign_id, language)
    body = exports.scores_xlsx(table, campaign, campaign_instrument(campaign), language, digest)
    return _download(body, XLSX, f"{campaign.code}-scores{_suffix(language)}.xlsx")


@router.get("/{campaign_id}/exports/final-scores.json", responses={409: {}})
def final_scores(campaign_id: CampaignId, session: SessionDep, lang: LangQuery = None) -> JSONResponse:
    """The stable final-score JSON (schema ``cati.final-scores/1``) from the sealed results; after close."""
    campaign = get_campaign(session, campaign_id)
    require_closed(campaign, lang_of(lang))
    body = exports.final_scores(
        service.campaign_results(session, campaign_id), campaign, campaign_instrument(campaign)
    )
    return JSONResponse(
        body, headers={"Content-Disposition": f'inline; filename="{campaign.code}-final-scores.json"'}
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
