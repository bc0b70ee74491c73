"""Reading a campaign from YAML or JSON-shaped data, with errors that name the field, the line and
the reason.

The YAML loader is PyYAML's safe loader with one change: only plain decimal numbers become
integers. YAML 1.1 would read ``13:30`` as the number 810 (base 60) and ``0533`` as an octal
number; here both stay strings, so times and prefixes with leading zeros survive unquoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cati.campaigns.schemas import CampaignSpec, Problem, cross_check
from cati.errors import Invalid
from questionnaire.loader import StrictLoader

MAX_FILE_BYTES = 2_000_000


class _Loader(StrictLoader):
    """The instrument loader's strict YAML (duplicate keys refused), with plain decimal integers only."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:int"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*))$"), list("-+0123456789")
)


def format_loc(loc: Iterable[str | int]) -> str:
    """``("districts", 2, "prefixes", 0)`` -> ``districts[2].prefixes[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


class CampaignSpecError(Invalid):
    """A campaign that cannot be accepted; ``problems`` lists (location, message, line)."""

    def __init__(
        self, problems: list[tuple[tuple[str | int, ...], str, int | None]], source: str = ""
    ) -> None:
        self.problems = problems
        self.source = source
        detail = [{"loc": list(loc), "msg": msg, "type": "value_error"} for loc, msg, _line in problems]
        super().__init__(detail)

    def lines(self) -> list[str]:
        """One human line per problem: ``file:line: field: reason``."""
        out = []
        for loc, msg, line in sorted(self.problems, key=lambda p: p[2] or 0):
            where = f"{self.source}:{line}" if self.source and line else (self.source or "")
            parts = [p for p in (where, format_loc(loc) if loc else "") if p]
            out.append(": ".join([*parts, msg]))
        return out

    def __str__(self) -> str:
        return "; ".join(self.lines())


def _pydantic_problems(exc: ValidationError) -> list[Problem]:
    out: list[Problem] = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        msg = str(err.get("msg", "invalid"))
        msg = msg.removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown field"
        elif err.get("type") == "missing":
            msg = "required field is missing"
        # Validators of an annotated list item report the item index; keep pydantic's path as is.
        out.append((tuple(p for p in loc if isinstance(p, str | int)), msg))
    return out


def _line_map(node: yaml.Node | None) -> dict[tuple[str | int, ...], int]:
    """Path of keys and indexes -> 1-based line, for every node of a composed YAML document."""
    lines: dict[tuple[str | int, ...], int] = {}

    def walk(n: yaml.Node, path: tuple[str | int, ...]) -> None:
        lines[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                k = key.value if isinstance(key, yaml.ScalarNode) else str(key.start_mark.line)
                lines[(*path, k)] = key.start_mark.line + 1
                walk(value, (*path, k))
                lines[(*path, k)] = key.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                walk(item, (*path, i))

    if node is not None:
        walk(node, ())
    return lines


def _line_for(loc: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]) -> int | None:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def parse_spec(
    data: Any, *, lines: dict[tuple[str | int, ...], int] | None = None, source: str = ""
) -> CampaignSpec:
    """Validate ``data`` (a mapping) as a campaign; raise :class:`CampaignSpecError` naming every problem."""
    if not isinstance(data, dict):
        raise CampaignSpecError(
            [((), "a campaign must be a mapping of fields", 1 if lines is not None else None)], source
        )
    try:
        spec = CampaignSpec.model_validate(data)
        problems = cross_check(spec)
    except ValidationError as exc:
        problems = _pydantic_problems(exc)
    if problems:
        lm = lines or {}
        raise CampaignSpecError(
            [(loc, msg, _line_for(loc, lm) if lines is not None else None) for loc, msg in problems], source
        )
    return spec


def parse_yaml(text: str, *, source: str = "") -> CampaignSpec:
    """Parse a campaign from YAML text; syntax errors name their line."""
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = exc.problem or exc.context or "not valid YAML"
        if exc.context and exc.context_mark is not None and exc.problem_mark is not None:
            reason += f" ({exc.context} started on line {exc.context_mark.line + 1})"
        raise CampaignSpecError([((), f"bad YAML: {reason}", line)], source) from None
    except yaml.YAMLError as exc:
        raise CampaignSpecError([((), f"bad YAML: {exc}", None)], source) from None
    return parse_spec(data, lines=_line_map(node), source=source)


def load_campaign_file(path: Path) -> CampaignSpec:
    """Read and validate a campaign file; problems name the file, the line and the field."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise CampaignSpecError([((), f"file is larger than {MAX_FILE_BYTES} bytes", None)], str(path))
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CampaignSpecError([((), "file not found", None)], str(path)) from None
    except UnicodeDecodeError:
        raise CampaignSpecError([((), "file is not UTF-8 text", None)], str(path)) from None
    except OSError as exc:
        raise CampaignSpecError([((), f"cannot read the file: {exc.strerror}", None)], str(path)) from None
    return parse_yaml(text, source=str(path))
