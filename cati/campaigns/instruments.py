"""Finding and checking a campaign's instrument file; the campaign keeps a frozen copy of its text.

A plain file name (``satisfaction.yaml``) is looked up in ``CATI_INSTRUMENTS_DIR`` (when set) and
then among the built-in instruments in ``questionnaire/instruments/``. A campaign file read by the
CLI may also name a path relative to itself. The API accepts plain names only, so no request can
make the server read an arbitrary file.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

import questionnaire
from cati.errors import Conflict, NotFound
from cati.models import Campaign
from questionnaire.loader import InstrumentError as QuestionnaireInstrumentError
from questionnaire.loader import parse_instrument
from questionnaire.model import Instrument

BUILTIN_DIR = Path(questionnaire.__file__).resolve().parent / "instruments"
MAX_INSTRUMENT_BYTES = 1_000_000


class InstrumentError(ValueError):
    """The instrument cannot be used; the message says why."""


@dataclass(frozen=True)
class InstrumentFile:
    """An instrument as a campaign stores it: name, text and SHA-256 of the text."""

    name: str
    text: str
    sha256: str


def _is_plain_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and not name.startswith(".")


def resolve_instrument(
    name: str, *, extra_dir: Path | None = None, base_dir: Path | None = None
) -> InstrumentFile:
    """Find ``name`` and check it; raise :class:`InstrumentError` naming the problem."""
    candidates: list[Path] = []
    if base_dir is not None:
        candidates.append(base_dir / name)
    elif not _is_plain_name(name):
        raise InstrumentError(f"instrument {name!r} must be the file name of an installed instrument")
    if _is_plain_name(name):
        if extra_dir is not None:
            candidates.append(extra_dir / name)
        candidates.append(BUILTIN_DIR / name)
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        builtin = sorted(p.name for p in BUILTIN_DIR.glob("*.y*ml")) if BUILTIN_DIR.is_dir() else []
        hint = f" (built-in: {', '.join(builtin)})" if builtin else " (no built-in instruments installed)"
        raise InstrumentError(f"instrument file {name!r} not found{hint}")
    if path.stat().st_size > MAX_INSTRUMENT_BYTES:
        raise InstrumentError(f"instrument {name!r} is larger than {MAX_INSTRUMENT_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InstrumentError(f"instrument {name!r} is not UTF-8 text") from None
    check_instrument_text(name, text)
    return InstrumentFile(name=name, text=text, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def check_instrument_text(name: str, text: str) -> None:
    """Check the instrument with the questionnaire loader; every problem it finds is named."""
    try:
        parse_instrument(text, source=name)
    except QuestionnaireInstrumentError as exc:
        shown = exc.problems[:5]
        more = f" (and {len(exc.problems) - 5} more)" if len(exc.problems) > 5 else ""
        raise InstrumentError("; ".join(shown) + more) from None


# --------------------------------------------------------------------------------------------------
# A campaign's frozen instrument, parsed once per text (the console, the results and the exports
# all read interviews against it)
# --------------------------------------------------------------------------------------------------

_instrument_cache: dict[str, Instrument] = {}
_instrument_lock = threading.Lock()


def campaign_instrument(campaign: Campaign) -> Instrument:
    """The campaign's frozen instrument, parsed (cached by its SHA-256)."""
    key = campaign.instrument_sha256 + ":" + str(len(campaign.instrument_text))
    with _instrument_lock:
        found = _instrument_cache.get(key)
    if found is not None:
        return found
    try:
        inst = parse_instrument(campaign.instrument_text, source=campaign.instrument_name)
    except QuestionnaireInstrumentError as exc:
        raise Conflict(f"campaign {campaign.code}: its instrument cannot be used: {exc}") from None
    with _instrument_lock:
        _instrument_cache[key] = inst
        _instrument_cache[_by_id(campaign.id, campaign.instrument_sha256)] = inst
    return inst


def _by_id(campaign_id: int, sha256: str) -> str:
    return f"campaign:{campaign_id}:{sha256}"


def instrument_of(session: Session, campaign_id: int, sha256: str) -> Instrument:
    """The instrument of a campaign whose ``instrument_sha256`` the caller has read already.

    The hot paths (every saved answer, every console state) read the digest with their own row
    and so skip loading the campaign and its instrument text once the instrument is cached.
    """
    with _instrument_lock:
        found = _instrument_cache.get(_by_id(campaign_id, sha256))
    if found is not None:
        return found
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return campaign_instrument(campaign)
