"""The assessment office's results page ``/campaigns/{id}/results`` (assessor, supervisor, admin).

Server-rendered skeleton with the table data embedded as JSON (one query path: the results JSON
through ``exports.score_table``, so the page shows exactly what scores.csv holds); the script in
``cati/web/static/results/results.js`` sorts the table and draws the ECharts charts (CSP: no
inline scripts). Before close the scores are sealed: the page says so and shows counts and
provisional rates only, with no download links.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from cati.api.deps import CommitOnReturn, SessionDep
from cati.auth.access import require_roles
from cati.campaigns.instruments import campaign_instrument
from cati.campaigns.service import get_campaign
from cati.models import CampaignStatus
from cati.results import exports, service
from cati.results.endpoints import RESULT_ROLES
from cati.results.sealing import Lang
from cati.results.visibility import scores_open
from cati.web.i18n import CATALOG, locale_for
from cati.web.templates import render

page_router = APIRouter(
    include_in_schema=False, route_class=CommitOnReturn, dependencies=[require_roles(*RESULT_ROLES)]
)

#: The downloads offered once scores are open: (file, needs close).
DOWNLOADS: tuple[tuple[str, bool], ...] = (
    ("scores.xlsx", False),
    ("scores.csv", False),
    ("responses.xlsx", False),
    ("responses.csv", False),
    ("responses.sav", False),
    ("final-scores.json", True),
)


def page_data(session: SessionDep, campaign_id: int, lang: Lang) -> dict[str, Any]:
    """What the page's script draws: the scores table (or, sealed, counts and provisional rates)."""
    campaign = get_campaign(session, campaign_id)
    instrument = campaign_instrument(campaign)
    results = service.campaign_results(session, campaign_id)
    sealed = not scores_open(campaign)
    if sealed:
        results = {**results, "scores": {"districts": []}}  # never sent: the scores stay on the server
    table = exports.score_table(results, campaign, instrument, lang)
    return {
        "sealed": sealed,
        "rates": table.rates_kind,
        "columns": dict(zip(table.keys, table.headers, strict=True)),
        "dimensions": [key for key, _ in table.dimensions],
        "rows": table.rows,
    }


@page_router.get("/campaigns/{campaign_id}/results")
def results_page(
    request: Request, session: SessionDep, campaign_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> Response:
    """The results page (zh-CN first; ``?lang=en`` for English)."""
    locale = locale_for(request)
    lang: Lang = "en" if locale == "en" else "zh-CN"
    campaign = get_campaign(session, campaign_id)
    data = page_data(session, campaign_id, lang)
    closed = campaign.status == CampaignStatus.closed.value
    base = f"/api/v1/campaigns/{campaign.id}/exports"
    downloads = [
        {"file": name, "href": f"{base}/{name}", "href_en": f"{base}/{name}?lang=en"}
        for name, needs_close in DOWNLOADS
        if not data["sealed"] and (closed or not needs_close)
    ]
    messages = {k: v for k, v in CATALOG[locale].items() if k.startswith("results.")}
    return render(
        request,
        "results.html",
        campaign=campaign,
        name=campaign.name_en if lang == "en" and campaign.name_en else campaign.name_zh,
        data=data,
        downloads=downloads,
        closed=closed,
        opened_early=campaign.scores_opened_at is not None and not closed,
        messages=messages,
        csrf_token=request.state.principal.csrf_token,
    )
