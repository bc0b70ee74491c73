"""The witness parties that sign the results sheet: one place, with their zh-CN and English labels."""

from __future__ import annotations

from typing import Final

#: key -> (zh-CN, en), in the order the signature blocks are printed.
PARTIES: Final[dict[str, tuple[str, str]]] = {
    "assessment_office": ("市考核办", "City assessment office"),
    "discipline": ("市纪委监察局", "City discipline inspection and supervision office"),
    "notary": ("公证处", "Notary office"),
    "district": ("区县代表", "District representative"),
}


def label(party: str, locale: str) -> str:
    zh, en = PARTIES[party]
    return en if locale == "en" else zh
