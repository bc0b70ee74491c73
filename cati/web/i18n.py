"""A tiny message catalog for the server-rendered pages: zh-CN first, English second.

Pages call ``t("login.title")``; a missing key is a bug caught by the tests (both catalogs must
hold the same keys). Each feature keeps its own strings in a module of ``cati.web.catalogs``
(``ZH`` and ``EN`` dicts); they are merged here, and a key defined twice is refused at import.
The locale comes from ``?lang=`` (remembered in a cookie), then the cookie,
then the default zh-CN.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from starlette.requests import Request

DEFAULT_LOCALE: Final = "zh-CN"
LOCALES: Final = ("zh-CN", "en")
LANG_COOKIE: Final = "cati_lang"

_BASE: Final[dict[str, dict[str, str]]] = {
    "zh-CN": {
        "app.title": "群众满意度电话调查系统",
        "lang.name": "中文",
        "lang.switch": "English",
        "login.title": "登录",
        "login.username": "用户名",
        "login.password": "密码",
        "login.submit": "登录",
        "login.failed": "用户名或密码错误。多次失败后账户将暂时锁定。",
        "login.locked": "登录失败次数过多，已暂时锁定，请稍后再试。",
        "login.expired": "登录页面已过期，请重新输入。",
        "home.title": "首页",
        "home.signed_in_as": "当前用户",
        "home.role": "角色",
        "home.links": "可以使用",
        "home.console": "访问员工作台：就绪、接听电话、完成访问",
        "home.results": "调查结果：各区县成绩、排名、图表和下载（成绩在调查结束时公布）",
        "home.export": "下载问卷数据（CSV，Excel 可直接打开，不含电话号码）",
        "home.dialer": "拨号器状态（JSON）",
        "home.campaigns": "调查项目（JSON）",
        "home.api_docs": "接口说明（OpenAPI）",
        "home.witness_note": "监督见证：可查看调查项目设置（不含任何个人信息）。",
        "logout.submit": "退出登录",
        "role.admin": "系统管理员",
        "role.supervisor": "督导",
        "role.interviewer": "访问员",
        "role.witness": "监督见证人",
        "role.assessor": "考核办",
        "console.title": "访问员工作台",
        "console.campaign": "项目",
        "console.status.offline": "离线",
        "console.status.ready": "就绪 · 等待来电",
        "console.status.paused": "暂停",
        "console.status.reserved": "已分配号码",
        "console.status.on_call": "通话中",
        "console.status.wrap_up": "整理",
        "console.btn.ready": "就绪",
        "console.btn.pause": "暂停",
        "console.btn.offline": "下班",
        "console.btn.preview_next": "下一个号码",
        "console.btn.dial": "拨打",
        "console.btn.hangup": "挂断",
        "console.btn.code": "结束并编码",
        "console.btn.next": "接听下一通",
        "console.btn.back": "上一题",
        "console.btn.refuse": "拒答",
        "console.btn.dont_know": "不知道",
        "console.btn.save": "保存",
        "console.btn.confirm": "确认",
        "console.btn.cancel": "取消",
        "console.pause.title": "暂停原因",
        "console.pause.break": "休息",
        "console.pause.meal": "用餐",
        "console.pause.training": "培训",
        "console.pause.technical": "技术问题",
        "console.pause.other": "其他",
        "console.shift.calls": "通话",
        "console.shift.completes": "完成",
        "console.shift.talk": "通话时长",
        "console.case.title": "当前样本",
        "console.case.district": "区县",
        "console.case.stratum": "访问对象",
        "console.case.phone": "电话",
        "console.case.attempts": "拨打次数",
        "console.case.appointment": "预约",
        "console.call.preview": "预览（尚未拨号）",
        "console.call.dialling": "拨号中…",
        "console.call.connected": "已接通",
        "console.call.ended": "通话已结束",
        "console.waiting": "等待来电…",
        "console.idle": "按 F2 就绪，开始接听电话。",
        "console.no_case": "现在没有可拨打的号码，请稍后再试。",
        "console.intro": "开场白",
        "console.closing": "结束语",
        "console.screened_out": "甄别结束",
        "console.broken_off": "访问已中断",
        "console.instructions": "访问员提示",
        "console.progress": "进度",
        "console.answers": "已记录的回答",
        "console.number_hint": "输入数字后按回车",
        "console.text_hint": "输入后按回车保存；Alt+D 表示没有意见",
        "console.keys.question": "1–4 选择 · R 拒答 · D 不知道 · ← 退格/B 上一题 · Esc 结束并编码",
        "console.keys.idle": "F2 就绪 · F3 暂停 · F4 下班",
        "console.keys.preview": "N 下一个号码 · Enter 拨打",
        "console.disp.title": "本次通话结果",
        "console.disp.appointment_at": "预约时间",
        "console.disp.note": "备注",
        "console.disp.same": "由我本人回访",
        "console.disp.suggested": "建议",
        "console.disp.rule": "评分规则",
        "console.wrap.title": "整理时间",
        "console.wrap.seconds": "秒后自动接听下一通（Enter 立即开始，F3 暂停）",
        "console.error.stale": "访问已在其他窗口更新，已重新载入。",
        "console.error.network": "与服务器的连接中断，正在自动重连…",
        "console.answer.refused": "拒答",
        "console.answer.dont_know": "不知道",
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
        "login.locked": "Too many failed sign-ins: locked for a while. Please try again later.",
        "login.expired": "The sign-in page had expired; please try again.",
        "home.title": "Home",
        "home.signed_in_as": "Signed in as",
        "home.role": "Role",
        "home.links": "What you can use",
        "home.console": "Interviewer console: get ready, take calls, complete interviews",
        "home.results": "Results: district scores, ranks, charts and downloads (scores published at close)",
        "home.export": "Download the responses (CSV, opens in Excel, no phone numbers)",
        "home.dialer": "Dialer status (JSON)",
        "home.campaigns": "Campaigns (JSON)",
        "home.api_docs": "API reference (OpenAPI)",
        "home.witness_note": "Witnesses may read the campaign settings (no personal data).",
        "logout.submit": "Sign out",
        "role.admin": "Administrator",
        "role.supervisor": "Supervisor",
        "role.interviewer": "Interviewer",
        "role.witness": "Witness",
        "role.assessor": "Assessment office",
        "console.title": "Interviewer console",
        "console.campaign": "Campaign",
        "console.status.offline": "Offline",
        "console.status.ready": "Ready · waiting for a call",
        "console.status.paused": "Paused",
        "console.status.reserved": "Number assigned",
        "console.status.on_call": "On a call",
        "console.status.wrap_up": "Wrap-up",
        "console.btn.ready": "Ready",
        "console.btn.pause": "Pause",
        "console.btn.offline": "End shift",
        "console.btn.preview_next": "Next number",
        "console.btn.dial": "Dial",
        "console.btn.hangup": "Hang up",
        "console.btn.code": "End and code",
        "console.btn.next": "Take next call",
        "console.btn.back": "Back",
        "console.btn.refuse": "Refused",
        "console.btn.dont_know": "Don't know",
        "console.btn.save": "Save",
        "console.btn.confirm": "Confirm",
        "console.btn.cancel": "Cancel",
        "console.pause.title": "Reason for the pause",
        "console.pause.break": "Break",
        "console.pause.meal": "Meal",
        "console.pause.training": "Training",
        "console.pause.technical": "Technical problem",
        "console.pause.other": "Other",
        "console.shift.calls": "Calls",
        "console.shift.completes": "Completes",
        "console.shift.talk": "Time on calls",
        "console.case.title": "Case in hand",
        "console.case.district": "District",
        "console.case.stratum": "Stratum",
        "console.case.phone": "Phone",
        "console.case.attempts": "Attempts",
        "console.case.appointment": "Appointment",
        "console.call.preview": "Preview (not dialled yet)",
        "console.call.dialling": "Dialling…",
        "console.call.connected": "Connected",
        "console.call.ended": "Call ended",
        "console.waiting": "Waiting for a call…",
        "console.idle": "Press F2 (Ready) to take calls.",
        "console.no_case": "No number is due now; try again shortly.",
        "console.intro": "Introduction",
        "console.closing": "Closing",
        "console.screened_out": "Screened out",
        "console.broken_off": "Interview broken off",
        "console.instructions": "Interviewer note",
        "console.progress": "Progress",
        "console.answers": "Answers recorded",
        "console.number_hint": "Type the number, then Enter",
        "console.text_hint": "Type, then Enter to save; Alt+D: nothing to say",
        "console.keys.question": "1–4 choose · R refused · D don't know · Backspace/B back · Esc code",
        "console.keys.idle": "F2 ready · F3 pause · F4 end shift",
        "console.keys.preview": "N next number · Enter dial",
        "console.disp.title": "Outcome of this call",
        "console.disp.appointment_at": "Appointment time",
        "console.disp.note": "Note",
        "console.disp.same": "Keep it for me",
        "console.disp.suggested": "suggested",
        "console.disp.rule": "Scoring rule",
        "console.wrap.title": "Wrap-up",
        "console.wrap.seconds": "s until the next call (Enter: now, F3: pause)",
        "console.error.stale": "The interview changed in another window; reloaded.",
        "console.error.network": "Connection to the server lost; reconnecting…",
        "console.answer.refused": "Refused",
        "console.answer.dont_know": "Don't know",
    },
}


def _merged() -> dict[str, dict[str, str]]:
    """The base strings plus every feature module's, each key defined once."""
    import importlib
    import pkgutil

    from cati.web import catalogs

    merged = {loc: dict(strings) for loc, strings in _BASE.items()}
    for info in sorted(pkgutil.iter_modules(catalogs.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{catalogs.__name__}.{info.name}")
        for loc, strings in (("zh-CN", module.ZH), ("en", module.EN)):
            clash = sorted(set(strings) & set(merged[loc]))
            if clash:
                raise RuntimeError(f"catalog {info.name}: keys defined twice: {clash[:5]}")
            merged[loc].update(strings)
    return merged


CATALOG: Final[dict[str, dict[str, str]]] = _merged()


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


def chosen_locale(request: Request) -> str | None:
    """The locale the reader chose: ``?lang=``, then the ``cati_lang`` cookie; None if neither."""
    return normalise_locale(request.query_params.get("lang")) or normalise_locale(
        request.cookies.get(LANG_COOKIE)
    )


def locale_for(request: Request) -> str:
    """The page locale: ``?lang=``, then the ``cati_lang`` cookie, then zh-CN."""
    return chosen_locale(request) or DEFAULT_LOCALE


def other_locale(locale: str) -> str:
    """The locale the language switch offers."""
    return "en" if locale == "zh-CN" else "zh-CN"


def translator(locale: str) -> Callable[[str], str]:
    """``t(key)`` for ``locale``; an unknown key raises KeyError (a bug, caught by the tests)."""
    catalog = CATALOG[locale]

    def t(key: str) -> str:
        return catalog[key]

    return t
