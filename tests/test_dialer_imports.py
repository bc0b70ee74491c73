"""The dialer package stands alone: it never imports the service, the questionnaire or the scoring."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DIALER = Path(__file__).resolve().parent.parent / "dialer"
FORBIDDEN = ("cati", "scoring", "questionnaire")


@pytest.mark.parametrize("path", sorted(DIALER.rglob("*.py")), ids=lambda p: str(p.relative_to(DIALER)))
def test_no_forbidden_import(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
