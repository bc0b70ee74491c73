"""Coded messages: an error names a stable ``code`` and its parameters; the words come from a catalog.

Why codes: the pure core (``questionnaire/``) and the services must not know who reads their errors
or in which language. They raise with a code (``answer.out_of_range``) and parameters; the text is
looked up here in the request's locale (zh-CN first, English on request) from the catalog modules of
``cati.web.catalogs`` (keys ``console_errors.<code>``). API answers keep the code for programs.

A parameter may itself be localised: ``localized("甄别题 2", "screening question 2")`` is rendered in
the reader's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

DEFAULT_LOCALE: Final = "zh-CN"
KEY_PREFIX: Final = "console_errors."


def localized(zh: str, en: str) -> dict[str, str]:
    """A parameter value in both languages."""
    return {"zh-CN": zh, "en": en}


def _is_localized(value: object) -> bool:
    return isinstance(value, Mapping) and "zh-CN" in value and "en" in value


def resolve_params(params: Mapping[str, Any] | None, locale: str) -> dict[str, Any]:
    """The parameters with every localised value in ``locale``."""
    out: dict[str, Any] = {}
    for key, value in (params or {}).items():
        out[key] = value[locale] if _is_localized(value) else value
    return out


def has_message(code: str) -> bool:
    """Whether the catalog holds a text for ``code``."""
    from cati.web.i18n import CATALOG

    return KEY_PREFIX + code in CATALOG[DEFAULT_LOCALE]


def render(code: str, params: Mapping[str, Any] | None = None, locale: str = DEFAULT_LOCALE) -> str:
    """The message for ``code`` in ``locale`` (KeyError for an unknown code: a bug the tests catch)."""
    from cati.web.i18n import CATALOG

    template = CATALOG[locale if locale in CATALOG else DEFAULT_LOCALE][KEY_PREFIX + code]
    return template.format(**resolve_params(params, locale))


def bilingual(code: str, params: Mapping[str, Any] | None = None) -> str:
    """``中文 / English``: the form shown where no reader's locale is known (CLI, logs)."""
    return f"{render(code, params, 'zh-CN')} / {render(code, params, 'en')}"


def request_locale(request: Any) -> str:
    """The reader's locale for an API answer: ``?lang=``, the ``cati_lang`` cookie, then the first
    language of ``Accept-Language``, else zh-CN (the console sends its page's language there)."""
    from cati.web.i18n import chosen_locale, normalise_locale

    found = chosen_locale(request)
    if found:
        return found
    header = request.headers.get("accept-language") or ""
    first = header.split(",")[0].split(";")[0].strip()
    return normalise_locale(first) or DEFAULT_LOCALE


def error_body(code: str, params: Mapping[str, Any] | None, locale: str) -> dict[str, Any]:
    """The JSON answer of a coded error: the text in ``locale``, the code and its parameters."""
    return {
        "detail": render(code, params, locale),
        "code": code,
        "params": resolve_params(params, locale),
    }


def word(key: str, fallback: str | None = None) -> dict[str, str] | str:
    """A catalog word in both languages (``console_errors.word.<key>``, or a full ``console.`` key),
    for use as a parameter; ``fallback`` (else the key) when the catalog has none."""
    from cati.web.i18n import CATALOG

    full = key if key.startswith("console.") else f"{KEY_PREFIX}word.{key}"
    if full not in CATALOG[DEFAULT_LOCALE]:
        return fallback if fallback is not None else key
    return localized(CATALOG["zh-CN"][full], CATALOG["en"][full])


def seat_word(status: str) -> dict[str, str] | str:
    """A seat status as the console names it (``就绪 · 等待来电``)."""
    return word(f"console.status.{status}", status)
