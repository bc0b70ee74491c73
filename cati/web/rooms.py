"""The rooms' pages (``/supervise``, ``/witness``): one way to list the campaigns, pick the one shown
and hand the page its strings (zh-CN first, ``?lang=en``)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cati.models import Campaign, User
from cati.web.i18n import CATALOG, locale_for
from cati.web.templates import render


def render_room(
    request: Request,
    session: Session,
    user: User,
    campaign: int | None,
    template: str,
    message_prefixes: tuple[str, ...],
) -> Response:
    """Render a room: ``campaign`` when it exists, else the latest in fieldwork, else the latest; the
    page's script gets the catalog entries whose keys start with ``message_prefixes``."""
    locale = locale_for(request)
    english = locale == "en"
    rows = session.execute(
        select(
            Campaign.id, Campaign.code, Campaign.name_en if english else Campaign.name_zh, Campaign.status
        ).order_by(Campaign.id)
    ).all()
    campaigns: list[dict[str, Any]] = [
        {"id": int(r[0]), "code": str(r[1]), "name": str(r[2] or r[1]), "status": str(r[3])} for r in rows
    ]
    chosen: int | None = campaign
    if chosen is None or chosen not in {c["id"] for c in campaigns}:
        live_ones = [c for c in campaigns if c["status"] == "fieldwork"]
        chosen = (live_ones or campaigns)[-1]["id"] if campaigns else None
    messages = {k: v for k, v in CATALOG[locale].items() if k.startswith(message_prefixes)}
    return render(
        request,
        template,
        user=user,
        campaigns=campaigns,
        chosen=chosen,
        messages=messages,
        csrf_token=request.state.principal.csrf_token,
        locale_js="en" if english else "zh-CN",
    )
