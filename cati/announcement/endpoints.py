"""The announcement's doors: the sheet as JSON, page and PDF; the sign-off; the public pre-announcement."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from cati.announcement import render as draw
from cati.announcement import service
from cati.api.deps import CommitOnReturn, SessionDep, SettingsDep
from cati.auth import service as auth
from cati.auth import throttle
from cati.auth.access import client_address, public, require_roles
from cati.campaigns.instruments import campaign_instrument
from cati.campaigns.service import get_campaign
from cati.models import Role, User, utcnow
from cati.web.i18n import locale_for
from cati.web.templates import render

#: Who reads the sheet (interviewers never do).
SHEET_ROLES = (Role.witness, Role.assessor, Role.supervisor, Role.admin)

router = APIRouter(prefix="/api/v1/campaigns", tags=["announcement"], route_class=CommitOnReturn)
page_router = APIRouter(include_in_schema=False, route_class=CommitOnReturn)

CampaignId = Annotated[int, Path(ge=1, le=2**31 - 1, description="campaign id")]


class SignoffRequest(BaseModel):
    """A witness's signature: the party signed for, the password re-entered, the digest read out."""

    model_config = ConfigDict(extra="forbid")

    party: str = Field(
        min_length=1, max_length=32, description="assessment_office, discipline, notary, district"
    )
    password: str = Field(min_length=1, max_length=1000)
    digest: str = Field(min_length=1, max_length=128, description="the results SHA-256 being signed")


@router.get("/{campaign_id}/announcement", dependencies=[require_roles(*SHEET_ROLES)])
def announcement_json(campaign_id: CampaignId, session: SessionDep) -> dict[str, Any]:
    """The results sheet (``cati.announcement/1``) built from the results sealed at close; 409 before."""
    return service.announcement(session, campaign_id)


@router.get("/{campaign_id}/signoffs", dependencies=[require_roles(*SHEET_ROLES)])
def list_signoffs(campaign_id: CampaignId, session: SessionDep) -> list[dict[str, Any]]:
    """The witnesses' signatures given so far."""
    return service.signoffs(session, campaign_id)


@router.post(
    "/{campaign_id}/signoffs",
    status_code=201,
    responses={401: {"description": "wrong password (counted by the login back-off)"}},
)
def sign(
    campaign_id: CampaignId,
    body: SignoffRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: Annotated[User, require_roles(Role.witness)],
) -> Any:
    """Sign the results: the password is checked as at login (failures count into its back-off);
    the digest must be the one stored at close; one signature per account and campaign; audited."""
    en = locale_for(request) == "en"
    outcome = auth.login(
        session, user.username, body.password, settings, channel="signoff", source=client_address(request)
    )
    if outcome.user is None:
        # Returned, not raised: the failure count and its audit entry must commit.
        if outcome.locked_until is not None:
            wait = throttle.retry_after_seconds(outcome.locked_until, utcnow())
            return JSONResponse(
                {"detail": "Too many failed attempts; try later" if en else "密码错误次数过多，请稍后再试"},
                status_code=429,
                headers={"Retry-After": str(wait)},
            )
        return JSONResponse(
            {"detail": "Wrong password; nothing was signed" if en else "密码错误，未签字"}, status_code=401
        )
    row = service.sign(session, campaign_id, user, party=body.party, given_digest=body.digest)
    return {
        "party": row.party,
        "name": row.signer_name,
        "signed_at": row.signed_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "results_sha256": row.results_sha256,
    }


def _sheet_context(request: Request, session: SessionDep, campaign_id: int) -> dict[str, Any]:
    sheet = service.announcement(session, campaign_id)
    campaign = get_campaign(session, campaign_id)
    zone = ZoneInfo(campaign.timezone)
    locale = locale_for(request)
    dimensions = [(d.id, d.label.get(locale)) for d in campaign_instrument(campaign).scoring.dimensions]

    def local(iso: str) -> str:
        return dt.datetime.fromisoformat(iso).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")

    return {
        "a": sheet,
        "qr": draw.qr_data_uri(sheet["results"]["sha256"]),
        "dimension_labels": dimensions,
        "local": local,
    }


@router.get(
    "/{campaign_id}/announcement.pdf",
    dependencies=[require_roles(*SHEET_ROLES)],
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "A4, CJK fonts embedded"}},
)
def announcement_pdf(campaign_id: CampaignId, request: Request, session: SessionDep) -> Response:
    """The results sheet as PDF (the page's HTML laid out by WeasyPrint), with the signatures given."""
    context = _sheet_context(request, session, campaign_id)
    response = render(request, "announcement.html", pdf=True, can_sign=False, **context)
    pdf = draw.pdf_bytes(bytes(response.body).decode("utf-8"), base_url=str(request.base_url))
    code = context["a"]["campaign"]["code"]
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{code}-announcement.pdf"'},
    )


@page_router.get("/campaigns/{campaign_id}/announcement", dependencies=[require_roles(*SHEET_ROLES)])
def announcement_page(campaign_id: CampaignId, request: Request, session: SessionDep) -> Response:
    """The results sheet as read out (print-friendly), with the sign-off form for witnesses."""
    principal = request.state.principal
    user: User = principal.user
    context = _sheet_context(request, session, campaign_id)
    signed = service.has_signed(session, campaign_id, user.id)
    return render(
        request,
        "announcement.html",
        csrf_token=principal.csrf_token,
        pdf=False,
        can_sign=user.role == Role.witness.value,
        signed_already=signed,
        **context,
    )


@page_router.get("/public/campaigns/{code}", dependencies=[public()])
def public_page(
    code: Annotated[str, Path(min_length=1, max_length=64)], request: Request, session: SessionDep
) -> Response:
    """The pre-announcement of a published (or later) campaign: plan and commitment, no scores."""
    view = service.public_view(session, code)
    campaign = view["campaign"]
    instrument = campaign_instrument(campaign)
    locale = locale_for(request)
    items = [instrument.item(item_id).text.get(locale) for item_id in instrument.scoring.items]
    return render(
        request,
        "announcement_public.html",
        c=campaign,
        title=instrument.title.get(locale),
        items=items,
        dates=view["dates"],
        closed=campaign.status == "closed",
    )
