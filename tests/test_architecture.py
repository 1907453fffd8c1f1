"""Layers point one way (api -> forecaster -> models); checked on every import statement.

ARCHITECTURE.md: ``forecaster/`` must not import FastAPI, ``models/`` must not touch the database
or the network, nothing in the service imports ``scripts/`` or ``tests/``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "forecaster": {"api", "fastapi", "starlette", "uvicorn", "scripts", "tests"},
    "models": {"api", "forecaster", "fastapi", "sqlalchemy", "httpx", "scripts", "tests"},
    "api": {"scripts", "tests"},
    "migrations": {"api", "scripts", "tests"},
}
# the CLI is the one place allowed to start the API server
ALLOWED = {
    ("forecaster/cli/service_commands.py", "api"),
    ("forecaster/cli/service_commands.py", "uvicorn"),
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_its_layer(package: str) -> None:
    violations = []
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        for root in imported_roots(path) & FORBIDDEN[package]:
            if (relative, root) not in ALLOWED:
                violations.append(f"{relative} imports {root}")
    assert violations == []
