"""Finding and checking a campaign's instrument file; the campaign keeps a frozen copy of its text.

A plain file name (``satisfaction.yaml``) is looked up in ``CATI_INSTRUMENTS_DIR`` (when set) and
then among the built-in instruments in ``questionnaire/instruments/``. A campaign file read by the
CLI may also name a path relative to itself. The API accepts plain names only, so no request can
make the server read an arbitrary file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import questionnaire
from questionnaire.loader import InstrumentError as QuestionnaireInstrumentError
from questionnaire.loader import parse_instrument

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
