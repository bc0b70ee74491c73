"""The instrument: items, options, screening rules, routing and the scoring weights, as pydantic models.

Why pydantic: an instrument is written by hand in YAML by survey staff, and a mistake in it (a
duplicated option code, a weight that does not add up, a rule pointing at a missing item) must stop
the survey before fieldwork, with a message that names the place. The models check the shape; the
cross-references are checked in ``loader.check_instrument`` so every problem carries its path.
"""

from __future__ import annotations

import hashlib
import json
import math
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Code = Annotated[int, Field(ge=0, le=99)]

LANGUAGES = ("zh-CN", "en")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Text(_Model):
    """A text in Chinese (read aloud first) and English."""

    zh_CN: str = Field(alias="zh-CN", min_length=1)
    en: str = Field(min_length=1)

    def get(self, lang: str = "zh-CN") -> str:
        """The text in ``zh-CN`` (default) or ``en``."""
        return self.en if lang == "en" else self.zh_CN


class Option(_Model):
    """One answer: the key the interviewer presses (code), its name in exports (value), points."""

    code: Code
    value: Identifier
    label: Text
    points: float | None = None


class Condition(_Model):
    """When an item is asked: in these strata and/or when an earlier item got one of these codes."""

    strata: list[Identifier] | None = None
    item: Identifier | None = None
    codes: list[Code] | None = None


class ScreenOut(_Model):
    """An answer that ends the interview as not eligible (AAPOR 4.x).

    ``codes``: choice answers that screen out; ``outside``: for a number, the eligible range
    [low, high] (answers outside it screen out); ``strata``: the rule applies only there.
    """

    codes: list[Code] | None = None
    outside: tuple[float, float] | None = None
    strata: list[Identifier] | None = None
    disposition: Annotated[str, StringConstraints(pattern=r"^4\.\d+$")] = "4.70"


class ItemKind(StrEnum):
    RATING = "rating"
    SINGLE_CHOICE = "single_choice"
    NUMBER = "number"
    TEXT = "text"


class Item(_Model):
    """One question as the interviewer reads it."""

    id: Identifier
    kind: ItemKind
    text: Text
    instructions: Text | None = None
    options: list[Option] = Field(default_factory=list)
    screening: bool = False
    ask_if: Condition | None = None
    screen_out: list[ScreenOut] = Field(default_factory=list)
    min: float | None = None
    max: float | None = None
    integer: bool = True
    max_length: int = Field(default=2000, ge=1, le=100_000)

    @field_validator("options")
    @classmethod
    def _unique_options(cls, options: list[Option]) -> list[Option]:
        codes: set[int] = set()
        values: set[str] = set()
        for option in options:
            if option.code in codes:
                raise PydanticCustomError("duplicate", "duplicate code {code}", {"code": option.code})
            if option.value in values:
                raise PydanticCustomError("duplicate", "duplicate value {value}", {"value": option.value})
            codes.add(option.code)
            values.add(option.value)
        return options

    @property
    def allows_refusal(self) -> bool:
        """Refuse / don't know is offered on every item except screening (eligibility must be known)."""
        return not self.screening

    def option(self, code: int) -> Option | None:
        """The option with this code, if any."""
        return next((o for o in self.options if o.code == code), None)


class Stratum(_Model):
    """A sampling stratum (staff by day, residents in the evening)."""

    id: Identifier
    label: Text


class DimensionSpec(_Model):
    """A group of scored items and its points (shared equally by its items)."""

    id: Identifier
    label: Text
    weight: float = Field(gt=0, le=100)
    items: list[Identifier] = Field(min_length=1)


class OverallSpec(_Model):
    """The overall item and its points."""

    item: Identifier
    weight: float = Field(gt=0, le=100)


class ScoringSpec(_Model):
    """Points out of 100: the overall item plus the dimensions."""

    overall: OverallSpec
    dimensions: list[DimensionSpec]

    @property
    def items(self) -> list[str]:
        """Scored items: overall first, then each dimension's items in order."""
        return [self.overall.item, *(i for d in self.dimensions for i in d.items)]


class Completeness(_Model):
    """Shares of the scored items answered with an option that make an interview complete / partial."""

    complete: float = Field(default=0.8, gt=0, le=1)
    partial: float = Field(default=0.5, gt=0, le=1)


class ScoringPolicy(_Model):
    """Which questionnaires count for the scores: the one rule, by name and version.

    ``rated``: how many scored items must be answered with an option that carries points (``all``:
    every one; the scoring maths has no imputation, so nothing else is accepted yet).
    ``dont_know``: a don't-know or refused scored item is not rated, so it makes the questionnaire
    not valid (``invalid`` is the only choice). ``partial``: the fewest rated items for AAPOR 1.2
    (fewer is a break-off, 2.12). ``dispositions``: the codes that make a questionnaire (AAPOR 1.1
    complete = valid, 1.2 partial = not valid).
    """

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$", max_length=40)] = "all-rated"
    version: int = Field(default=1, ge=1)
    dispositions: tuple[Literal["1.1", "1.2"], ...] = ("1.1", "1.2")
    rated: Literal["all"] = "all"
    dont_know: Literal["invalid"] = "invalid"
    partial: int = Field(default=6, ge=1)

    @property
    def label(self) -> str:
        """``name/version``, as written in the ``rule`` column of responses.csv."""
        return f"{self.name}/{self.version}"


class Instrument(_Model):
    """A whole questionnaire: introduction, screening, items, closing, scoring weights."""

    id: Identifier
    version: int = Field(ge=1)
    title: Text
    strata: list[Stratum] = Field(min_length=1)
    introduction: Text
    closing: Text
    screened_out: Text
    items: list[Item] = Field(min_length=1)
    scoring: ScoringSpec
    completeness: Completeness = Field(default_factory=Completeness)
    scoring_policy: ScoringPolicy | None = None

    @cached_property
    def policy(self) -> ScoringPolicy:
        """The scoring policy: as written, or for an older instrument with only ``completeness``
        the default ``all-rated/1`` with its partial threshold taken from ``completeness.partial``
        (``completeness.complete`` is ignored: a questionnaire is complete only when all are rated)."""
        if self.scoring_policy is not None:
            return self.scoring_policy
        n = len(self.scoring.items)
        return ScoringPolicy(partial=max(1, min(n, math.ceil(self.completeness.partial * n - 1e-9))))

    def item(self, item_id: str) -> Item:
        """The item with this id (KeyError if none)."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    def index(self, item_id: str) -> int:
        """Position of an item in the list (KeyError if none)."""
        for i, item in enumerate(self.items):
            if item.id == item_id:
                return i
        raise KeyError(item_id)

    @property
    def stratum_ids(self) -> list[str]:
        return [s.id for s in self.strata]

    @property
    def scored_items(self) -> list[str]:
        return self.scoring.items

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the instrument's canonical JSON: which exact wording was used.

        Cached: the instrument is frozen, and every saved interview state carries this digest.
        """
        data = self.model_dump(mode="json", by_alias=True)
        if data.get("scoring_policy") is None:
            data.pop("scoring_policy", None)  # older instruments keep the digest they were stored with
        canonical = json.dumps(data, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
