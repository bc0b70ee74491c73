"""A tiny message catalog for the server-rendered pages: zh-CN first, English second.

Pages call ``t("login.title")``; a missing key is a bug caught by the tests (both catalogs must
hold the same keys). The locale comes from ``?lang=`` (remembered in a cookie), then the cookie,
then the default zh-CN.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from starlette.requests import Request

DEFAULT_LOCALE: Final = "zh-CN"
LOCALES: Final = ("zh-CN", "en")
LANG_COOKIE: Final = "cati_lang"

CATALOG: Final[dict[str, dict[str, str]]] = {
    "zh-CN": {
        "app.title": "群众满意度电话调查系统",
        "lang.name": "中文",
        "lang.switch": "English",
        "login.title": "登录",
        "login.username": "用户名",
        "login.password": "密码",
        "login.submit": "登录",
        "login.failed": "用户名或密码错误。多次失败后账户将暂时锁定。",
        "login.expired": "登录页面已过期，请重新输入。",
        "home.title": "首页",
        "home.signed_in_as": "当前用户",
        "home.role": "角色",
        "logout.submit": "退出登录",
        "role.admin": "系统管理员",
        "role.supervisor": "督导",
        "role.interviewer": "访问员",
        "role.witness": "监督见证人",
        "role.assessor": "考核办",
    },
    "en": {
        "app.title": "Public-satisfaction telephone survey",
        "lang.name": "English",
        "lang.switch": "中文",
        "login.title": "Sign in",
        "login.username": "Username",
        "login.password": "Password",
        "login.submit": "Sign in",
        "login.failed": (
            "Wrong username or password. The account is locked for a while after repeated failures."
        ),
        "login.expired": "The sign-in page had expired; please try again.",
        "home.title": "Home",
        "home.signed_in_as": "Signed in as",
        "home.role": "Role",
        "logout.submit": "Sign out",
        "role.admin": "Administrator",
        "role.supervisor": "Supervisor",
        "role.interviewer": "Interviewer",
        "role.witness": "Witness",
        "role.assessor": "Assessment office",
    },
}


def normalise_locale(value: str | None) -> str | None:
    """A supported locale for ``value`` (``en-US`` -> ``en``, ``zh`` -> ``zh-CN``), else None."""
    if not value:
        return None
    v = value.strip().lower()
    if v.startswith("zh"):
        return "zh-CN"
    if v.startswith("en"):
        return "en"
    return None


def locale_for(request: Request) -> str:
    """The page locale: ``?lang=``, then the ``cati_lang`` cookie, then zh-CN."""
    return (
        normalise_locale(request.query_params.get("lang"))
        or normalise_locale(request.cookies.get(LANG_COOKIE))
        or DEFAULT_LOCALE
    )


def other_locale(locale: str) -> str:
    """The locale the language switch offers."""
    return "en" if locale == "zh-CN" else "zh-CN"


def translator(locale: str) -> Callable[[str], str]:
    """``t(key)`` for ``locale``; an unknown key raises KeyError (a bug, caught by the tests)."""
    catalog = CATALOG[locale]

    def t(key: str) -> str:
        return catalog[key]

    return t
