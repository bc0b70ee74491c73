"""Server-rendered pages with Jinja2: autoescaped, no external assets, strict security headers.

Every page gets ``t`` (the translator), ``locale``, ``other_locale``, ``lang_url`` (the same page
in the other language) and ``csrf_token`` (the session's token when signed in). ``base.html`` puts
the token in ``<meta name="csrf-token">`` so page scripts send it as the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from cati.web.i18n import LANG_COOKIE, locale_for, other_locale, translator

_env = Environment(
    loader=PackageLoader("cati.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

#: No external assets at all; inline styles only (scripts come from our own origin).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def render(
    request: Request, template: str, *, status_code: int = 200, csrf_token: str | None = None, **context: Any
) -> HTMLResponse:
    """Render ``template`` in the request's locale; remember an explicit ``?lang=`` in a cookie."""
    locale = locale_for(request)
    other = other_locale(locale)
    html = _env.get_template(template).render(
        request=request,
        t=translator(locale),
        locale=locale,
        other_locale=other,
        lang_url=f"{request.url.path}?{urlencode({**request.query_params, 'lang': other})}",
        csrf_token=csrf_token,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    if "lang" in request.query_params:
        response.set_cookie(LANG_COOKIE, locale, max_age=365 * 86400, samesite="lax", httponly=True)
    return response
